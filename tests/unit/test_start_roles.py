"""Bootstrap under concurrency and the scheduling role of runtimes sharing one SQLite file (in one process: the
lock is an flock per open file, so two runtimes here behave like two processes)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobdeck import Settings
from jobdeck.auth import Authenticator, resolve_secret_key
from jobdeck.clock import SystemClock
from jobdeck.models import Execution, ExecutionStatus, JobSpec, Principal, Role
from jobdeck.runtime import Runtime
from jobdeck.schedules import parse_schedule
from jobdeck.store import SqlStore, scheduler_lock
from jobdeck.testing import wait_until

ADMIN = Principal(username="admin", role=Role.ADMIN, via="password")


def _tick() -> str:
    return "tick"


def _spec() -> JobSpec:
    return JobSpec(id="tick", func="tests:_tick", function=_tick, schedule=parse_schedule("every 1h"))


async def test_concurrent_first_starts_create_one_admin_and_agree_on_one_key(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite+aiosqlite:///{tmp_path}/boot.db")
    await store.open()
    try:
        keys = await asyncio.gather(*(resolve_secret_key(store, None) for _ in range(5)))
        assert len(set(keys)) == 1
        auths = [Authenticator(store, secret_key=keys[0], token_ttl=60, clock=SystemClock()) for _ in range(5)]
        generated = await asyncio.gather(*(auth.ensure_admin(None) for auth in auths))
        assert len([password for password in generated if password]) == 1
        assert await store.count_users() == 1
    finally:
        await store.close()


async def test_a_second_runtime_on_one_sqlite_file_is_api_only_until_the_first_stops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/shared.db", admin_password="admin-password")
    first = await Runtime.start(settings, [_spec()])
    second: Runtime | None = None
    try:
        with caplog.at_level(logging.WARNING, logger="jobdeck"):
            second = await Runtime.start(settings, [_spec()])
        assert first.engine.scheduling and not second.engine.scheduling
        assert "serves the API and dashboard only" in caplog.text
        health, stats = await second.service.health(), await second.service.stats()
        assert health.status == "healthy" and health.scheduling is False and stats.scheduling is False
        # API-only still lists the job with its next run, and runs a manual trigger itself.
        (job,) = await second.service.list_jobs()
        assert job.next_run_time is not None and job.next_run_time > datetime.now(UTC)
        run = await second.service.trigger_job("tick", actor=ADMIN)
        done = await wait_until(
            lambda: _execution(second, run.id), lambda e: e.status.is_terminal, timeout=10, what="the manual run"
        )
        assert done.status is ExecutionStatus.SUCCESS
        await first.stop()
        await wait_until(lambda: _scheduling(second), bool, timeout=10, what="the takeover")
    finally:
        await first.stop()
        if second is not None:
            await second.stop()
    lock = scheduler_lock(settings.database_url)
    assert lock is not None and lock.try_acquire()  # released by the stopped runtimes
    lock.release()


async def _execution(runtime: Runtime, execution_id: str) -> Execution:
    return (await runtime.service.get_execution(execution_id))[0]


async def _scheduling(runtime: Runtime) -> bool:
    return runtime.engine.scheduling
