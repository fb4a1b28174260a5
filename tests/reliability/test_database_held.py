"""The database held by another writer under a real `jobdeck serve`: every fire still ends as exactly one record
(fires expected == rows), none of a do-nothing job is ``skipped``, and health says ``degraded`` — with the reason
and the age of the oldest unwritten record — while the writes wait, ``healthy`` after.

SQLite: another connection holds ``BEGIN EXCLUSIVE`` (the server's writes fail after its 5 s busy timeout and are
held). PostgreSQL: another session holds ``LOCK TABLE executions IN ACCESS EXCLUSIVE MODE`` (the writes wait).
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import secrets
import signal
import sqlite3
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import make_url

from live_server import ServeProcess, wait_until


def _root_conftest() -> Any:
    # tests/conftest.py is not importable as "conftest" from here (each folder's conftest takes that name).
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("_jobdeck_held_root_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_ROOT = _root_conftest()
POSTGRES_URL: str = _ROOT.POSTGRES_URL
unavailable: Callable[[str], None] = _ROOT.unavailable

pytestmark = pytest.mark.slow

ADMIN_PASSWORD = "held-admin-password"
JOBS_MODULE = """
async def nothing():
    return None
"""


def jobs_file(jobs: int, every: str) -> str:
    return "".join(
        f'[[jobs]]\nid = "tick_{i}"\nfunc = "held_jobs:nothing"\nschedule = "every {every}"\n\n' for i in range(jobs)
    )


def serve_process(
    folder: Path, *, jobs: int, every: str, database_url: str | None = None, env: dict[str, str] | None = None
) -> ServeProcess:
    (folder / "held_jobs.py").write_text(textwrap.dedent(JOBS_MODULE))
    (folder / "jobs.toml").write_text(jobs_file(jobs, every))
    settings = {"JOBDECK_ADMIN_PASSWORD": ADMIN_PASSWORD, "JOBDECK_TIMEZONE": "UTC", "JOBDECK_SHUTDOWN_GRACE": "5"}
    settings.update(env or {})
    if database_url is not None:
        settings["JOBDECK_DATABASE_URL"] = database_url
    process = ServeProcess(folder, settings, admin_password=ADMIN_PASSWORD)
    if database_url is not None:
        process.database_url = database_url
    return process


def check_every_fire_has_one_record(
    rows: list[tuple[str, datetime, str]], *, jobs: int, step: timedelta
) -> tuple[int, int, Counter[str]]:
    """Per job, the records' fire times must be every fire from the first to the last, once each. Returns (fires
    expected, rows, statuses)."""
    expected = 0
    by_job: dict[str, list[datetime]] = {}
    for job_id, fire, _ in rows:
        by_job.setdefault(job_id, []).append(fire)
    assert len(by_job) == jobs, sorted(by_job)
    for job_id, fires in by_job.items():
        fires.sort()
        assert len(fires) == len(set(fires)), f"{job_id}: a fire with two records"
        gaps = [(a, b) for a, b in itertools.pairwise(fires) if b - a != step]
        assert not gaps, f"{job_id}: fires without a record between {gaps[:3]}"
        expected += (fires[-1] - fires[0]) // step + 1
    return expected, len(rows), Counter(status for _, _, status in rows)


class HealthWatch:
    """Polls ``/api/scheduler/health`` in a thread, keeping every answer."""

    def __init__(self, serve: ServeProcess) -> None:
        self._serve = serve
        self.seen: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.seen.append(self._serve.api("GET", "/api/scheduler/health"))
            except Exception as error:
                self.seen.append({"status": f"error: {error!r}"})
            self._stop.wait(0.25)

    def degraded(self) -> list[dict[str, Any]]:
        return [h for h in self.seen if h.get("status") == "degraded"]


def health_is(serve: ServeProcess, status: str) -> Callable[[], bool]:
    return lambda: serve.api("GET", "/api/scheduler/health")["status"] == status


# -- SQLite ---------------------------------------------------------------------------------------------------


def sqlite_rows(path: Path) -> list[tuple[str, datetime, str]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT job_id, scheduled_time, status FROM executions WHERE trigger = 'schedule'")
        return [(job, datetime.fromisoformat(fire), status) for job, fire, status in rows]
    finally:
        conn.close()


def sqlite_messages(path: Path, status: str) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [m or "" for (m,) in conn.execute("SELECT error_message FROM executions WHERE status = ?", (status,))]
    finally:
        conn.close()


def run_sqlite_scenario(
    folder: Path, *, jobs: int, every: float, hold_s: float, env: dict[str, str] | None = None
) -> dict[str, Any]:
    serve = serve_process(folder, jobs=jobs, every=f"{every:g}s", env=env)
    db_path = folder / "serve.db"
    serve.start()
    try:
        wait_until(lambda: len(sqlite_rows(db_path)) >= 2 * jobs, timeout=30, what="the first fires")
        with HealthWatch(serve) as watch:
            holder = sqlite3.connect(db_path, isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")
            locked_at = time.monotonic()
            try:
                wait_until(lambda: time.monotonic() - locked_at >= hold_s, timeout=hold_s + 5, what="the hold")
                during = watch.degraded()
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            wait_until(health_is(serve, "healthy"), timeout=60, what="health back to healthy")
        settled = len(sqlite_rows(db_path))
        wait_until(lambda: len(sqlite_rows(db_path)) >= settled + 2 * jobs, timeout=30, what="fires after the hold")
    finally:
        serve.stop(signal.SIGTERM)
    expected, rows, statuses = check_every_fire_has_one_record(
        sqlite_rows(db_path), jobs=jobs, step=timedelta(seconds=every)
    )
    missed = sqlite_messages(db_path, "missed")
    return {"expected": expected, "rows": rows, "statuses": statuses, "degraded": during, "missed": missed}


def assert_held_scenario(result: dict[str, Any]) -> None:
    assert result["expected"] == result["rows"]
    assert result["statuses"]["skipped"] == 0, result["statuses"]
    assert result["statuses"]["running"] == 0, result["statuses"]
    degraded = result["degraded"]
    assert degraded, "health never said degraded while the database was held"
    worst = max(degraded, key=lambda h: h["writes"]["oldest_unwritten_age_s"] or 0)
    assert worst["reason"] and worst["writes"]["ok"] is False
    assert worst["writes"]["oldest_unwritten_age_s"] >= 2.0, worst


def test_sqlite_held_by_another_writer_loses_no_fire_and_health_says_so(tmp_path: Path) -> None:
    result = run_sqlite_scenario(tmp_path, jobs=5, every=1.0, hold_s=8.0)
    assert_held_scenario(result)
    print(f"sqlite held 8 s, 5 jobs every 1 s: {result['expected']} fires, {result['rows']} rows, "
          f"{dict(result['statuses'])}")  # fmt: skip


def test_sqlite_held_beyond_the_misfire_grace_records_the_late_fires_missed(tmp_path: Path) -> None:
    result = run_sqlite_scenario(tmp_path, jobs=3, every=1.0, hold_s=8.0, env={"JOBDECK_MISFIRE_GRACE": "3"})
    assert_held_scenario(result)
    # The fires of the first seconds of the hold were claimed only after it, beyond the 3 s grace: not run.
    assert result["statuses"]["missed"] >= 3, result["statuses"]
    assert all("as the database kept the claim waiting" in m for m in result["missed"]), result["missed"][:3]
    print(f"sqlite held 8 s, grace 3 s, 3 jobs every 1 s: {result['expected']} fires, {result['rows']} rows, "
          f"{dict(result['statuses'])}")  # fmt: skip


@pytest.mark.soak
def test_sqlite_held_30s_twenty_jobs_every_2s(tmp_path: Path) -> None:
    result = run_sqlite_scenario(tmp_path, jobs=20, every=2.0, hold_s=30.0)
    assert_held_scenario(result)
    print(f"sqlite held 30 s, 20 jobs every 2 s: {result['expected']} fires, {result['rows']} rows, "
          f"{dict(result['statuses'])}")  # fmt: skip


# -- PostgreSQL -----------------------------------------------------------------------------------------------


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(_dsn(POSTGRES_URL), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    name = f"jobdeck_held_{secrets.token_hex(5)}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        unavailable("PostgreSQL")
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def postgres_rows(url: str) -> list[tuple[str, datetime, str]]:
    async def fetch() -> list[tuple[str, datetime, str]]:
        conn = await asyncpg.connect(_dsn(url), timeout=5)
        try:
            rows = await conn.fetch("SELECT job_id, scheduled_time, status FROM executions WHERE trigger = 'schedule'")
            return [(r["job_id"], r["scheduled_time"], r["status"]) for r in rows]
        finally:
            await conn.close()

    return asyncio.run(fetch())


class TableLock:
    """``LOCK TABLE executions IN ACCESS EXCLUSIVE MODE`` held by a session of its own, on a thread."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._release = threading.Event()
        self._locked = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._hold()), daemon=True)

    async def _hold(self) -> None:
        conn = await asyncpg.connect(_dsn(self._url), timeout=5)
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE executions IN ACCESS EXCLUSIVE MODE")
                self._locked.set()
                await asyncio.to_thread(self._release.wait)
        finally:
            await conn.close()

    def __enter__(self) -> TableLock:
        self._thread.start()
        assert self._locked.wait(10), "could not lock the table"
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._thread.join(timeout=15)


def run_postgres_scenario(folder: Path, url: str, *, jobs: int, every: float, hold_s: float) -> dict[str, Any]:
    serve = serve_process(folder, jobs=jobs, every=f"{every:g}s", database_url=url)
    serve.start()
    try:
        wait_until(lambda: len(postgres_rows(url)) >= 2 * jobs, timeout=30, what="the first fires")
        with HealthWatch(serve) as watch:
            with TableLock(url):
                locked_at = time.monotonic()
                wait_until(lambda: time.monotonic() - locked_at >= hold_s, timeout=hold_s + 5, what="the hold")
                during = watch.degraded()
            wait_until(health_is(serve, "healthy"), timeout=60, what="health back to healthy")
        settled = len(postgres_rows(url))
        wait_until(lambda: len(postgres_rows(url)) >= settled + 2 * jobs, timeout=30, what="fires after the hold")
    finally:
        serve.stop(signal.SIGTERM)
    expected, rows, statuses = check_every_fire_has_one_record(
        postgres_rows(url), jobs=jobs, step=timedelta(seconds=every)
    )
    return {"expected": expected, "rows": rows, "statuses": statuses, "degraded": during}


@pytest.mark.postgres
def test_postgres_table_locked_loses_no_fire_and_skips_none(tmp_path: Path, postgres_url: str) -> None:
    result = run_postgres_scenario(tmp_path, postgres_url, jobs=5, every=1.0, hold_s=6.0)
    assert_held_scenario(result)
    print(f"postgres locked 6 s, 5 jobs every 1 s: {result['expected']} fires, {result['rows']} rows, "
          f"{dict(result['statuses'])}")  # fmt: skip


@pytest.mark.soak
@pytest.mark.postgres
def test_postgres_table_locked_30s_twenty_jobs_every_2s(tmp_path: Path, postgres_url: str) -> None:
    result = run_postgres_scenario(tmp_path, postgres_url, jobs=20, every=2.0, hold_s=30.0)
    assert_held_scenario(result)
    print(f"postgres locked 30 s, 20 jobs every 2 s: {result['expected']} fires, {result['rows']} rows, "
          f"{dict(result['statuses'])}")  # fmt: skip
