"""Wall-clock jumps of ±1 h under a running engine. The engine reads the time through its injected clock and its
timer (APScheduler) reads the wall clock, so the jump is made where both look: the process's wall clock, moved by
time-machine, while the monotonic clock the event loop sleeps on runs on untouched — as it does when NTP steps
the system clock. A jump forward leaves an hour of fire times behind: each must end as a record (`missed`, or run
per the catch-up policy), none silently dropped. A jump back must fire no scheduled time twice (the claim key)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import time_machine

from jobdeck.clock import SystemClock
from jobdeck.engine import Engine, EngineOptions
from jobdeck.models import JobSpec
from jobdeck.schedules import parse_schedule
from jobdeck.store.sql import SqlStore
from jobdeck.testing import wait_until
from reliability.conftest import Row, grid, ledger, missed_span, read_rows

START = datetime(2026, 3, 6, 9, 59, 50, tzinfo=UTC)
HOUR = timedelta(hours=1)


async def tick() -> str:
    return "tick"


@asynccontextmanager
async def ticking(url: str) -> AsyncIterator[Engine]:
    """A store and an engine on the (travelling) system clock, with one job firing every second."""
    store = SqlStore(url)
    await store.open()
    options = EngineOptions(heartbeat_interval=0.2, progress_flush_interval=0.05, cancel_grace=0.3, shutdown_grace=1)
    engine = Engine(store, clock=SystemClock(), options=options)
    engine.register(JobSpec(id="tick", func="tests:tick", function=tick, schedule=parse_schedule("every 1s")))
    await engine.start()
    try:
        yield engine
    finally:
        await engine.shutdown()
        await store.close()


async def _rows_until(url: str, predicate: Callable[[list[Row]], bool], *, timeout: float, what: str) -> list[Row]:  # noqa: ASYNC109 - a polling deadline
    async def probe() -> list[Row]:
        return read_rows(url)

    return await wait_until(probe, predicate, timeout=timeout, interval=0.1, what=what)


def _whole(rows: list[Row]) -> tuple[list[datetime], list[Row]]:
    ticks = [row for row in rows if row.job_id == "tick"]
    first = min(row.scheduled_time for row in ticks)
    last = max(missed_span(row)[1] for row in ticks)
    return grid(first, last, every=1), ticks


async def test_a_forward_jump_of_an_hour_leaves_a_record_for_every_fire_time_it_skipped(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'clock.db'}"
    with time_machine.travel(START, tick=True) as traveller:
        async with ticking(url):
            await _rows_until(url, lambda rows: len(rows) >= 3, timeout=10, what="three ticks")
            traveller.shift(HOUR)
            jumped = datetime.now(UTC)
            await _rows_until(
                url,
                lambda rows: sum(r.scheduled_time > jumped + timedelta(seconds=1) for r in rows) >= 2,
                timeout=10,
                what="ticks after the jump",
            )
    expected, ticks = _whole(read_rows(url))
    book = ledger(ticks, expected, job_id="tick")
    assert book.expected > 3600
    assert book.exact, f"{len(book.lost)} of {book.expected} fire times have no record; doubled {book.doubled}"


async def test_a_backward_jump_of_an_hour_fires_no_scheduled_time_twice(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'clock.db'}"
    with time_machine.travel(START, tick=True) as traveller:
        async with ticking(url):
            before = await _rows_until(url, lambda rows: len(rows) >= 3, timeout=10, what="three ticks")
            traveller.shift(-HOUR)
            # The hour behind is replayed by the wall clock, but its fire times were all handed over already.
            replayed_until = datetime.now(UTC) + timedelta(seconds=4)
            await wait_until(_now, lambda now: now >= replayed_until, timeout=10, what="four seconds after the jump")
    rows = read_rows(url)
    last_before = max(row.scheduled_time for row in before)
    expected, ticks = _whole(rows)
    book = ledger(ticks, expected, job_id="tick")
    assert book.exact, f"lost {book.lost}, doubled {book.doubled}"
    assert max(row.scheduled_time for row in ticks) <= last_before + timedelta(seconds=1)  # at most one in flight
    assert len({row.scheduled_time for row in ticks}) == len(ticks)


async def test_firing_resumes_at_once_when_a_backward_jump_is_set_right_again(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'clock.db'}"
    with time_machine.travel(START, tick=True) as traveller:
        async with ticking(url):
            await _rows_until(url, lambda rows: len(rows) >= 3, timeout=10, what="three ticks")
            traveller.shift(-HOUR)
            back = datetime.now(UTC) + timedelta(seconds=2)
            await wait_until(_now, lambda now: now >= back, timeout=10, what="two seconds back in time")
            traveller.shift(HOUR)
            righted = datetime.now(UTC)
            await _rows_until(
                url,
                lambda rows: sum(r.scheduled_time > righted + timedelta(seconds=1) for r in rows) >= 2,
                timeout=10,
                what="ticks after the clock was set right",
            )
    expected, ticks = _whole(read_rows(url))
    book = ledger(ticks, expected, job_id="tick")
    assert book.exact, f"lost {book.lost[:5]} ({len(book.lost)}), doubled {book.doubled}"


async def _now() -> datetime:
    return datetime.now(UTC)
