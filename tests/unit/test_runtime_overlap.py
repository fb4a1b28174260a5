"""Overlap policies: a job firing every second that runs 2.5 s, under each policy."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from runtime_helpers import executions_of, py_job, started

from jobdeck.engine import JobContext
from jobdeck.models import Execution, ExecutionQuery, ExecutionStatus, OverlapPolicy
from jobdeck.store.sql import SqlStore
from jobdeck.testing import wait_until

RAN = (ExecutionStatus.RUNNING, ExecutionStatus.SUCCESS, ExecutionStatus.CANCELLED)


async def two_and_a_half_seconds(ctx: JobContext) -> str:
    for _ in range(50):
        await ctx.progress(message="working")  # a cooperative job: replace can stop it at once
        await asyncio.sleep(0.05)
    return "done"


async def observe(
    store: SqlStore, policy: OverlapPolicy, enough: Callable[[list[Execution]], bool], **fields: Any
) -> list[Execution]:
    spec = py_job("tick", two_and_a_half_seconds, schedule="every 1s", overlap=policy, **fields)
    async with started(store, spec, cancel_grace=0.5):
        await wait_until(lambda: executions_of(store, "tick"), enough, timeout=12, what=f"{policy} outcomes")
    return await executions_of(store, "tick")


def runs(executions: list[Execution]) -> list[Execution]:
    return sorted((e for e in executions if e.status in RAN), key=lambda e: e.started_at)


def skipped(executions: list[Execution]) -> list[Execution]:
    return [e for e in executions if e.status is ExecutionStatus.SKIPPED]


def most_at_once(executions: list[Execution]) -> int:
    """The largest number of runs going at the same instant."""
    edges: list[tuple[datetime, int]] = []
    for e in runs(executions):
        edges += [(e.started_at, 1), (e.finished_at or datetime.now(UTC), -1)]
    going = peak = 0
    for _, step in sorted(edges, key=lambda edge: (edge[0], edge[1])):
        going += step
        peak = max(peak, going)
    return peak


async def test_skip_drops_fires_while_the_job_runs_and_records_them_skipped(store: SqlStore) -> None:
    seen = await observe(store, OverlapPolicy.SKIP, lambda e: len(runs(e)) >= 2 and len(skipped(e)) >= 2)
    assert most_at_once(seen) == 1
    assert all(e.error_message == "max_instances=1 reached; 1 run going" for e in skipped(seen))
    first, second = runs(seen)[:2]
    assert first.status is ExecutionStatus.SUCCESS
    # The two fires while the first run went were dropped; the next one after it ended ran.
    offsets = [(e.scheduled_time - first.scheduled_time).total_seconds() for e in skipped(seen)[:2]]
    assert offsets == [1, 2]
    assert (second.scheduled_time - first.scheduled_time).total_seconds() in (3, 4)
    assert all((e.delay or 0) < 1 for e in runs(seen))


async def test_queue_keeps_one_fire_waiting_and_runs_it_when_the_job_ends(store: SqlStore) -> None:
    seen = await observe(store, OverlapPolicy.QUEUE, lambda e: len(runs(e)) >= 2 and len(skipped(e)) >= 1)
    assert most_at_once(seen) == 1
    first, queued = runs(seen)[:2]
    assert (queued.scheduled_time - first.scheduled_time).total_seconds() == 1  # the fire right after the first
    assert queued.delay is not None and queued.delay >= 1.0  # it waited for the first run to end
    assert first.finished_at is not None and queued.started_at >= first.finished_at
    assert all("another fire is already waiting" in (e.error_message or "") for e in skipped(seen))


async def test_allow_overlaps_runs_up_to_max_instances(store: SqlStore) -> None:
    seen = await observe(
        store, OverlapPolicy.ALLOW, lambda e: len(runs(e)) >= 3 and len(skipped(e)) >= 1, max_instances=2
    )
    assert most_at_once(seen) == 2
    assert all(e.error_message == "max_instances=2 reached; 2 runs going" for e in skipped(seen))
    assert all((e.delay or 0) < 1 for e in runs(seen))


async def test_replace_cancels_the_running_one_and_starts_the_new_one(store: SqlStore) -> None:
    def replaced(executions: list[Execution]) -> list[Execution]:
        return [e for e in executions if "replaced by the fire at" in (e.error_message or "")]

    seen = await observe(store, OverlapPolicy.REPLACE, lambda e: len(replaced(e)) >= 2)
    ordered = runs(seen)
    assert len(replaced(ordered)) >= 2
    for run in ordered[:-1]:  # every run but the newest (stopped by the test's shutdown) was replaced
        assert run.status is ExecutionStatus.CANCELLED
        assert run in replaced(ordered), run.error_message
    assert not skipped(seen)
    for earlier, later in itertools.pairwise(ordered):
        assert earlier.finished_at is not None and later.started_at >= earlier.finished_at  # never side by side
        assert (later.scheduled_time - earlier.scheduled_time).total_seconds() == 1  # every fire ran


async def test_jobs_due_at_one_instant_run_once_each_and_one_at_its_limit_is_skipped(store: SqlStore) -> None:
    release = asyncio.Event()

    async def hold() -> None:
        await release.wait()

    async def quick() -> str:
        return "ok"

    instant = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    due = instant.isoformat()
    specs = [py_job("busy", hold, schedule=due), *(py_job(f"quick{i}", quick, schedule=due) for i in range(30))]
    async with started(store, *specs) as engine:
        await engine.trigger("busy", actor="alice")  # busy is at max_instances=1 when the instant comes
        everything = ExecutionQuery(limit=200)
        seen = await wait_until(
            lambda: store.list_executions(everything),
            lambda page: page.total == 32 and all(e.status is not ExecutionStatus.RUNNING or e.job_id == "busy"
                                                  for e in page.items),
            timeout=15,
            what="one record per fire",
        )  # fmt: skip
        release.set()
    by_job: dict[str, list[Execution]] = {}
    for execution in seen.items:
        by_job.setdefault(execution.job_id, []).append(execution)
    assert all([e.status for e in by_job[f"quick{i}"]] == [ExecutionStatus.SUCCESS] for i in range(30))
    assert all(by_job[f"quick{i}"][0].scheduled_time == instant for i in range(30))
    fired = [e for e in by_job["busy"] if e.scheduled_time == instant]
    assert [(e.status, e.error_message) for e in fired] == [
        (ExecutionStatus.SKIPPED, "max_instances=1 reached; 1 run going")
    ]
