"""Scenario 6 — memory: resident set size of a process holding 10,000 registered jobs.

Each side runs in its own fresh subprocess that first imports the same modules (jobdeck with its API, APScheduler,
SQLAlchemy, FastAPI), then builds its scheduler with the jobs (1-hour intervals, so nothing fires), lets the loop
settle, collects garbage and reports VmRSS. Baseline: bare APScheduler (memory store). jobdeck: the full runtime on
SQLite. Target: ≤ 1.5×.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import Config, Row, Target, median

IMPORTS = """
import apscheduler.schedulers.asyncio, apscheduler.jobstores.memory, apscheduler.executors.asyncio
import sqlalchemy.ext.asyncio, aiosqlite, fastapi, uvicorn
import jobdeck.runtime, jobdeck.api.app
"""


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


async def _noop() -> None:
    return None


async def hold_apscheduler(count: int) -> int:
    from apscheduler.triggers.interval import IntervalTrigger

    from bench.common import apscheduler

    scheduler = apscheduler()
    scheduler.start()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for i in range(count):
        trigger = IntervalTrigger(seconds=3600, start_date=epoch + timedelta(seconds=i * 3600 / count), timezone=UTC)
        scheduler.add_job(_noop, trigger=trigger, id=f"job{i}")
    await asyncio.sleep(1.0)
    gc.collect()
    value = rss_kib()
    scheduler.shutdown(wait=False)
    return value


async def hold_jobdeck(count: int, database: str) -> int:
    from bench.common import interval_spec, jobdeck_settings, sqlite_url, start_runtime

    specs = [interval_spec(f"job{i}", _noop, 3600, i * 3600 / count) for i in range(count)]
    runtime = await start_runtime(jobdeck_settings(sqlite_url(Path(database))), specs)
    try:
        await asyncio.sleep(1.0)
        gc.collect()
        return rss_kib()
    finally:
        await runtime.stop()


def child(kind: str, count: int, database: str) -> None:
    exec(IMPORTS, {})
    gc.collect()
    before = rss_kib()
    if kind == "apscheduler":
        after = asyncio.run(hold_apscheduler(count))
    else:
        after = asyncio.run(hold_jobdeck(count, database))
    print(json.dumps({"imports_kib": before, "rss_kib": after}))


def measure(kind: str, count: int, database: Path) -> dict[str, int]:
    command = [sys.executable, "-c", f"from bench.memory import child; child({kind!r}, {count}, {str(database)!r})"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=os.environ, timeout=600).stdout
    result: dict[str, int] = json.loads(out.strip().splitlines()[-1])
    return result


def run(cfg: Config) -> list[Row]:
    count: int = cfg.pick(smoke=1_000, quick=10_000, full=10_000)
    repeats: int = cfg.pick(smoke=1, quick=1, full=3)
    base = [measure("apscheduler", count, cfg.workdir / "unused.db") for _ in range(repeats)]
    ours = [measure("jobdeck", count, cfg.workdir / f"memory-{i}.db") for i in range(repeats)]
    return [
        Row(
            name=f"memory: RSS holding {count:,} jobs",
            baseline=median([r["rss_kib"] for r in base]) / 1024,
            jobdeck=median([r["rss_kib"] for r in ours]) / 1024,
            unit="MiB",
            target=Target("ratio_max", 1.5),
            notes=f"after the shared imports: {median([r['imports_kib'] for r in base]) / 1024:.0f} MiB",
            extra={"baseline_runs": base, "jobdeck_runs": ours},
        )
    ]
