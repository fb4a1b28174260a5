"""The engine's housekeeping on a real SqlStore over SQLite: zombie sweep, start-up recovery, retention, shutdown."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from jobdeck.engine import Engine, EngineOptions, JobContext, update_job_progress
from jobdeck.errors import ExecutionNotFound
from jobdeck.ids import new_id
from jobdeck.models import Execution, ExecutionStatus, JobSpec, TriggerKind
from jobdeck.schedules import parse_schedule
from jobdeck.store.sql import SqlStore
from jobdeck.testing import FrozenClock, wait_for_execution, wait_until

NOW = datetime(2026, 3, 6, 9, 30, tzinfo=UTC)
NEVER = "2099-01-01T00:00:00+00:00"
FAST = EngineOptions(
    heartbeat_interval=0.2,
    progress_flush_interval=0.05,
    cancel_grace=0.2,
    shutdown_grace=0.3,
    zombie_sweep_interval=60.0,
    host="web-1",
)


def job(job_id: str, function: Callable[..., Any], **fields: Any) -> JobSpec:
    return JobSpec(id=job_id, func=f"tests:{job_id}", function=function, schedule=parse_schedule(NEVER), **fields)


def record(
    *, host: str = "web-1", pid: int = 4242, heartbeat: datetime | None, started: datetime = NOW, **fields: Any
) -> Execution:
    return Execution(
        id=new_id(started),
        job_id=fields.pop("job_id", "sync"),
        job_name="sync",
        status=fields.pop("status", ExecutionStatus.RUNNING),
        trigger=TriggerKind.MANUAL,  # manual records never collide on the claim key
        scheduled_time=started,
        started_at=started,
        updated_at=started,
        host=host,
        pid=pid,
        heartbeat_at=heartbeat,
        **fields,
    )


def dead_pid() -> int:
    """The pid of a process that surely no longer exists: one we started and reaped ourselves."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# -- zombies -----------------------------------------------------------------------------------------------------


async def test_zombie_sweep_fails_a_silent_run_and_spares_live_ones(store: SqlStore) -> None:
    clock = FrozenClock(NOW)
    release = asyncio.Event()

    async def local_job() -> None:
        await release.wait()

    engine = Engine(store, clock=clock, options=FAST)
    engine.register(job("local", local_job))
    await engine.start()
    try:
        sweep_at = NOW + timedelta(seconds=90)
        silent = record(host="web-2", pid=4242, heartbeat=NOW - timedelta(seconds=120))
        beating = record(host="web-2", pid=4243, heartbeat=sweep_at - timedelta(seconds=5))
        for execution in (silent, beating):
            assert await store.insert_execution(execution)
        # The local run heartbeats at NOW (the frozen clock never moves): 90 s old at sweep time, yet alive.
        local = await engine.trigger("local", force=False, kwargs=None, actor="alice")

        assert await engine.sweep_zombies(sweep_at) == 1
        assert await engine.sweep_zombies(sweep_at) == 0  # idempotent

        swept = await store.get_execution(silent.id)
        assert (swept.status, swept.finished_at) == (ExecutionStatus.FAILED, sweep_at)
        assert swept.error_message == (
            "no heartbeat for 210 s (zombie_after=60 s): the process running it (host web-2, pid 4242) is gone"
        )
        assert (await store.get_execution(beating.id)).status is ExecutionStatus.RUNNING
        assert (await store.get_execution(local.id)).status is ExecutionStatus.RUNNING
        assert local.id in engine.local_running()
        release.set()
        await wait_for_execution(store, local.id, lambda e: e.status is ExecutionStatus.SUCCESS, timeout=3)
    finally:
        await engine.shutdown()


# -- start-up recovery -------------------------------------------------------------------------------------------


async def test_start_up_recovery_closes_this_hosts_dead_runs_only(store: SqlStore) -> None:
    pid = dead_pid()
    mine_dead = record(host="web-1", pid=pid, heartbeat=NOW)
    mine_previous_self = record(host="web-1", pid=os.getpid(), heartbeat=NOW)  # same pid, earlier incarnation
    mine_alive = record(host="web-1", pid=os.getppid(), heartbeat=NOW)  # another live process on this host
    other_host = record(host="web-2", pid=pid, heartbeat=NOW)
    for execution in (mine_dead, mine_previous_self, mine_alive, other_host):
        assert await store.insert_execution(execution)

    engine = Engine(store, clock=FrozenClock(NOW), options=FAST)
    assert await engine.recover_on_startup(NOW) == 2

    closed = await store.get_execution(mine_dead.id)
    assert (closed.status, closed.finished_at) == (ExecutionStatus.FAILED, NOW)
    assert closed.error_message == f"jobdeck on web-1 (pid {pid}) stopped while this run was going; closed at start-up"
    previous = await store.get_execution(mine_previous_self.id)
    assert previous.status is ExecutionStatus.FAILED
    assert f"(pid {os.getpid()})" in (previous.error_message or "")
    assert (await store.get_execution(mine_alive.id)).status is ExecutionStatus.RUNNING
    assert (await store.get_execution(other_host.id)).status is ExecutionStatus.RUNNING


async def test_start_runs_recovery_before_anything_else(store: SqlStore) -> None:
    left_over = record(host="web-1", pid=dead_pid(), heartbeat=NOW)
    assert await store.insert_execution(left_over)
    engine = Engine(store, clock=FrozenClock(NOW), options=FAST)
    await engine.start()
    try:
        assert (await store.get_execution(left_over.id)).status is ExecutionStatus.FAILED
    finally:
        await engine.shutdown()


# -- retention ---------------------------------------------------------------------------------------------------


async def test_start_prunes_executions_past_retention(store: SqlStore) -> None:
    old_start = NOW - timedelta(days=100)
    old = record(
        heartbeat=None,
        started=old_start,
        status=ExecutionStatus.SUCCESS,
        finished_at=old_start + timedelta(seconds=3),
    )
    recent = record(
        heartbeat=None,
        started=NOW - timedelta(days=1),
        status=ExecutionStatus.SUCCESS,
        finished_at=NOW - timedelta(days=1),
    )
    for execution in (old, recent):
        assert await store.insert_execution(execution)

    async def gone() -> bool:
        try:
            await store.get_execution(old.id)
        except ExecutionNotFound:
            return True
        return False

    engine = Engine(store, clock=FrozenClock(NOW), options=dataclasses.replace(FAST, retention_days=90))
    await engine.start()
    try:
        await wait_until(gone, bool, timeout=3, what="the old execution pruned")
        assert (await store.get_execution(recent.id)).status is ExecutionStatus.SUCCESS
    finally:
        await engine.shutdown()


# -- shutdown ----------------------------------------------------------------------------------------------------


async def test_shutdown_closes_every_record_it_leaves(store: SqlStore) -> None:
    unblock = threading.Event()
    started_threads = threading.Barrier(3)

    async def sleepy() -> None:
        await asyncio.sleep(60)

    def blocking() -> None:
        started_threads.wait(timeout=5)
        unblock.wait(timeout=10)  # ignores the cancel flag; returns only when the test lets it

    def cooperative(ctx: JobContext) -> None:
        started_threads.wait(timeout=5)
        while True:
            update_job_progress(message="working")
            time.sleep(0.01)

    async def brief() -> str:
        await asyncio.sleep(0.05)
        return "done in time"

    engine = Engine(store, clock=FrozenClock(NOW), options=FAST)
    for spec in (
        job("sleepy", sleepy),
        job("blocking", blocking),
        job("cooperative", cooperative),
        job("brief", brief),
    ):
        engine.register(spec)
    await engine.start()
    try:
        runs = {
            name: await engine.trigger(name, force=False, kwargs=None, actor="alice")
            for name in ("sleepy", "blocking", "cooperative", "brief")
        }
        await asyncio.to_thread(started_threads.wait, 5)
        await engine.shutdown()
        assert engine.state == "stopped"
        assert engine.local_running() == []
        outcomes = {name: await store.get_execution(run.id) for name, run in runs.items()}
    finally:
        unblock.set()
    assert {name: (e.status, e.error_message) for name, e in outcomes.items()} == {
        "sleepy": (ExecutionStatus.CANCELLED, "cancelled at shutdown"),
        "blocking": (ExecutionStatus.FAILED, "jobdeck shut down before the run finished"),
        "cooperative": (ExecutionStatus.CANCELLED, "cancelled at shutdown"),
        "brief": (ExecutionStatus.SUCCESS, None),
    }
    assert all(e.finished_at is not None for e in outcomes.values())


async def test_start_prunes_audit_entries_past_retention(store: SqlStore) -> None:
    from jobdeck.audit import AuditTrail
    from jobdeck.models import AuditAction, AuditQuery

    await AuditTrail(store, FrozenClock(NOW - timedelta(days=100))).record(AuditAction.LOGIN, "long-ago")
    await AuditTrail(store, FrozenClock(NOW - timedelta(days=1))).record(AuditAction.LOGIN, "yesterday")

    async def actors() -> list[str]:
        return [entry.actor for entry in (await store.list_audit(AuditQuery(limit=10))).items]

    engine = Engine(store, clock=FrozenClock(NOW), options=dataclasses.replace(FAST, retention_days=90))
    await engine.start()
    try:
        await wait_until(actors, lambda found: found == ["yesterday"], timeout=3, what="the old audit entry pruned")
    finally:
        await engine.shutdown()
