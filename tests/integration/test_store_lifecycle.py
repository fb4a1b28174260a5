"""Opening, migrating and failing to reach the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, insert, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from test_store_contract import make_run

from jobdeck.errors import ConfigError, StoreUnavailable
from jobdeck.models import AuditEntry, AuditOutcome, AuditQuery, ExecutionQuery, ExecutionStatus
from jobdeck.store import SqlStore, upgrade
from jobdeck.store._checkpoints import AUTOCHECKPOINT_PAGES
from jobdeck.store.migrations import VERSION_TABLE, alembic_config, upgrade_connection
from jobdeck.store.schema import executions, metadata
from jobdeck.testing import wait_until


async def test_open_creates_the_folder_of_a_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "jobdeck.db"
    store = SqlStore(f"sqlite+aiosqlite:///{path}")
    await store.open()
    await store.close()
    assert path.is_file()


async def test_sqlite_files_are_switched_to_wal_mode(tmp_path: Path) -> None:
    await upgrade(f"sqlite:///{tmp_path / 'wal.db'}")  # the async driver is filled in
    with closing(sqlite3.connect(tmp_path / "wal.db")) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_sqlite_writes_reach_the_database_file_without_a_commit_checkpointing(tmp_path: Path) -> None:
    # The store's commits leave the WAL to the checkpointer thread (they would copy it themselves only past
    # AUTOCHECKPOINT_PAGES, far more than these writes); the rows still reach the database file, which a reader
    # opening the file alone (immutable: the WAL ignored) sees.
    path = tmp_path / "checkpointed.db"
    store = SqlStore(f"sqlite+aiosqlite:///{path}")
    await store.open()
    try:
        async with store.database.tx() as conn:
            pages = (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar()
        assert pages == AUTOCHECKPOINT_PAGES
        runs = [make_run(f"job{i % 7}", start=i) for i in range(300)]
        assert await store.insert_executions(runs) == [True] * 300

        async def in_the_file() -> int:
            with closing(sqlite3.connect(f"file:{path}?immutable=1", uri=True)) as reader:
                try:
                    return int(reader.execute("SELECT count(*) FROM executions").fetchone()[0])
                except sqlite3.OperationalError:  # not even the schema is in the file yet
                    return -1

        await wait_until(in_the_file, lambda n: n == 300, timeout=10, what="all rows in the database file")
    finally:
        await store.close()


async def test_an_in_memory_sqlite_store_works() -> None:
    store = SqlStore("sqlite+aiosqlite://")
    await store.open()
    try:
        assert await store.set_setting_if_absent("k", "v") == "v"
        assert await asyncio.gather(*(store.set_setting_if_absent("k", "w") for _ in range(5))) == ["v"] * 5
    finally:
        await store.close()


async def test_an_in_memory_sqlite_store_claims_counts_and_closes_through_its_one_connection() -> None:
    # The SQLite fast path (claims, closes, running counts, audit roll-ups) borrows the one pooled connection.
    store = SqlStore("sqlite+aiosqlite://")
    await store.open()
    try:
        runs = [make_run("mem", start=i) for i in range(3)]
        assert await store.insert_executions(runs) == [True, True, True]
        assert await store.insert_execution(make_run("mem", start=0)) is False  # the same fire: claim lost
        assert await store.count_running() == {"mem": 3}
        finished = runs[0].started_at + timedelta(seconds=1)
        assert await store.close_execution(runs[0].id, status=ExecutionStatus.SUCCESS, finished_at=finished)
        entry = AuditEntry(
            id="mem-rollup", timestamp=finished, actor="a", action="login_failed", status=AuditOutcome.FAILED
        )
        await asyncio.gather(*(store.roll_up_audit(entry, count=2) for _ in range(3)))
        assert (await store.list_audit(AuditQuery())).items[0].details["count"] == 6
        assert await store.count_running() == {"mem": 2}
        assert (await store.get_execution(runs[0].id)).status is ExecutionStatus.SUCCESS
    finally:
        await store.close()


async def test_an_unreachable_database_raises_store_unavailable_without_the_password() -> None:
    store = SqlStore("postgresql+asyncpg://postgres:hunter2@127.0.0.1:1/jobdeck")
    with pytest.raises(StoreUnavailable) as caught:
        await store.open()
    assert "127.0.0.1:1" in caught.value.message
    assert "hunter2" not in caught.value.message
    await store.close()


async def test_a_sqlite_file_that_cannot_be_created_raises_store_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(StoreUnavailable):
        await upgrade(f"sqlite+aiosqlite:///{tmp_path / 'file' / 'jobdeck.db'}")


def test_a_url_of_another_database_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        SqlStore("mysql://user:pw@localhost/db")
    with pytest.raises(ConfigError) as caught:
        SqlStore("::not a url hunter2::")
    assert "hunter2" not in str(caught.value)


async def test_a_closed_store_reports_unavailable(store_url: str) -> None:
    store = SqlStore(store_url)
    await store.open()
    await store.close()
    with pytest.raises(StoreUnavailable):
        await store.count_users()


async def test_concurrent_first_starts_upgrade_once_and_all_succeed(blank_url: str) -> None:
    stores = [SqlStore(blank_url) for _ in range(4)]
    try:
        await asyncio.gather(*(s.open() for s in stores))
        assert await stores[0].set_setting_if_absent("k", "v") == "v"
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_migrations_build_exactly_the_declared_schema(blank_url: str) -> None:
    await upgrade(blank_url)
    await upgrade(blank_url)  # idempotent
    engine = create_async_engine(blank_url)

    def differences(conn: Connection) -> list[object]:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE, "compare_type": True})
        return list(compare_metadata(context, metadata))

    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(differences) == []
        async with engine.begin() as conn:  # the newest revision undoes cleanly and applies again
            await conn.run_sync(_downgrade, "0003")
        async with engine.begin() as conn:
            await conn.run_sync(upgrade_connection, "head")
        async with engine.connect() as conn:
            assert await conn.run_sync(differences) == []
    finally:
        await engine.dispose()


def _downgrade(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


async def test_upgrading_a_database_with_executions_keeps_totals_exact(blank_url: str) -> None:
    # A database at revision 0003 (counters of every status on SQLite, none on PostgreSQL) with runs in it.
    if blank_url.startswith("sqlite"):
        Path(make_url(blank_url).database or "").parent.mkdir(parents=True)
    engine = create_async_engine(blank_url)
    started = datetime.now(UTC) - timedelta(hours=2)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade_connection, "0003")
            for i, status in enumerate(["running", "success", "success", "failed", "running"]):
                duration = None if status == "running" else float(2 * i)  # a: 2 s and 4 s; b: 6 s
                await conn.execute(
                    insert(executions).values(
                        id=f"run{i}", job_id="a" if i < 3 else "b", job_name="x", status=status, trigger="schedule",
                        attempt=i + 1, force=False, scheduled_time=started, started_at=started, updated_at=started,
                        kwargs={}, cancel_requested=False, duration=duration,
                    )
                )  # fmt: skip
    finally:
        await engine.dispose()
    store = SqlStore(blank_url)
    await store.open()  # upgrades to head
    try:
        totals = {
            name: (await store.list_executions(ExecutionQuery(limit=1, **query))).total
            for name, query in {
                "all": {},
                "a": {"job_id": "a"},
                "running": {"status": ExecutionStatus.RUNNING},
                "success": {"status": ExecutionStatus.SUCCESS},
            }.items()
        }
        assert totals == {"all": 5, "a": 3, "running": 2, "success": 2}
        counts = await store.status_counts(since=started - timedelta(minutes=30))
        assert (counts[ExecutionStatus.SUCCESS], counts[ExecutionStatus.RUNNING]) == (2, 2)
        assert (await store.execution_stats("a")).avg_execution_time == pytest.approx(3.0)  # summed by 0006
        await store.close_execution("run0", status=ExecutionStatus.FAILED, finished_at=started + timedelta(seconds=3))
        stats = await store.execution_stats("a")
        assert (stats.total, stats.running, stats.success, stats.failed) == (3, 0, 2, 1)
        assert stats.avg_execution_time == pytest.approx(3.0)  # 2, 4 and 3 s
        assert (await store.execution_stats("b")).avg_execution_time == pytest.approx(6.0)
    finally:
        await store.close()


@pytest.mark.postgres
async def test_postgres_restart_is_survived_and_a_dropped_database_is_unavailable(
    blank_postgres_url: str, postgres_admin: Callable[..., Awaitable[None]]
) -> None:
    name = make_url(blank_postgres_url).database
    store = SqlStore(blank_postgres_url)
    try:
        await store.open()
        await store.set_setting_if_absent("k", "v")
        await postgres_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        assert (
            await store.set_setting_if_absent("k", "w") == "v"
        )  # the pool replaced the connections a restart would kill
        await postgres_admin(f'DROP DATABASE "{name}" WITH (FORCE)')
        with pytest.raises(StoreUnavailable):
            await store.count_users()
    finally:
        await store.close()
