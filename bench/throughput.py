"""Scenario 3 — throughput: sustained recorded executions per second (no-op jobs), on SQLite.

jobdeck: N one-shot no-op jobs all due at one instant; the figure is N divided by the time from that instant until
the last record is closed (so it includes the timer, the claim insert, the call and the closing update of every run,
each durable before the next step). Baselines, measured in the same run:

* raw ``sqlite3`` in WAL mode (``synchronous=NORMAL``, as jobdeck) on a database with jobdeck's own schema and
  indexes: insert-then-update pairs, each statement its own transaction (the unbatched figure; target ≥ 50%), and
  the same rows in transactions of 1,000 (the batched ceiling, rows per second; for information);
* APScheduler with its ``SQLAlchemyJobStore`` (on SQLite): the same N one-shot jobs; fires per second
  (target: jobdeck ≥ 10×).
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    Config,
    Row,
    Target,
    apscheduler,
    as_server_process,
    at_epoch,
    execution_counts,
    jobdeck_settings,
    next_instant,
    once_spec,
    quiet_logs,
    sleep_until,
    sqlite_url,
    start_runtime,
    wait_for,
)

STARTS: list[float] = []


async def noop() -> None:
    STARTS.append(time.time())


def execution_row(i: int, rng: random.Random, at: datetime) -> dict[str, Any]:
    """A ``running`` executions row as jobdeck's claim writes it."""
    stamp = at.strftime("%Y-%m-%d %H:%M:%S.%f")
    return {
        "id": f"{i:012d}{rng.getrandbits(56):014x}",
        "job_id": f"job{i % 1000}",
        "job_name": f"job{i % 1000}",
        "status": "running",
        "trigger": "schedule",
        "attempt": 1,
        "force": 0,
        "scheduled_time": stamp,
        "started_at": stamp,
        "updated_at": stamp,
        "kwargs": "{}",
        "cancel_requested": 0,
        "host": "bench",
        "pid": 1,
        "heartbeat_at": stamp,
    }


_COLUMNS = list(execution_row(0, random.Random(0), datetime.now(UTC)))
INSERT = f"INSERT INTO executions ({', '.join(_COLUMNS)}) VALUES ({', '.join(':' + c for c in _COLUMNS)})"
UPDATE = (
    "UPDATE executions SET status = 'success', finished_at = :finished, updated_at = :finished, duration = 0.001 "
    "WHERE id = :id AND status = 'running'"
)


def schema_db(path: Path) -> None:
    """An empty database with jobdeck's schema (migrated by jobdeck itself)."""
    from jobdeck.store import SqlStore

    async def make() -> None:
        store = SqlStore(sqlite_url(path))
        await store.open()
        await store.close()

    asyncio.run(make())


def sqlite_pairs(path: Path, count: int, seed: int) -> float:
    """Insert-then-update pairs per second, every statement its own transaction."""
    rng = random.Random(seed)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    base = datetime.now(UTC)
    rows = [execution_row(i, rng, base + timedelta(microseconds=i)) for i in range(count)]
    finished = (base + timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
    started = time.perf_counter()
    for row in rows:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(INSERT, row)
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(UPDATE, {"id": row["id"], "finished": finished})
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return count / elapsed


def sqlite_batched(path: Path, count: int, seed: int, batch: int = 1000) -> float:
    """Rows written per second (inserts and their updates) in transactions of ``batch`` pairs."""
    rng = random.Random(seed)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    base = datetime.now(UTC) + timedelta(days=1)
    rows = [execution_row(i + 10**9, rng, base + timedelta(microseconds=i)) for i in range(count)]
    finished = (base + timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
    started = time.perf_counter()
    for offset in range(0, count, batch):
        chunk = rows[offset : offset + batch]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT, chunk)
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(UPDATE, [{"id": r["id"], "finished": finished} for r in chunk])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return 2 * count / elapsed


async def apscheduler_sqlalchemy(path: Path, count: int) -> float:
    """Fires per second of APScheduler 3 with its SQLAlchemyJobStore on SQLite."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.triggers.date import DateTrigger

    STARTS.clear()
    scheduler = apscheduler(SQLAlchemyJobStore(url=f"sqlite:///{path}"))
    scheduler.start(paused=True)
    fire_at = next_instant(1.0)
    trigger = DateTrigger(run_date=at_epoch(fire_at))
    for i in range(count):
        scheduler.add_job(noop, trigger=trigger, id=f"job{i}", misfire_grace_time=3600)
    as_server_process()
    scheduler.resume()
    await sleep_until(fire_at)
    done = await wait_for(lambda: len(STARTS) >= count, timeout=120, interval=0.01)
    scheduler.shutdown(wait=False)
    if not done:
        raise RuntimeError(f"APScheduler + SQLAlchemyJobStore ran {len(STARTS)} of {count} jobs")
    return count / (max(STARTS) - fire_at)


async def jobdeck_throughput(url: str, count: int) -> tuple[float, dict[str, int]]:
    """Recorded executions per second: fire instant → last record closed."""
    STARTS.clear()
    fire_at = next_instant(3.0 + count / 2_000)
    specs = [once_spec(f"job{i}", noop, fire_at) for i in range(count)]
    runtime = await start_runtime(jobdeck_settings(url), specs)
    as_server_process()
    try:
        if time.time() > fire_at:
            raise RuntimeError("jobdeck took longer to start than the lead time; raise it")
        await sleep_until(fire_at)
        await wait_for(lambda: len(STARTS) >= count, timeout=300, interval=0.002)
        await wait_for(lambda: not runtime.engine.local_running(), timeout=300, interval=0.002)
        elapsed = time.time() - fire_at
        counts = await execution_counts(runtime.store)
    finally:
        await runtime.stop()
    return counts["success"] / elapsed, counts


def run(cfg: Config) -> list[Row]:
    quiet_logs()
    pairs_n: int = cfg.pick(smoke=2_000, quick=20_000, full=50_000)
    batched_n: int = cfg.pick(smoke=5_000, quick=100_000, full=200_000)
    aps_n: int = cfg.pick(smoke=100, quick=500, full=1_000)
    jobs_n: int = cfg.pick(smoke=300, quick=5_000, full=20_000)
    raw = cfg.workdir / "raw.db"
    schema_db(raw)
    pairs = sqlite_pairs(raw, pairs_n, cfg.seed)
    batched = sqlite_batched(raw, batched_n, cfg.seed)
    aps = asyncio.run(apscheduler_sqlalchemy(cfg.workdir / "apscheduler.db", aps_n))
    ours, counts = asyncio.run(jobdeck_throughput(sqlite_url(cfg.workdir / "jobdeck.db"), jobs_n))
    ok = counts["success"] == jobs_n and sum(counts.values()) == jobs_n
    notes = f"{jobs_n:,} jobs; records {counts}"
    return [
        Row(
            name="throughput vs sqlite3 insert+update pairs",
            baseline=pairs,
            jobdeck=ours,
            unit="runs/s",
            target=Target("ratio_min", 0.5),
            ok=ok,
            notes=notes,
        ),
        Row(
            name="throughput vs APScheduler + SQLAlchemyJobStore",
            baseline=aps,
            jobdeck=ours,
            unit="runs/s",
            target=Target("ratio_min", 10),
            ok=ok,
            notes=f"APScheduler: {aps_n:,} one-shot jobs",
        ),
        Row(
            name="sqlite3 batched rows/s (ceiling, info)",
            baseline=batched,
            jobdeck=ours * 2,
            unit="rows/s",
            target=Target("info"),
            notes="jobdeck writes 2 row versions per run (claim insert + close update)",
        ),
    ]
