"""The engine on a thread of its own (``Settings.engine_thread``): starts on time while the host loop is busy,
events across the threads, and the settings that choose it."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from runtime_helpers import py_job

from jobdeck.config import Settings
from jobdeck.errors import ConfigError
from jobdeck.events import ChangeEvent
from jobdeck.models import ExecutionQuery, ExecutionStatus, JobSpec, Principal, Role
from jobdeck.runtime import Runtime
from jobdeck.server import server_settings
from jobdeck.testing import wait_for_execution, wait_until

ALICE = Principal(username="alice", role=Role.ADMIN, via="password")


def _settings(tmp_path: Path, **values: object) -> Settings:
    defaults: dict[str, object] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'thread.db'}",
        "admin_password": "engine-thread-admin",
        "timezone": "UTC",
        "engine_thread": True,
    }
    return Settings(**{**defaults, **values})


async def _start(tmp_path: Path, *specs: JobSpec) -> Runtime:
    return await Runtime.start(_settings(tmp_path), specs)


async def test_a_busy_host_loop_does_not_hold_up_a_scheduled_start(tmp_path: Path) -> None:
    starts: list[tuple[float, int]] = []

    async def tick() -> None:
        starts.append((time.time(), threading.get_ident()))

    fire_at = datetime.now(UTC) + timedelta(seconds=1)
    runtime = await _start(tmp_path, py_job("tick", tick, schedule=fire_at.isoformat()))
    try:
        # The host loop is blocked — as a saturated API keeps it — from before the fire until well after it.
        time.sleep(2.5)  # noqa: ASYNC251 — blocking this loop is the point
        blocked_until = time.time()
        page = await wait_until(
            lambda: runtime.store.list_executions(ExecutionQuery(job_id="tick")),
            lambda page: bool(page.items) and page.items[0].status is ExecutionStatus.SUCCESS,
            timeout=10,
            what="the fire to be recorded",
        )
    finally:
        await runtime.stop()
    [(started, thread)] = starts
    assert thread != threading.get_ident()  # the job ran on the engine's loop, not the host's
    assert started < blocked_until - 1.0  # it started while the host loop was still blocked
    [execution] = page.items
    assert execution.delay is not None and execution.delay < 1.0


async def test_runs_started_on_the_engine_thread_are_announced_on_the_host_loop(tmp_path: Path) -> None:
    async def quick() -> str:
        return "done"

    runtime = await _start(tmp_path, py_job("quick", quick))
    seen: list[ChangeEvent] = []
    try:
        with runtime.events.subscribe() as subscription:
            execution = await runtime.service.trigger_job("quick", actor=ALICE)

            async def until_finished() -> None:
                async for event in subscription:
                    seen.append(event)
                    if event.action == "finished" and execution.id in event.execution_ids:
                        return

            await asyncio.wait_for(until_finished(), timeout=10)
        record = await wait_for_execution(
            runtime.store, execution.id, lambda e: e.status is not ExecutionStatus.RUNNING
        )
    finally:
        await runtime.stop()
    assert record.status is ExecutionStatus.SUCCESS
    assert record.return_value == "done"
    assert [e.action for e in seen if execution.id in e.execution_ids][-1] == "finished"


async def test_pause_and_resume_cross_to_the_engine_thread(tmp_path: Path) -> None:
    async def idle() -> None:
        return None

    runtime = await _start(tmp_path, py_job("every", idle, schedule="every 1h"))
    try:
        await runtime.service.pause_job("every", actor=ALICE)
        paused = runtime.engine.job("every")
        await runtime.service.resume_job("every", actor=ALICE)
        resumed = runtime.engine.job("every")
    finally:
        await runtime.stop()
    assert paused.paused and paused.next_run_time is None
    assert not resumed.paused and resumed.next_run_time is not None


async def test_an_in_memory_database_cannot_have_an_engine_thread(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="engine_thread") as raised:
        await Runtime.start(_settings(tmp_path, database_url="sqlite+aiosqlite://"), [])
    assert "in-memory" in raised.value.message


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, True),  # unset: a server process gives the engine its thread
        ({"engine_thread": False}, False),  # set: kept
        ({"database_url": "sqlite+aiosqlite:///:memory:"}, None),  # unset, but a second store would see nothing
    ],
)
def test_a_server_process_runs_the_engine_on_its_own_thread_unless_told_otherwise(
    tmp_path: Path, values: dict[str, object], expected: bool | None
) -> None:
    settings = Settings(**{"database_url": f"sqlite+aiosqlite:///{tmp_path / 's.db'}", **values})
    assert server_settings(settings).engine_thread is expected
