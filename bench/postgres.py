"""Scenario 7 — PostgreSQL: scenarios 3 (throughput) and 4 (reads at scale) on PostgreSQL, beside SQLite.

A scratch database ``jobdeck_bench_<random>`` is created on the server of ``JOBDECK_BENCH_POSTGRES_URL`` (default
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``) and dropped at the end. Throughput baseline: raw asyncpg
insert-then-update pairs on jobdeck's own schema, each statement its own transaction (target: jobdeck ≥ 50%).
Reads: the same queries at 1,000,000 (quick: 200,000) and at 1,000 rows (target ≤ 1.5×).
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import make_url

from bench import reads, throughput
from bench.common import PG_URL, Config, Row, Target, quiet_logs


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _url(name: str) -> str:
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


async def _admin(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_dsn(PG_URL), timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _create(name: str) -> str:
    await _admin(f'CREATE DATABASE "{name}"')
    url = _url(name)
    await reads._migrate(url)
    return url


async def _drop(name: str) -> None:
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_value(column: str, value: Any, at: datetime) -> Any:
    if column in ("scheduled_time", "started_at", "updated_at", "heartbeat_at"):
        return at
    return bool(value) if column in ("force", "cancel_requested") else value


async def asyncpg_pairs(url: str, count: int, seed: int) -> float:
    """Insert-then-update pairs per second with raw asyncpg, each statement its own transaction."""
    import asyncpg

    rng = random.Random(seed)
    base = datetime.now(UTC)
    rows = [throughput.execution_row(i, rng, base + timedelta(microseconds=i)) for i in range(count)]
    columns = list(rows[0])
    insert = (
        f"INSERT INTO executions ({', '.join(columns)}) VALUES ({', '.join(f'${i + 1}' for i in range(len(columns)))})"
    )
    update = (
        "UPDATE executions SET status = 'success', finished_at = $2, updated_at = $2, duration = 0.001 "
        "WHERE id = $1 AND status = 'running'"
    )
    values = [tuple(_pg_value(c, r[c], base + timedelta(microseconds=i)) for c in columns) for i, r in enumerate(rows)]
    finished = base + timedelta(seconds=1)
    conn = await asyncpg.connect(_dsn(url))
    try:
        started = time.perf_counter()
        for row in values:
            await conn.execute(insert, *row)
            await conn.execute(update, row[0], finished)
        elapsed = time.perf_counter() - started
    finally:
        await conn.close()
    return count / elapsed


async def load(url: str, count: int, seed: int, now: datetime) -> None:
    """``count`` execution rows through COPY, counted afterwards as revisions 0004 and 0006 count existing rows."""
    import asyncpg

    from jobdeck.store.migrations.versions.v0004_terminal_counts import RECOUNT, recount_hours
    from jobdeck.store.migrations.versions.v0006_duration_sums import RESUM

    conn = await asyncpg.connect(_dsn(url))
    try:
        # Without the counter triggers during the load: a million updates of a few thousand counter rows in one go
        # leave a table of dead row versions that a running system, updating them a few at a time between
        # autovacuum's visits, never has.
        await conn.execute("ALTER TABLE executions DISABLE TRIGGER USER")
        batch: list[tuple[Any, ...]] = []
        for row in reads.generate(count, seed, now):
            batch.append(row)
            if len(batch) >= 100_000:
                await conn.copy_records_to_table("executions", records=batch, columns=reads.COLUMNS)
                batch.clear()
        if batch:
            await conn.copy_records_to_table("executions", records=batch, columns=reads.COLUMNS)
        await conn.execute("ALTER TABLE executions ENABLE TRIGGER USER")
        await conn.execute("DELETE FROM execution_counts")
        await conn.execute(RECOUNT)
        await conn.execute(RESUM)
        await conn.execute(recount_hours("postgresql"))
        # As autovacuum does after a bulk insert (PostgreSQL ≥ 13): statistics, and the visibility map that lets
        # index-only scans skip the table.
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def scenario(cfg: Config) -> list[Row]:
    pairs_n: int = cfg.pick(smoke=500, quick=5_000, full=10_000)
    jobs_n: int = cfg.pick(smoke=300, quick=3_000, full=10_000)
    large: int = cfg.pick(smoke=5_000, quick=200_000, full=1_000_000)
    repeats: int = cfg.pick(smoke=10, quick=60, full=150)
    token = secrets.token_hex(4)
    names = {key: f"jobdeck_bench_{token}_{key}" for key in ("raw", "runs", "large", "small")}
    created: list[str] = []
    try:
        urls = {}
        for key, name in names.items():
            urls[key] = await _create(name)
            created.append(name)
        pairs = await asyncpg_pairs(urls["raw"], pairs_n, cfg.seed)
        ours, counts = await throughput.jobdeck_throughput(urls["runs"], jobs_n)
        now = datetime.now(UTC)
        await load(urls["large"], large, cfg.seed, now)
        await load(urls["small"], reads.SMALL, cfg.seed, now)
        figures = await reads.measure((urls["large"], urls["small"]), repeats)
    finally:
        for name in created:
            await _drop(name)
    ok = counts["success"] == jobs_n and sum(counts.values()) == jobs_n
    return [
        Row(
            name="postgres throughput vs asyncpg insert+update pairs",
            baseline=pairs,
            jobdeck=ours,
            unit="runs/s",
            target=Target("ratio_min", 0.5),
            ok=ok,
            notes=f"{jobs_n:,} jobs; records {counts}",
        ),
        *reads.rows_for("reads postgres", large, figures),
    ]


def run(cfg: Config) -> list[Row]:
    quiet_logs()
    return asyncio.run(scenario(cfg))
