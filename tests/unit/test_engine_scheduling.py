"""Scheduled fires through the engine's timer, on a real SqlStore over SQLite: runs, skips, misses, the job views."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobdeck.clock import Clock, SystemClock
from jobdeck.engine import Engine, EngineOptions, JobContext, bursts, firing
from jobdeck.models import Execution, ExecutionQuery, ExecutionStatus, JobSpec, JobState, TriggerKind
from jobdeck.schedules import next_fire_time, parse_schedule
from jobdeck.store.sql import SqlStore
from jobdeck.testing import FrozenClock, wait_for_execution, wait_until

FAST = EngineOptions(
    heartbeat_interval=0.2,
    progress_flush_interval=0.05,
    cancel_grace=0.2,
    shutdown_grace=0.5,
    zombie_sweep_interval=60.0,
)
YEARLY = "0 0 1 1 *"


def job(job_id: str, function: Callable[..., Any], *, schedule: str, **fields: Any) -> JobSpec:
    return JobSpec(id=job_id, func=f"tests:{job_id}", function=function, schedule=parse_schedule(schedule), **fields)


@asynccontextmanager
async def started(
    store: SqlStore, *specs: JobSpec, clock: Clock | None = None, **options: Any
) -> AsyncIterator[Engine]:
    engine = Engine(store, clock=clock or SystemClock(), options=dataclasses.replace(FAST, **options))
    for spec in specs:
        engine.register(spec)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.shutdown()


async def executions_of(store: SqlStore, job_id: str) -> list[Execution]:
    return list((await store.list_executions(ExecutionQuery(job_id=job_id, limit=200))).items)


def freeze_the_event_loop(seconds: float) -> None:
    """Block the calling thread — called from a coroutine, the whole event loop — so that timers fire late."""
    time.sleep(seconds)


async def noop() -> None:
    return None


# -- fires -------------------------------------------------------------------------------------------------------


async def test_a_scheduled_job_gives_one_record_per_fire_running_then_success(store: SqlStore) -> None:
    async def tick() -> str:
        await asyncio.sleep(0.3)
        return "tick"

    async with started(store) as engine:
        engine.register(job("tick", tick, schedule="every 1s"))  # after start: goes straight to the timer
        running = await wait_until(
            lambda: executions_of(store, "tick"),
            lambda runs: any(e.status is ExecutionStatus.RUNNING for e in runs),
            timeout=3,
            what="a running record",
        )
        first = next(e for e in running if e.status is ExecutionStatus.RUNNING)
        assert first.trigger is TriggerKind.SCHEDULE
        await wait_for_execution(store, first.id, lambda e: e.status is ExecutionStatus.SUCCESS, timeout=3)
        runs = await wait_until(
            lambda: executions_of(store, "tick"),
            lambda runs: sum(e.status is ExecutionStatus.SUCCESS for e in runs) >= 2,
            timeout=4,
            what="two successful fires",
        )
    fire_times = [e.scheduled_time for e in runs]
    assert len(fire_times) == len(set(fire_times)), "one record per fire"
    for execution in runs:
        assert execution.scheduled_time.microsecond == 0  # `every 1s` fires on whole seconds
        assert execution.trigger is TriggerKind.SCHEDULE
        assert execution.delay is not None
        assert 0 <= execution.delay < 1
        if execution.status is ExecutionStatus.SUCCESS:
            assert execution.finished_at is not None
            assert execution.execution_time == (execution.finished_at - execution.started_at).total_seconds()
            assert execution.return_value == "tick"


async def test_a_burst_of_fires_at_one_instant_gives_one_record_each_closed_at_its_end(store: SqlStore) -> None:
    # More fires than a launch chunk and than the burst size: chunked claims, closes held until the burst is
    # started, the host's burst listener told of it and of its end; the engine itself leaves the collector alone.
    count = firing._LAUNCH_CHUNK + bursts.BURST_SIZE
    ended: dict[str, datetime] = {}
    heard: list[tuple[str, int]] = []

    def listener(size: int) -> Callable[[], None]:
        heard.append(("start", size))
        assert gc.isenabled()
        return lambda: heard.append(("over", size))

    async def stamp(ctx: JobContext) -> None:
        ended[ctx.execution_id] = datetime.now(UTC)

    instant = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
    specs = [job(f"b{i}", stamp, schedule=instant.isoformat()) for i in range(count)]
    remove = bursts.add_burst_listener(listener)
    try:
        async with started(store, *specs):
            page = await wait_until(
                lambda: store.list_executions(ExecutionQuery(status=ExecutionStatus.SUCCESS, limit=1)),
                lambda page: page.total >= count,
                timeout=30,
                what=f"{count} success records",
            )
            await wait_until(lambda: asyncio.sleep(0, heard), lambda h: len(h) == 2, timeout=10, what="burst over")
    finally:
        remove()
    assert heard == [("start", count), ("over", count)]
    assert page.total == count
    records = (await store.list_executions(ExecutionQuery(limit=count + 1))).items
    assert len(records) == count
    assert {e.job_id for e in records} == {spec.id for spec in specs}
    for record in records:
        assert record.scheduled_time == instant
        assert record.finished_at is not None
        # Closed after the burst, but with the run's own end (the job's last step comes just before it).
        assert ended[record.id] <= record.finished_at < ended[record.id] + timedelta(seconds=1)


async def test_a_fire_while_max_instances_run_is_recorded_skipped(store: SqlStore) -> None:
    release = asyncio.Event()

    async def hog() -> None:
        await release.wait()

    async with started(store, job("hog", hog, schedule="every 1s")):
        runs = await wait_until(
            lambda: executions_of(store, "hog"),
            lambda runs: any(e.status is ExecutionStatus.SKIPPED for e in runs),
            timeout=4,
            what="a skipped fire",
        )
        release.set()
    skipped = next(e for e in runs if e.status is ExecutionStatus.SKIPPED)
    running = [e for e in runs if e.status is not ExecutionStatus.SKIPPED]
    assert skipped.error_message == "max_instances=1 reached; 1 run going"
    assert skipped.finished_at is not None
    assert skipped.execution_time is None
    assert skipped.scheduled_time > running[0].scheduled_time


async def test_a_fire_later_than_its_misfire_grace_is_recorded_missed(store: SqlStore) -> None:
    at = (datetime.now(UTC) + timedelta(seconds=0.5)).replace(microsecond=0) + timedelta(seconds=1)
    spec = job("late", noop, schedule=at.isoformat(), misfire_grace=0.2)
    async with started(store, spec) as engine:
        assert engine.job("late").next_run_time == at
        # The timer is due at `at`; with the loop frozen well past at + grace, it can only fire late.
        freeze_the_event_loop((at - datetime.now(UTC)).total_seconds() + 1.0)
        runs = await wait_until(lambda: executions_of(store, "late"), bool, timeout=3, what="a missed record")
        view = engine.job("late")
    assert [(e.status, e.scheduled_time) for e in runs] == [(ExecutionStatus.MISSED, at)]
    assert re.fullmatch(r"missed by \d+ s \(misfire grace 0\.2 s\)", runs[0].error_message or "")
    assert view.next_run_time is None  # the once-schedule is spent, but the job is still listed


# -- pause, resume, reschedule -----------------------------------------------------------------------------------


async def test_a_paused_job_does_not_fire_until_resumed(store: SqlStore) -> None:
    engine = Engine(store, clock=SystemClock(), options=FAST)
    engine.register(job("tick", noop, schedule="every 1s"), JobState(job_id="tick", paused=True))
    await engine.start()
    try:
        assert engine.job("tick").next_run_time is None
        await asyncio.sleep(1.2)  # more than one fire period: a fire would have landed by now
        assert await executions_of(store, "tick") == []
        await engine.resume("tick")
        assert not engine.job("tick").paused
        runs = await wait_until(lambda: executions_of(store, "tick"), bool, timeout=3, what="a fire after resume")
    finally:
        await engine.shutdown()
    assert runs[0].trigger is TriggerKind.SCHEDULE


async def test_the_job_view_follows_pause_resume_and_reschedule(store: SqlStore) -> None:
    spec = job("yearly", noop, schedule=YEARLY)
    async with started(store, spec) as engine:
        expected = next_fire_time(spec.schedule, after=datetime.now(UTC))
        view = engine.job("yearly")
        assert (view.paused, view.schedule_overridden, view.next_run_time) == (False, False, expected)

        await engine.pause("yearly")
        await engine.pause("yearly")  # idempotent
        assert (engine.job("yearly").paused, engine.job("yearly").next_run_time) == (True, None)

        await engine.resume("yearly")
        assert engine.job("yearly").next_run_time == expected

        monthly = parse_schedule("0 0 1 * *")
        await engine.reschedule("yearly", monthly)
        view = engine.job("yearly")
        assert (view.schedule, view.schedule_overridden) == (monthly, True)
        assert view.next_run_time == next_fire_time(monthly, after=datetime.now(UTC))

        await engine.reschedule("yearly", None)
        view = engine.job("yearly")
        assert (view.schedule, view.schedule_overridden, view.next_run_time) == (spec.schedule, False, expected)


async def test_register_applies_the_stored_pause_and_schedule_override(store: SqlStore) -> None:
    engine = Engine(store, clock=SystemClock(), options=FAST)
    spec = job("report", noop, schedule="18:00", timezone="Asia/Shanghai")
    engine.register(spec, JobState(job_id="report", paused=True, schedule_override="09:30"))
    view = engine.job("report")
    assert (view.paused, view.schedule_overridden, view.next_run_time) == (True, True, None)
    assert (view.schedule.expression, view.schedule.timezone) == ("09:30", "Asia/Shanghai")

    engine.register(spec, JobState(job_id="report", paused=None))  # None: the spec's initial state applies
    assert (engine.job("report").paused, engine.job("report").schedule) == (False, spec.schedule)


async def test_jobs_before_start_show_the_next_fire_from_the_schedule(store: SqlStore) -> None:
    clock = FrozenClock(datetime(2026, 3, 6, 9, 30, tzinfo=UTC))
    engine = Engine(store, clock=clock, options=FAST)
    engine.register(job("hourly", noop, schedule="every 1h"))
    engine.register(job("off", noop, schedule="every 1h", enabled=False))
    assert [v.spec.id for v in engine.jobs()] == ["hourly"]
    assert engine.job("hourly").next_run_time == datetime(2026, 3, 6, 10, 0, tzinfo=UTC)


async def test_a_once_schedule_in_the_past_stays_listed_and_can_be_triggered(store: SqlStore) -> None:
    async with started(store, job("once", noop, schedule="2020-01-01T00:00:00+00:00")) as engine:
        assert [(v.spec.id, v.next_run_time) for v in engine.jobs()] == [("once", None)]
        run = await engine.trigger("once", force=False, kwargs=None, actor="alice")
        done = await wait_for_execution(store, run.id, lambda e: e.status.is_terminal, timeout=3)
    assert done.status is ExecutionStatus.SUCCESS


async def test_jitter_delays_the_start_but_keeps_the_fire_time(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("jobdeck.engine.firing.random.uniform", lambda low, high: 0.4)
    async with started(store, job("jittery", noop, schedule="every 1s", jitter=0.5)):
        runs = await wait_until(
            lambda: executions_of(store, "jittery"),
            lambda runs: any(e.status is ExecutionStatus.SUCCESS for e in runs),
            timeout=4,
            what="a jittered run",
        )
    run = next(e for e in runs if e.status is ExecutionStatus.SUCCESS)
    assert run.scheduled_time.microsecond == 0  # the claim key stays the fire time on every replica
    assert run.delay is not None
    assert run.delay >= 0.4
