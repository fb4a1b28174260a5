"""One run's life through the engine, on a real SqlStore over SQLite: trigger, outcome, progress, cancel."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobdeck.clock import Clock, SystemClock
from jobdeck.engine import Engine, EngineOptions, JobCancelled, JobContext, update_job_progress
from jobdeck.engine import closing as closing_module
from jobdeck.errors import InvalidState, JobAlreadyRunning, JobNotFound
from jobdeck.models import ExecutionStatus, JobSpec, JobState, TriggerKind
from jobdeck.schedules import parse_schedule
from jobdeck.store.sql import SqlStore
from jobdeck.testing import wait_for_execution, wait_until

NEVER = "2099-01-01T00:00:00+00:00"  # a schedule that will not fire during a test
FAST = EngineOptions(
    heartbeat_interval=0.2,
    progress_flush_interval=0.05,
    cancel_grace=0.2,
    shutdown_grace=0.5,
    zombie_sweep_interval=60.0,
)


def job(job_id: str, function: Callable[..., Any], *, schedule: str = NEVER, **fields: Any) -> JobSpec:
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


def is_done(execution: Any) -> bool:
    return bool(execution.status.is_terminal)


# -- trigger -----------------------------------------------------------------------------------------------------


async def test_trigger_returns_the_running_record_and_success_closes_it(store: SqlStore) -> None:
    release = asyncio.Event()

    async def quick(batch: int) -> dict[str, int]:
        await release.wait()
        await asyncio.sleep(0.05)
        return {"rows": batch}

    async with started(store, job("quick", quick, kwargs={"batch": 3}, display_name="Quick one")) as engine:
        run = await engine.trigger("quick", force=False, kwargs=None, actor="alice")
        assert (run.status, run.trigger, run.triggered_by, run.force) == (
            ExecutionStatus.RUNNING,
            TriggerKind.MANUAL,
            "alice",
            False,
        )
        assert (run.job_name, dict(run.kwargs), run.pid) == ("Quick one", {"batch": 3}, engine.options.pid)
        stored = await store.get_execution(run.id)
        assert (stored.status, stored.host, stored.heartbeat_at) == (ExecutionStatus.RUNNING, run.host, run.started_at)
        release.set()
        done = await wait_for_execution(store, run.id, is_done, timeout=3)
    assert done.status is ExecutionStatus.SUCCESS
    assert done.return_value == '{"rows": 3}'
    assert done.finished_at is not None
    assert done.execution_time == (done.finished_at - done.started_at).total_seconds()
    assert done.execution_time >= 0.05


async def test_trigger_leaves_a_paused_job_paused(store: SqlStore) -> None:
    async def nap() -> str:
        return "ran"

    engine = Engine(store, clock=SystemClock(), options=FAST)
    engine.register(job("nap", nap, schedule="every 1h"), JobState(job_id="nap", paused=True))
    await engine.start()
    try:
        run = await engine.trigger("nap", force=False, kwargs=None, actor="alice")
        done = await wait_for_execution(store, run.id, is_done, timeout=3)
        view = engine.job("nap")
    finally:
        await engine.shutdown()
    assert done.status is ExecutionStatus.SUCCESS
    assert view.paused
    assert view.next_run_time is None


async def test_force_reaches_the_force_parameter_and_is_not_kept_in_kwargs(store: SqlStore) -> None:
    def report(batch: int, force: bool = False) -> dict[str, Any]:
        return {"batch": batch, "force": force}

    async with started(store, job("report", report, kwargs={"batch": 1})) as engine:
        run = await engine.trigger("report", force=True, kwargs={"batch": 5}, actor="alice")
        done = await wait_for_execution(store, run.id, is_done, timeout=3)
        spec_kwargs = dict(engine.job("report").spec.kwargs)
    assert done.return_value == '{"batch": 5, "force": true}'
    assert done.force is True
    assert dict(done.kwargs) == {"batch": 5}
    assert spec_kwargs == {"batch": 1}


async def test_trigger_refuses_beyond_max_instances_unless_forced(store: SqlStore) -> None:
    release = asyncio.Event()

    async def hold() -> None:
        await release.wait()

    async with started(store, job("hold", hold)) as engine:
        first = await engine.trigger("hold", force=False, kwargs=None, actor="alice")
        with pytest.raises(JobAlreadyRunning) as caught:
            await engine.trigger("hold", force=False, kwargs=None, actor="alice")
        assert (caught.value.running, caught.value.max_instances) == (1, 1)
        second = await engine.trigger("hold", force=True, kwargs=None, actor="alice")
        assert sorted(engine.local_running()) == sorted([first.id, second.id])
        release.set()
        for run in (first, second):
            assert (await wait_for_execution(store, run.id, is_done, timeout=3)).status is ExecutionStatus.SUCCESS


async def test_unknown_jobs_and_a_stopped_engine_are_refused(store: SqlStore) -> None:
    engine = Engine(store, clock=SystemClock(), options=FAST)
    engine.register(job("idle", lambda: None))
    with pytest.raises(InvalidState):
        await engine.trigger("idle", force=False, kwargs=None, actor="alice")
    with pytest.raises(JobNotFound):
        await engine.trigger("nope", force=False, kwargs=None, actor="alice")
    with pytest.raises(JobNotFound):
        await engine.pause("nope")
    assert engine.state == "stopped"
    assert not engine.running


# -- outcomes ----------------------------------------------------------------------------------------------------


async def test_an_exception_fails_the_run_with_its_message_and_traceback(store: SqlStore) -> None:
    def parse_rows() -> None:
        raise ValueError("row 7 has no date")

    async with started(store, job("parse", parse_rows)) as engine:
        run = await engine.trigger("parse", force=False, kwargs=None, actor="alice")
        done = await wait_for_execution(store, run.id, is_done, timeout=3)
    assert done.status is ExecutionStatus.FAILED
    assert done.error_message == "ValueError: row 7 has no date"
    assert done.traceback is not None
    assert "parse_rows" in done.traceback
    assert done.traceback.rstrip().endswith("ValueError: row 7 has no date")


async def test_a_non_json_return_value_is_stored_as_its_repr(store: SqlStore) -> None:
    async def when() -> datetime:
        return datetime(2026, 3, 6, 9, 30, tzinfo=UTC)

    async with started(store, job("when", when)) as engine:
        run = await engine.trigger("when", force=False, kwargs=None, actor="alice")
        done = await wait_for_execution(store, run.id, is_done, timeout=3)
    assert done.return_value == repr(datetime(2026, 3, 6, 9, 30, tzinfo=UTC))


async def test_sys_exit_in_a_job_fails_the_run_not_the_process(store: SqlStore) -> None:
    def quit_early() -> None:
        raise SystemExit(3)

    async with started(store, job("quit", quit_early)) as engine:
        run = await engine.trigger("quit", force=False, kwargs=None, actor="alice")
        done = await wait_for_execution(store, run.id, is_done, timeout=3)
    assert done.status is ExecutionStatus.FAILED
    assert done.error_message == "JobExit: the job called sys.exit(3)"


# -- progress and logs -------------------------------------------------------------------------------------------


async def test_progress_is_live_at_once_and_in_the_store_after_a_flush(store: SqlStore) -> None:
    reported = asyncio.Event()
    release = asyncio.Event()

    async def walker(ctx: JobContext) -> None:
        await ctx.progress(40, "halfway there", current_item="b.csv", total_items=5, processed_items=2)
        ctx.log("picked b.csv")
        reported.set()
        await release.wait()

    async with started(store, job("walker", walker), progress_flush_interval=0.3) as engine:
        run = await engine.trigger("walker", force=False, kwargs=None, actor="alice")
        await asyncio.wait_for(reported.wait(), timeout=3)
        live = engine.live_progress(run.id)
        assert live is not None
        assert (live.progress, live.message, live.current_item, live.total_items, live.processed_items) == (
            40.0,
            "halfway there",
            "b.csv",
            5,
            2,
        )
        flushed = await wait_for_execution(store, run.id, lambda e: e.progress == 40.0, timeout=3)
        assert (flushed.status, flushed.progress_message, flushed.current_item) == (
            ExecutionStatus.RUNNING,
            "halfway there",
            "b.csv",
        )
        lines = await wait_until(lambda: store.read_log(run.id), bool, timeout=3, what="log written")
        assert [(line.seq, line.message) for line in lines] == [(1, "picked b.csv")]
        release.set()
        await wait_for_execution(store, run.id, is_done, timeout=3)
        assert engine.live_progress(run.id) is None


async def test_final_progress_is_stored_before_the_record_closes(store: SqlStore) -> None:
    async def count(ctx: JobContext) -> None:
        for i in range(1, 11):
            ctx.progress(processed_items=i, total_items=10)

    # A flush interval far longer than the run: only the runner's final flush can store the last value.
    async with started(store, job("count", count), progress_flush_interval=30) as engine:
        run = await engine.trigger("count", force=False, kwargs=None, actor="alice")
        done = await wait_for_execution(store, run.id, is_done, timeout=3)
    assert (done.status, done.progress, done.processed_items) == (ExecutionStatus.SUCCESS, 100.0, 10)


async def test_a_thread_job_reports_progress_with_update_job_progress(store: SqlStore) -> None:
    release = threading.Event()

    def crunch() -> str:
        update_job_progress(25, "a quarter done")
        release.wait(timeout=5)
        return "crunched"

    async with started(store, job("crunch", crunch)) as engine:
        run = await engine.trigger("crunch", force=False, kwargs=None, actor="alice")
        try:
            seen = await wait_for_execution(store, run.id, lambda e: e.progress == 25.0, timeout=3)
            assert (seen.status, seen.progress_message) == (ExecutionStatus.RUNNING, "a quarter done")
        finally:
            release.set()
        done = await wait_for_execution(store, run.id, is_done, timeout=3)
    assert (done.status, done.return_value) == (ExecutionStatus.SUCCESS, "crunched")


async def test_heartbeats_advance_while_a_sync_job_blocks_its_thread(store: SqlStore) -> None:
    def block() -> None:
        time.sleep(1.0)

    async with started(store, job("block", block), heartbeat_interval=0.2) as engine:
        run = await engine.trigger("block", force=False, kwargs=None, actor="alice")
        beating = await wait_for_execution(
            store,
            run.id,
            lambda e: e.heartbeat_at is not None and (e.heartbeat_at - e.started_at).total_seconds() >= 0.3,
            timeout=3,
        )
        assert beating.status is ExecutionStatus.RUNNING
        done = await wait_for_execution(store, run.id, is_done, timeout=3)
    assert done.status is ExecutionStatus.SUCCESS


# -- cancel ------------------------------------------------------------------------------------------------------


async def test_cancel_stops_a_job_at_its_next_progress_call(store: SqlStore) -> None:
    async def walker(ctx: JobContext) -> None:
        for i in range(1000):
            await ctx.progress(i / 10)
            await asyncio.sleep(0.01)

    async with started(store, job("walker", walker), cancel_grace=30) as engine:
        run = await engine.trigger("walker", force=False, kwargs=None, actor="alice")
        await wait_for_execution(store, run.id, lambda e: (e.progress or 0) > 0, timeout=3)
        await store.request_cancel(run.id, SystemClock().now())
        await engine.cancel(run.id)
        done = await wait_for_execution(store, run.id, is_done, timeout=3)
    assert done.status is ExecutionStatus.CANCELLED
    assert done.error_message == "cancelled on request"
    assert done.cancel_requested


async def test_an_async_job_ignoring_the_flag_is_cancelled_after_the_grace(store: SqlStore) -> None:
    async def stubborn() -> None:
        await asyncio.sleep(60)

    async with started(store, job("stubborn", stubborn), cancel_grace=0.2) as engine:
        run = await engine.trigger("stubborn", force=False, kwargs=None, actor="alice")
        await store.request_cancel(run.id, SystemClock().now())
        await engine.cancel(run.id)
        done = await wait_for_execution(store, run.id, is_done, timeout=3)
    assert done.status is ExecutionStatus.CANCELLED
    assert "cancel_grace=0.2 s" in (done.error_message or "")


async def test_a_sync_job_stops_at_update_job_progress_when_cancelled(store: SqlStore) -> None:
    def loop_forever() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            update_job_progress(message="working")
            time.sleep(0.01)

    async with started(store, job("looper", loop_forever), cancel_grace=30) as engine:
        run = await engine.trigger("looper", force=False, kwargs=None, actor="alice")
        await wait_for_execution(store, run.id, lambda e: e.progress_message == "working", timeout=3)
        await engine.cancel(run.id)
        done = await wait_for_execution(store, run.id, is_done, timeout=3)
    assert (done.status, done.error_message) == (ExecutionStatus.CANCELLED, "cancelled on request")


async def test_a_thread_job_ignoring_cancel_runs_on_and_records_its_real_outcome(store: SqlStore) -> None:
    noticed = threading.Event()
    release = threading.Event()

    def deaf(ctx: JobContext) -> str:
        while not ctx.cancel_requested:
            time.sleep(0.01)
        noticed.set()  # it sees the request … and carries on regardless
        release.wait(timeout=5)
        return "finished anyway"

    async with started(store, job("deaf", deaf), cancel_grace=0.1) as engine:
        run = await engine.trigger("deaf", force=False, kwargs=None, actor="alice")
        await store.request_cancel(run.id, SystemClock().now())
        await engine.cancel(run.id)
        try:
            await asyncio.wait_for(asyncio.to_thread(noticed.wait, 3), timeout=4)
            await asyncio.sleep(0.3)  # three times the cancel grace: a thread cannot be cancelled
            still = await store.get_execution(run.id)
            assert (still.status, still.cancel_requested) == (ExecutionStatus.RUNNING, True)
        finally:
            release.set()
        done = await wait_for_execution(store, run.id, is_done, timeout=3)
    assert (done.status, done.return_value, done.cancel_requested) == (
        ExecutionStatus.SUCCESS,
        "finished anyway",
        True,
    )


async def test_a_cancel_requested_on_another_replica_reaches_the_job_at_the_next_heartbeat(store: SqlStore) -> None:
    async def walker(ctx: JobContext) -> None:
        for _ in range(1000):
            await ctx.progress(message="walking")
            await asyncio.sleep(0.01)

    async with started(store, job("walker", walker), heartbeat_interval=0.1) as engine:
        run = await engine.trigger("walker", force=False, kwargs=None, actor="alice")
        await store.request_cancel(run.id, SystemClock().now())  # only the store knows: no engine.cancel()
        done = await wait_for_execution(store, run.id, is_done, timeout=3)
    assert (done.status, done.error_message) == (ExecutionStatus.CANCELLED, "cancelled on request")


async def test_a_run_marked_failed_by_an_operator_is_stopped_locally(store: SqlStore) -> None:
    stopped = asyncio.Event()

    async def walker(ctx: JobContext) -> None:
        try:
            for _ in range(1000):
                await ctx.progress(message="walking")
                await asyncio.sleep(0.01)
        except JobCancelled:
            stopped.set()
            raise

    async with started(store, job("walker", walker), heartbeat_interval=0.1) as engine:
        run = await engine.trigger("walker", force=False, kwargs=None, actor="alice")
        await store.close_execution(
            run.id, status=ExecutionStatus.FAILED, finished_at=SystemClock().now(), error_message="marked failed"
        )
        await asyncio.wait_for(stopped.wait(), timeout=3)
        await wait_until(lambda: asyncio.sleep(0, engine.local_running()), lambda ids: not ids, timeout=3)
    done = await store.get_execution(run.id)
    assert (done.status, done.error_message) == (ExecutionStatus.FAILED, "marked failed")


# -- closes held during a burst ------------------------------------------------------------------------------------


async def test_a_run_ending_while_closes_are_held_is_closed_on_release_with_its_own_end(store: SqlStore) -> None:
    ended: list[datetime] = []

    async def quick() -> str:
        ended.append(datetime.now(UTC))
        return "done"

    async with started(store, job("quick", quick)) as engine:
        runner = engine._runner
        runner.closer.hold_closes()
        run = await engine.trigger("quick", force=False, kwargs=None, actor="alice")
        await wait_until(lambda: asyncio.sleep(0, runner.closer._ending), bool, timeout=3, what="the run to end")
        assert (await store.get_execution(run.id)).status is ExecutionStatus.RUNNING
        runner.closer.release_closes()
        done = await wait_for_execution(store, run.id, is_done, timeout=3)
    assert done.status is ExecutionStatus.SUCCESS
    assert done.finished_at is not None and ended[0] <= done.finished_at < ended[0] + timedelta(seconds=1)


async def test_a_backlog_of_ended_runs_is_closed_in_chunks_and_when_closed_waits_for_it(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(closing_module, "_CLOSE_CHUNK", 2)

    async def quick() -> str:
        return "done"

    async with started(store, job("quick", quick)) as engine:
        runner = engine._runner
        runner.closer.hold_closes()
        runs = [await engine.trigger("quick", force=True, kwargs=None, actor="alice") for _ in range(5)]
        closer = runner.closer
        await wait_until(lambda: asyncio.sleep(0, len(closer._ending)), lambda n: n == 5, timeout=3, what="5 ends")
        calls: list[int] = []
        runner.closer.when_closed(lambda: calls.append(len(runner.running_ids())))
        assert calls == []  # five runs ended, none closed yet
        runner.closer.release_closes()
        await wait_until(lambda: asyncio.sleep(0, calls), bool, timeout=3, what="the backlog to be closed")
        assert calls == [0]  # called once every run was closed and forgotten
        runner.closer.when_closed(lambda: calls.append(-1))
        assert calls == [0, -1]  # nothing left to close: called at once
    for run in runs:
        done = await store.get_execution(run.id)
        assert (done.status, done.return_value) == (ExecutionStatus.SUCCESS, "done")


async def test_shutdown_calls_what_waits_for_closes_even_when_they_were_held(store: SqlStore) -> None:
    calls: list[str] = []

    async def quick() -> str:
        return "done"

    async with started(store, job("quick", quick)) as engine:
        engine._runner.closer.hold_closes()
        await engine.trigger("quick", force=False, kwargs=None, actor="alice")
        closer = engine._runner.closer
        await wait_until(lambda: asyncio.sleep(0, closer._ending), bool, timeout=3, what="the run to end")
        engine._runner.closer.when_closed(lambda: calls.append("closed"))
        assert calls == []
    assert calls == ["closed"]


async def test_shutdown_closes_runs_held_for_a_burst_with_their_real_outcome(store: SqlStore) -> None:
    async def quick() -> str:
        return "done"

    async with started(store, job("quick", quick)) as engine:
        engine._runner.closer.hold_closes()  # never released: a burst still being claimed when shutdown begins
        run = await engine.trigger("quick", force=False, kwargs=None, actor="alice")
        closer = engine._runner.closer
        await wait_until(lambda: asyncio.sleep(0, closer._ending), bool, timeout=3, what="the run to end")
    done = await store.get_execution(run.id)
    assert (done.status, done.return_value) == (ExecutionStatus.SUCCESS, "done")
