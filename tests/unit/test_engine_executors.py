"""The executor seam: the engine runs each job on the executor its kind is registered with."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jobdeck.clock import SystemClock
from jobdeck.engine import Engine, EngineOptions, JobCancelled
from jobdeck.engine.bursts import add_burst_listener, burst_started
from jobdeck.engine.executors import Executor, ExecutorRegistry, JobCall, UntypedExecutor
from jobdeck.errors import ConfigError
from jobdeck.models import ExecutionStatus, HttpTarget, JobKind, JobSpec
from jobdeck.schedules import parse_schedule
from jobdeck.store.sql import SqlStore
from jobdeck.testing import wait_for_execution

NEVER = parse_schedule("2099-01-01T00:00:00+00:00")
FAST = EngineOptions(heartbeat_interval=0.2, progress_flush_interval=0.05, cancel_grace=0.2, shutdown_grace=0.5)


class Queued(UntypedExecutor):
    """An executor whose work happens elsewhere: a run waits until the test hands it its result."""

    def __init__(self) -> None:
        self.calls: asyncio.Queue[tuple[JobCall, asyncio.Future[Any]]] = asyncio.Queue()

    async def invoke(self, call: JobCall) -> Any:
        result: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        call.ctx.on_cancel(lambda: result.done() or result.set_exception(JobCancelled("stopped remotely")))
        await self.calls.put((call, result))
        return await result


def remote_job(job_id: str) -> JobSpec:
    return JobSpec(id=job_id, func="remote", kind=JobKind.HTTP, http=HttpTarget(url="http://x.invalid"), schedule=NEVER)


def registry_with(executor: Executor) -> ExecutorRegistry:
    registry = ExecutorRegistry.default()
    registry.register(JobKind.HTTP, lambda spec: executor)
    return registry


async def test_a_registered_executor_runs_the_jobs_of_its_kind_with_progress_and_result(store: SqlStore) -> None:
    queued = Queued()
    engine = Engine(store, clock=SystemClock(), options=FAST, executors=registry_with(queued))
    engine.register(remote_job("remote"))
    await engine.start()
    try:
        run = await engine.trigger("remote", kwargs={"n": 1}, actor="alice")
        call, result = await asyncio.wait_for(queued.calls.get(), timeout=3)
        assert (call.ctx.execution_id, dict(call.kwargs)) == (run.id, {"n": 1})
        call.ctx.progress(50, message="half way")
        result.set_result({"done": True})
        done = await wait_for_execution(store, run.id, lambda e: e.status.is_terminal, timeout=3)
        assert (done.status, done.return_value, done.progress) == (ExecutionStatus.SUCCESS, '{"done": true}', 50)
    finally:
        await engine.shutdown()


async def test_a_cancel_reaches_the_executor_through_the_context(store: SqlStore) -> None:
    queued = Queued()
    engine = Engine(store, clock=SystemClock(), options=FAST, executors=registry_with(queued))
    engine.register(remote_job("remote"))
    await engine.start()
    try:
        run = await engine.trigger("remote", actor="alice")
        await asyncio.wait_for(queued.calls.get(), timeout=3)
        await engine.cancel(run.id)
        done = await wait_for_execution(store, run.id, lambda e: e.status.is_terminal, timeout=3)
        assert done.status is ExecutionStatus.CANCELLED
    finally:
        await engine.shutdown()


def test_a_kind_without_an_executor_is_refused_at_registration(store: SqlStore) -> None:
    engine = Engine(store, clock=SystemClock(), options=FAST, executors=ExecutorRegistry())
    with pytest.raises(ConfigError, match="not supported"):
        engine.register(remote_job("remote"))


def test_a_failing_burst_listener_does_not_stop_the_burst() -> None:
    heard: list[str] = []

    def broken(size: int) -> Any:
        raise RuntimeError("listener bug")

    def fine(size: int) -> Any:
        heard.append("start")
        return lambda: heard.append("over")

    removes = [add_burst_listener(broken), add_burst_listener(fine)]
    try:
        burst_started(1000)()
    finally:
        for remove in removes:
            remove()
    assert heard == ["start", "over"]
