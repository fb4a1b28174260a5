"""Scenario 2 — steady: jobs on 1-second intervals with phases spread evenly over the second.

Figure: p99 start lateness (job start − its grid instant, ms) over the run, the first second left out. Baseline:
bare APScheduler (memory store, interval triggers on the same grid). jobdeck: the full runtime on SQLite, every
fire recorded; the row checks that no fire was missed or lost. Target: ≤ baseline p99 + 10 ms.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from bench.common import (
    Config,
    Row,
    Target,
    apscheduler,
    as_server_process,
    execution_counts,
    interval_spec,
    jobdeck_settings,
    percentile,
    quiet_logs,
    sqlite_url,
    start_runtime,
)

SAMPLES: list[tuple[int, float]] = []
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _job(index: int) -> object:
    async def tick() -> None:
        SAMPLES.append((index, time.time()))

    tick.__name__ = tick.__qualname__ = f"tick{index}"
    return tick


def _latenesses(count: int, window: tuple[float, float]) -> list[float]:
    """Lateness in ms of each fire whose grid instant lies in ``window``."""
    out = []
    for index, started in SAMPLES:
        phase = index / count
        grid = int(started - phase) + phase  # the latest grid instant at or before the start (lateness < 1 s)
        if window[0] <= grid < window[1]:
            out.append((started - grid) * 1000)
    return out


async def baseline_steady(count: int, seconds: float) -> tuple[list[float], int]:
    from apscheduler.triggers.interval import IntervalTrigger

    SAMPLES.clear()
    scheduler = apscheduler()
    for i in range(count):
        trigger = IntervalTrigger(seconds=1, start_date=_EPOCH + timedelta(seconds=i / count), timezone=UTC)
        scheduler.add_job(_job(i), trigger=trigger, id=f"job{i}")
    as_server_process()
    scheduler.start()
    window = (int(time.time()) + 2.0, int(time.time()) + 2.0 + seconds)
    await asyncio.sleep(window[1] - time.time() + 0.5)
    scheduler.shutdown(wait=False)
    values = _latenesses(count, window)
    return values, int(seconds) * count - len(values)


async def jobdeck_steady(count: int, seconds: float, cfg: Config) -> tuple[list[float], int, dict[str, int]]:
    SAMPLES.clear()
    specs = [interval_spec(f"job{i}", _job(i), 1, i / count) for i in range(count)]
    settings = jobdeck_settings(sqlite_url(cfg.workdir / "steady.db"))
    runtime = await start_runtime(settings, specs)
    as_server_process()
    try:
        window = (int(time.time()) + 2.0, int(time.time()) + 2.0 + seconds)
        await asyncio.sleep(window[1] - time.time() + 0.5)
    finally:
        await runtime.stop()
    values = _latenesses(count, window)
    from jobdeck.store import SqlStore

    store = SqlStore(settings.database_url)
    await store.open()
    try:
        counts = await execution_counts(store)
    finally:
        await store.close()
    return values, int(seconds) * count - len(values), counts


def run(cfg: Config) -> list[Row]:
    quiet_logs()
    count: int = cfg.pick(smoke=100, quick=1_000, full=1_000)
    seconds: float = cfg.pick(smoke=1, quick=10, full=30)
    base, base_lost = asyncio.run(baseline_steady(count, seconds))
    ours, lost, counts = asyncio.run(jobdeck_steady(count, seconds, cfg))
    problems = []
    if lost:
        problems.append(f"{lost} fires in the window did not start")
    if counts["missed"] or counts["skipped"] or counts["failed"]:
        problems.append(f"records {counts}")
    return [
        Row(
            name=f"steady {count:,} jobs × 1 s, {seconds:g} s: p99 start lateness",
            baseline=percentile(base, 0.99),
            jobdeck=percentile(ours, 0.99),
            unit="ms",
            target=Target("plus_max", 10, "ms"),
            ok=not problems,
            notes="; ".join(problems) or f"{len(ours)} fires, 0 missed",
            extra={
                "baseline_p50": percentile(base, 0.5),
                "jobdeck_p50": percentile(ours, 0.5),
                "baseline_lost": base_lost,
                "records": counts,
            },
        )
    ]
