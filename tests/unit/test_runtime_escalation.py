"""Python jobs that will not stop, timeouts and retries."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from datetime import timedelta

from runtime_helpers import executions_of, py_job, started

from jobdeck.engine import JobContext
from jobdeck.engine.retries import retry_delay
from jobdeck.engine.runner import STILL_RUNNING
from jobdeck.models import Execution, ExecutionStatus, TriggerKind
from jobdeck.store.sql import SqlStore
from jobdeck.testing import FrozenClock, wait_for_execution, wait_until


def is_done(execution: Execution) -> bool:
    return execution.status.is_terminal


async def test_an_async_job_ignoring_the_cancel_flag_is_cancelled_after_the_grace(store: SqlStore) -> None:
    async def deaf() -> None:
        await asyncio.sleep(30)  # never looks at ctx

    async with started(store, py_job("deaf", deaf), cancel_grace=0.3) as engine:
        run = await engine.trigger("deaf", actor="alice")
        await store.request_cancel(run.id, run.started_at)
        asked = time.monotonic()
        await engine.cancel(run.id)
        done = await wait_for_execution(store, run.id, is_done, timeout=5)
    assert done.status is ExecutionStatus.CANCELLED
    assert "did not stop within cancel_grace=0.3 s" in (done.error_message or "")
    assert time.monotonic() - asked >= 0.3


async def test_an_async_job_swallowing_cancellation_is_closed_anyway(store: SqlStore) -> None:
    stop = asyncio.Event()

    async def stubborn() -> None:
        while not stop.is_set():
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                continue

    async with started(store, py_job("stubborn", stubborn), cancel_grace=0.2) as engine:
        run = await engine.trigger("stubborn", actor="alice")
        await store.request_cancel(run.id, run.started_at)
        await engine.cancel(run.id)
        done = await wait_for_execution(store, run.id, is_done, timeout=5)
        stop.set()
    assert done.status is ExecutionStatus.CANCELLED
    assert "ignored the cancellation of its task" in (done.error_message or "")


async def test_a_thread_job_ignoring_the_flag_is_reported_still_running_until_it_returns(store: SqlStore) -> None:
    release = threading.Event()

    def blocking(ctx: JobContext) -> str:
        ctx.progress(10, "working")
        release.wait(10)
        return "done anyway"

    async with started(store, py_job("blocking", blocking), cancel_grace=0.2) as engine:
        run = await engine.trigger("blocking", actor="alice")
        await wait_for_execution(store, run.id, lambda e: e.progress == 10, timeout=5)
        await store.request_cancel(run.id, run.started_at)
        await engine.cancel(run.id)
        noted = await wait_for_execution(store, run.id, lambda e: e.progress_message == STILL_RUNNING, timeout=5)
        assert noted.status is ExecutionStatus.RUNNING and noted.cancel_requested
        release.set()
        done = await wait_for_execution(store, run.id, is_done, timeout=5)
    # It ran to its end: the record keeps its real outcome, with the cancel request on it.
    assert (done.status, done.return_value, done.cancel_requested) == (ExecutionStatus.SUCCESS, "done anyway", True)


async def test_a_job_past_its_timeout_ends_failed_with_the_timeout_message(store: SqlStore) -> None:
    async def endless(ctx: JobContext) -> None:
        while True:
            await ctx.progress(50)
            await asyncio.sleep(0.02)

    async def deaf() -> None:
        await asyncio.sleep(30)

    async with started(store, py_job("endless", endless, timeout=0.4), py_job("deaf", deaf, timeout=0.4)) as engine:
        runs = [await engine.trigger(job_id, actor="alice") for job_id in ("endless", "deaf")]
        done = [await wait_for_execution(store, run.id, is_done, timeout=5) for run in runs]
    for execution in done:
        assert execution.status is ExecutionStatus.FAILED
        assert (execution.error_message or "").startswith("timed out after 0.4s"), execution.error_message
    log = await store.read_log(runs[0].id)
    assert any("timed out after 0.4s" in line.message for line in log)


def test_retry_delays_grow_exponentially_with_jitter_and_a_cap() -> None:
    spec = py_job("flaky", lambda: None, retries=5, retry_backoff=10, retry_backoff_max=35)
    assert [retry_delay(spec, attempt, rand=lambda: 0.0) for attempt in (1, 2, 3, 4)] == [10, 20, 35, 35]
    assert [retry_delay(spec, attempt, rand=lambda: 1.0) for attempt in (1, 2)] == [7.5, 15]


async def test_a_failing_job_with_two_retries_leaves_three_linked_executions_with_growing_gaps(store: SqlStore) -> None:
    async def broken() -> None:
        raise RuntimeError("upstream down")

    spec = py_job("broken", broken, retries=2, retry_backoff=0.3)
    async with started(store, spec) as engine:
        first = await engine.trigger("broken", actor="alice")
        runs = await wait_until(
            lambda: executions_of(store, "broken"),
            lambda runs: len(runs) == 3 and all(is_done(e) for e in runs),
            timeout=10,
            what="three finished attempts",
        )
    assert [e.attempt for e in runs] == [1, 2, 3]
    assert [e.trigger for e in runs] == [TriggerKind.MANUAL, TriggerKind.RETRY, TriggerKind.RETRY]
    assert all(e.status is ExecutionStatus.FAILED for e in runs)
    assert runs[0].id == first.id
    assert [e.retry_of for e in runs] == [None, runs[0].id, runs[1].id]
    assert runs[0].retry_at is not None and runs[1].retry_at is not None and runs[2].retry_at is None
    gaps = [(later.started_at - earlier.finished_at).total_seconds() for earlier, later in itertools.pairwise(runs)]  # type: ignore[operator]
    assert 0.2 <= gaps[0] < gaps[1], gaps
    assert [e.id for e in await store.retry_chain(runs[1].id)] == [e.id for e in runs]


async def test_cancelled_runs_and_jobs_without_retries_are_not_retried(store: SqlStore) -> None:
    async def walker(ctx: JobContext) -> None:
        while True:
            await ctx.progress(1)
            await asyncio.sleep(0.02)

    async def broken() -> None:
        raise RuntimeError("no")

    async with started(store, py_job("walker", walker, retries=3), py_job("once", broken)) as engine:
        walk = await engine.trigger("walker", actor="alice")
        once = await engine.trigger("once", actor="alice")
        await store.request_cancel(walk.id, walk.started_at)
        await engine.cancel(walk.id)
        cancelled = await wait_for_execution(store, walk.id, is_done, timeout=5)
        failed = await wait_for_execution(store, once.id, is_done, timeout=5)
        assert engine.pending_retries() == []
    assert (cancelled.status, cancelled.retry_at) == (ExecutionStatus.CANCELLED, None)
    assert (failed.status, failed.retry_at) == (ExecutionStatus.FAILED, None)
    assert len(await executions_of(store, "walker")) == 1
    assert len(await executions_of(store, "once")) == 1


async def test_a_pending_retry_survives_a_restart(store: SqlStore) -> None:
    calls: list[int] = []

    async def flaky(ctx: JobContext) -> str:
        calls.append(ctx.attempt)
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails")
        return "second attempt works"

    spec = py_job("flaky", flaky, retries=1, retry_backoff=60)
    async with started(store, spec) as engine:
        run = await engine.trigger("flaky", actor="alice")
        failed = await wait_for_execution(store, run.id, lambda e: e.retry_at is not None, timeout=5)
        assert engine.pending_retries() == [run.id]
    assert [e.id for e in await store.pending_retries()] == [run.id]
    # The next process starts (its clock says) when the retry is already due.
    soon = failed.retry_at
    assert soon is not None
    clock = FrozenClock(soon + timedelta(seconds=1))
    async with started(store, spec, clock=clock):
        runs = await wait_until(
            lambda: executions_of(store, "flaky"),
            lambda runs: len(runs) == 2 and is_done(runs[1]),
            timeout=5,
            what="the retry after the restart",
        )
    assert runs[1].status is ExecutionStatus.SUCCESS
    assert (runs[1].trigger, runs[1].attempt, runs[1].retry_of) == (TriggerKind.RETRY, 2, run.id)
    assert runs[1].scheduled_time == soon
    assert calls == [1, 2]
