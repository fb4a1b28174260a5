"""The ``jobdeck serve`` process tunes its own interpreter; the embedded library never touches ``gc``."""

from __future__ import annotations

import asyncio
import gc
import re
from pathlib import Path

import pytest

import jobdeck
from jobdeck import server
from jobdeck.config import Settings
from jobdeck.engine import bursts
from jobdeck.testing import wait_until

_PROCESS_WIDE_GC = re.compile(r"gc\.(disable|enable|freeze|set_threshold)")


def test_only_the_server_module_changes_the_collector() -> None:
    package = Path(jobdeck.__file__).parent
    touching = sorted(
        str(path.relative_to(package)) for path in package.rglob("*.py") if _PROCESS_WIDE_GC.search(path.read_text())
    )
    assert touching == ["server.py"]


def test_collector_pauses_nest_and_restore_only_what_they_changed() -> None:
    pauses = server._CollectionPause()
    assert gc.isenabled()
    first = pauses.pause()
    second = pauses.pause()
    assert not gc.isenabled()
    first()
    first()  # a second resume of the same pause changes nothing
    assert not gc.isenabled()
    second()
    assert gc.isenabled()
    gc.disable()
    try:
        pauses.pause()()
        assert not gc.isenabled()  # disabled before the pause: left disabled
    finally:
        gc.enable()


async def test_the_serve_listener_pauses_collection_for_the_length_of_a_burst() -> None:
    remove = server.pause_collection_in_bursts()
    try:
        over = bursts.burst_started(bursts.BURST_SIZE)
        assert not gc.isenabled()
        over()
        assert gc.isenabled()
    finally:
        remove()
        gc.enable()
    bursts.burst_started(bursts.BURST_SIZE)()  # removed: nothing listens any more
    assert gc.isenabled()


async def test_a_burst_that_never_ends_gives_the_collector_back_after_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server, "BURST_PAUSE_MAX", 0.05)
    pauses = server._CollectionPause()
    over = pauses.during_burst(bursts.BURST_SIZE)
    try:
        assert not gc.isenabled()
        await wait_until(lambda: asyncio.sleep(0.01, gc.isenabled()), bool, timeout=3, what="the collector back")
    finally:
        over()
        gc.enable()


@pytest.mark.parametrize(
    ("value", "enabled"), [(None, True), ("1", True), ("on", True), ("0", False), ("off", False), ("False", False)]
)
def test_serve_tunes_its_interpreter_unless_switched_off(
    value: str | None, enabled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is not None:
        monkeypatch.setenv("JOBDECK_SERVE_GC_TUNING", value)
    assert Settings().serve_gc_tuning is enabled
