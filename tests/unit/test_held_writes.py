"""Writes the database refuses are held, in order, and land once it takes them again; past a bound they are spooled
to disk, and a spool left by a process that died is replayed by the next store opened on the database — its claims
then closed by start-up recovery. On a real SQLite file locked by another connection (``BEGIN EXCLUSIVE``)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jobdeck.clock import SystemClock
from jobdeck.engine import Engine, EngineOptions
from jobdeck.engine.records import new_execution
from jobdeck.errors import StoreUnavailable
from jobdeck.models import Execution, ExecutionStatus, JobSpec, TriggerKind
from jobdeck.store import SqlStore, _engine, database, held
from jobdeck.store.held import WriteStatus, spool_files
from jobdeck.testing import wait_until

BUSY_MS = 200
"""The store's SQLite busy timeout in these tests: a locked write fails (and is held) after this long."""


@pytest.fixture(autouse=True)
def _short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_engine, "SQLITE_BUSY_TIMEOUT_MS", BUSY_MS)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "held.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SqlStore]:
    store = SqlStore(f"sqlite+aiosqlite:///{db_path}")
    await store.open()
    yield store
    await store.close()


class Lock:
    """Another writer holding the database: ``BEGIN EXCLUSIVE`` on a connection of its own."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def hold(self) -> None:
        self._conn.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        self._conn.execute("ROLLBACK")

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        return list(self._conn.execute(sql))

    def close(self) -> None:
        self._conn.close()


@pytest.fixture
def lock(db_path: Path, store: SqlStore) -> Iterator[Lock]:
    held = Lock(db_path)
    yield held
    held.close()


SPEC = JobSpec(id="tick", func="tests:nothing", schedule="every 1s")


def claim(fire: datetime, *, host: str = "test-host", pid: int | None = None) -> Execution:
    return new_execution(
        SPEC,
        fire,
        status=ExecutionStatus.RUNNING,
        scheduled_time=fire,
        trigger=TriggerKind.SCHEDULE,
        kwargs={},
        host=host,
        pid=pid if pid is not None else os.getpid(),
    )


FIRE = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def statuses(store: SqlStore) -> Callable[[], Awaitable[WriteStatus]]:
    async def probe() -> WriteStatus:
        return store.write_status()

    return probe


async def test_a_claim_the_locked_database_refuses_is_held_and_lands_after_the_lock(
    store: SqlStore, lock: Lock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="jobdeck.store")
    lock.hold()
    record = claim(FIRE)
    claiming = asyncio.ensure_future(store.insert_execution(record))
    status = await wait_until(statuses(store), lambda s: not s.ok and s.held >= 1, timeout=5, what="held")
    assert "locked" in (status.reason or "")
    assert not claiming.done()  # the caller waits: nothing was dropped, nothing answered yet
    # Several retries fail meanwhile: the write stays held, growing older, and its caller keeps waiting.
    aged = await wait_until(
        statuses(store), lambda s: (s.oldest_age_s or 0.0) >= BUSY_MS / 1000 * 3, timeout=5, what="an older hold"
    )
    assert aged.oldest_age_s is not None and aged.oldest_age_s >= BUSY_MS / 1000 * 3
    assert aged.held >= 1 and not claiming.done()
    lock.release()
    assert await asyncio.wait_for(claiming, 10) is True
    assert (await store.get_execution(record.id)).status is ExecutionStatus.RUNNING
    assert store.write_status().ok and store.write_status().oldest_age_s is None
    said = [r.getMessage() for r in caplog.records if r.name.startswith("jobdeck.store")]
    assert len([m for m in said if "database writes failing" in m and "locked" in m]) == 1, said  # once, not per retry
    assert len([m for m in said if "database writes recovered" in m and "1 held write" in m]) == 1, said


async def test_held_writes_land_in_order_a_claim_then_its_close(store: SqlStore, lock: Lock) -> None:
    lock.hold()
    records = [claim(FIRE + timedelta(seconds=i)) for i in range(3)]
    claims = [asyncio.ensure_future(store.insert_execution(r)) for r in records]
    await wait_until(statuses(store), lambda s: not s.ok, timeout=5, what="held")
    closing = asyncio.ensure_future(
        store.close_execution(
            records[0].id,
            status=ExecutionStatus.SUCCESS,
            finished_at=FIRE + timedelta(seconds=5),
        )
    )
    queued = await wait_until(statuses(store), lambda s: s.waiting == 4, timeout=5, what="the close queued")
    assert queued.waiting == 4 and not closing.done()
    lock.release()
    assert await asyncio.wait_for(asyncio.gather(*claims), 10) == [True, True, True]
    assert await asyncio.wait_for(closing, 10) is True  # queued behind its claim: it found the record
    stored = [(await store.get_execution(r.id)).status for r in records]
    assert stored == [ExecutionStatus.SUCCESS, ExecutionStatus.RUNNING, ExecutionStatus.RUNNING]


async def test_writes_past_the_memory_bound_are_spooled_and_the_spool_goes_once_they_land(
    store: SqlStore, lock: Lock, db_path: Path
) -> None:
    store.database.writes._held_in_memory = 2  # a small bound, to reach it with a few writes
    lock.hold()
    records = [claim(FIRE + timedelta(seconds=i)) for i in range(6)]
    claims = asyncio.ensure_future(store.insert_executions(records))
    status = await wait_until(statuses(store), lambda s: s.spooled == 4, timeout=5, what="4 spooled")
    assert status.held == 6
    files = spool_files(db_path.parent, db_path.name)
    assert len(files) == 1 and len(files[0].read_text().splitlines()) == 4
    lock.release()
    assert await asyncio.wait_for(claims, 10) == [True] * 6
    assert store.write_status().spooled == 0
    assert spool_files(db_path.parent, db_path.name) == []


CHILD = """
import asyncio, os, sys
from datetime import UTC, datetime, timedelta
from jobdeck.store import SqlStore, _engine
from jobdeck.models import ExecutionStatus, JobSpec, TriggerKind
from jobdeck.engine.records import new_execution

_engine.SQLITE_BUSY_TIMEOUT_MS = 200
spec = JobSpec(id="tick", func="tests:nothing", schedule="every 1s")
fire = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

async def main():
    store = SqlStore("sqlite+aiosqlite:///" + sys.argv[1])
    await store.open()
    store.database.writes._held_in_memory = 0
    print("open", flush=True)
    sys.stdin.readline()  # the parent has locked the database
    records = [new_execution(spec, fire, status=ExecutionStatus.RUNNING, scheduled_time=fire + timedelta(seconds=i),
                             trigger=TriggerKind.SCHEDULE, kwargs={}, host=sys.argv[2], pid=os.getpid())
               for i in range(3)]
    task = asyncio.ensure_future(store.insert_executions(records))
    while store.write_status().spooled < 3:
        await asyncio.sleep(0.02)
    print("spooled", flush=True)
    await asyncio.sleep(3600)  # killed here, its claims held

asyncio.run(main())
"""


def test_a_spool_left_by_a_process_that_died_is_replayed_at_the_next_start_and_its_claims_closed(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "died.db"
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    host = EngineOptions().host
    child = subprocess.Popen(
        [sys.executable, str(script), str(db_path), host],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "open"
        lock = Lock(db_path)
        lock.hold()
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "spooled"
        child.send_signal(signal.SIGKILL)  # dies with its three claims held
        child.wait(timeout=10)
        lock.release()
        assert lock.rows("SELECT count(*) FROM executions") == [(0,)]  # none reached the database
        lock.close()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    async def restart() -> tuple[list[ExecutionStatus], int, list[Path]]:
        store = SqlStore(f"sqlite+aiosqlite:///{db_path}")
        await store.open()  # replays the dead process's spool
        try:
            replayed = await store.running_executions(host=host)
            assert sorted(e.pid for e in replayed) == [child.pid] * 3
            engine = Engine(store, clock=SystemClock(), options=EngineOptions(host=host))
            closed = await engine.recover_on_startup(datetime.now(UTC))
            after = [(await store.get_execution(e.id)).status for e in replayed]
            return after, closed, spool_files(db_path.parent, db_path.name)
        finally:
            await store.close()

    closed_statuses, closed, left = asyncio.run(restart())
    assert closed == 3
    assert closed_statuses == [ExecutionStatus.FAILED] * 3
    assert left == []


async def test_closing_the_store_while_writes_are_held_spools_them_for_the_next_start_even_with_the_same_pid(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "CLOSE_WAIT_S", 0.5)
    store = SqlStore(f"sqlite+aiosqlite:///{db_path}")
    await store.open()
    lock = Lock(db_path)
    lock.hold()
    record = claim(FIRE)
    claiming = asyncio.ensure_future(store.insert_execution(record))
    await wait_until(statuses(store), lambda s: s.held == 1, timeout=5, what="held")
    await store.close()  # a SIGTERM during the outage: the held claim goes to the spool, its caller is told
    with pytest.raises(StoreUnavailable, match="held"):
        await claiming
    assert len(spool_files(db_path.parent, db_path.name)) == 1
    lock.release()
    lock.close()
    # The next start is another process — in a container, quite possibly with the same pid.
    monkeypatch.setattr(held, "_INCARNATION", "restarted")
    again = SqlStore(f"sqlite+aiosqlite:///{db_path}")
    await again.open()
    try:
        assert (await again.get_execution(record.id)).status is ExecutionStatus.RUNNING
        assert spool_files(db_path.parent, db_path.name) == []
    finally:
        await again.close()
