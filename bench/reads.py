"""Scenario 4 — reads at scale: the same queries at 1,000,000 and at 1,000 execution rows (1,000 jobs).

Figure: p50 latency (ms) of each query through :class:`~jobdeck.service.SchedulerService` (store and service, no
HTTP): the executions list (limit 50, totals included) without and with job / status filters, first page and a deep
page (offset 950), a job's execution-stats and ``/stats``. Baseline: the same query at 1,000 rows. Target: ≤ 1.5×.

Rows are spread over the last 90 days (the default retention), evenly over the 1,000 jobs, with a fixed mix of
statuses and run times (seeded). The large SQLite database is cached between runs in the temp folder, keyed by the
row count and the migration revisions.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import Config, Row, Target, jobdeck_settings, median, quiet_logs, sqlite_url, start_runtime

JOBS = 1_000
SMALL = 1_000
DEEP = 950
STATUSES = [("success", 0.90), ("failed", 0.05), ("cancelled", 0.02), ("missed", 0.02), ("skipped", 0.01)]
COLUMNS = [
    "id", "job_id", "job_name", "status", "trigger", "triggered_by", "attempt", "force", "scheduled_time",
    "started_at", "updated_at", "finished_at", "duration", "kwargs", "return_value", "error_message",
    "cancel_requested", "host", "pid", "heartbeat_at",
]  # fmt: skip
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _ulid(at: datetime, rng: random.Random) -> str:
    value = (int(at.timestamp() * 1000) << 80) | rng.getrandbits(80)
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def generate(count: int, seed: int, now: datetime) -> Iterator[tuple[Any, ...]]:
    """``count`` terminal execution rows, oldest first, as tuples in COLUMNS order (datetimes aware UTC)."""
    rng = random.Random(seed)
    span = timedelta(days=90).total_seconds()
    step = span / count
    start = now - timedelta(days=90)
    names, weights = zip(*STATUSES, strict=True)
    for k in range(count):
        at = start + timedelta(seconds=k * step + rng.random() * step * 0.5)
        job = f"job{k % JOBS:04d}"
        status = rng.choices(names, weights)[0]
        ran = status in ("success", "failed", "cancelled")
        duration = round(rng.expovariate(1 / 2.0), 6) if ran else None
        finished = at + timedelta(seconds=duration) if duration is not None else at
        manual = rng.random() < 0.02
        yield (
            _ulid(at, rng), job, job, status, "manual" if manual else "schedule", "admin" if manual else None, 1,
            False, at, at, finished, finished, duration, "{}", '{"ok": true}' if status == "success" else None,
            None if status == "success" else f"{status}: bench", False, "bench-host", 4242,
            at if ran else None,
        )  # fmt: skip


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    return value


def load_sqlite(path: Path, count: int, seed: int, now: datetime) -> None:
    """Fill a migrated SQLite database with ``count`` rows (raw sqlite3, in large transactions)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    insert = f"INSERT INTO executions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    batch: list[tuple[Any, ...]] = []
    conn.execute("BEGIN")
    for row in generate(count, seed, now):
        batch.append(tuple(_sqlite_value(v) for v in row))
        if len(batch) >= 50_000:
            conn.executemany(insert, batch)
            batch.clear()
    if batch:
        conn.executemany(insert, batch)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def _schema_key() -> str:
    from jobdeck.store import migrations

    # The revisions' text, not only their names: a revision edited before release must not reuse a database
    # built by its earlier text.
    digest = hashlib.sha1()
    for path in sorted((Path(migrations.__file__).parent / "versions").glob("v*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:10]


async def _migrate(url: str) -> None:
    from jobdeck.store import SqlStore

    store = SqlStore(url)
    await store.open()
    await store.close()


def sqlite_database(count: int, seed: int, now: datetime, workdir: Path) -> Path:
    """A SQLite database with ``count`` rows; large ones are cached (their times are relative to when they were
    made, so a cached database is only reused the same day)."""
    cache = Path(os.environ.get("JOBDECK_BENCH_CACHE", Path(tempfile.gettempdir()) / "jobdeck-bench-cache"))
    if count >= 100_000:
        cache.mkdir(parents=True, exist_ok=True)
        path = cache / f"reads-{count}-{seed}-{_schema_key()}-{now:%Y%m%d}.db"
        if path.exists():
            return path
        for stale in cache.glob(f"reads-{count}-*.db*"):
            stale.unlink()
    else:
        path = workdir / f"reads-{count}.db"
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    asyncio.run(_migrate(sqlite_url(partial)))
    load_sqlite(partial, count, seed, now)
    for suffix in ("-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    partial.rename(path)
    return path


def job_specs() -> list[Any]:
    from jobdeck.models import JobSpec
    from jobdeck.schedules import parse_schedule

    async def idle() -> None:
        return None

    schedule = parse_schedule("every 1h", timezone="UTC")
    return [
        JobSpec(id=f"job{i:04d}", func="bench:idle", function=idle, schedule=schedule, paused=True) for i in range(JOBS)
    ]


def queries(service: Any) -> dict[str, Callable[[], Awaitable[Any]]]:
    from jobdeck.models import ExecutionQuery, ExecutionStatus

    job = "job0007"
    failed, success = ExecutionStatus.FAILED, ExecutionStatus.SUCCESS

    def listing(**kw: Any) -> Callable[[], Awaitable[Any]]:
        return lambda: service.list_executions(ExecutionQuery(limit=50, **kw))

    return {
        "list": listing(),
        f"list offset {DEEP}": listing(offset=DEEP),
        "list job": listing(job_id=job),
        f"list job offset {DEEP}": listing(job_id=job, offset=DEEP),
        "list status": listing(status=failed),
        f"list status offset {DEEP}": listing(status=failed, offset=DEEP),
        "list job+status": listing(job_id=job, status=success),
        "job execution-stats": lambda: service.execution_stats(job),
        "/stats": service.stats,
    }


async def measure(urls: tuple[str, str], repeats: int) -> dict[str, tuple[float, float]]:
    """p50 ms of every query on (large, small), calls interleaved so both see the same machine."""
    runtimes = [await start_runtime(jobdeck_settings(url), job_specs()) for url in urls]
    try:
        suites = [queries(rt.service) for rt in runtimes]
        out: dict[str, tuple[float, float]] = {}
        for name in suites[0]:
            samples: list[list[float]] = [[], []]
            for i in range(repeats + 5):
                for side in (0, 1):
                    started = time.perf_counter()
                    await suites[side][name]()
                    if i >= 5:  # warm-up
                        samples[side].append((time.perf_counter() - started) * 1000)
            out[name] = (median(samples[0]), median(samples[1]))
        return out
    finally:
        for rt in runtimes:
            await rt.stop()


def rows_for(prefix: str, large: int, figures: dict[str, tuple[float, float]]) -> list[Row]:
    label = f"{large // 1_000_000}M" if large >= 1_000_000 else f"{large // 1_000}k"
    return [
        Row(
            name=f"{prefix} {name} @{label} vs 1k",
            baseline=small,
            jobdeck=big,
            unit="ms p50",
            target=Target("ratio_max", 1.5),
        )
        for name, (big, small) in figures.items()
        if not (math.isnan(big) or math.isnan(small))
    ]


def run(cfg: Config) -> list[Row]:
    quiet_logs()
    large: int = cfg.pick(smoke=5_000, quick=200_000, full=1_000_000)
    repeats: int = cfg.pick(smoke=10, quick=60, full=150)
    now = datetime.now(UTC)
    big = sqlite_database(large, cfg.seed, now, cfg.workdir)
    small = sqlite_database(SMALL, cfg.seed, now, cfg.workdir)
    figures = asyncio.run(measure((sqlite_url(big), sqlite_url(small)), repeats))
    return rows_for("reads sqlite", large, figures)
