"""Scenario 1 — burst: N no-op coroutine jobs due at the same instant.

Figure: time from the fire instant to the last job's start (ms). Baseline: bare APScheduler (memory store, its
asyncio executor, nothing recorded). jobdeck: the full runtime on SQLite, every fire recorded; the row also checks
that every fire ended as exactly one ``success`` record and none was missed. Target: ≤ 3× the baseline.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.common import (
    Config,
    Row,
    Target,
    apscheduler,
    as_server_process,
    execution_counts,
    jobdeck_settings,
    median,
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


async def baseline_burst(count: int) -> float:
    from apscheduler.triggers.date import DateTrigger

    STARTS.clear()
    scheduler = apscheduler()
    scheduler.start()
    fire_at = next_instant(0.5 + count / 20_000)
    trigger = DateTrigger(run_date=_dt(fire_at))
    for i in range(count):
        scheduler.add_job(noop, trigger=trigger, id=f"job{i}")
    as_server_process()
    await sleep_until(fire_at)
    done = await wait_for(lambda: len(STARTS) >= count, timeout=60 + count / 100)
    scheduler.shutdown(wait=False)
    if not done:
        raise RuntimeError(f"bare APScheduler started {len(STARTS)} of {count} jobs")
    return (max(STARTS) - fire_at) * 1000


async def jobdeck_burst(count: int, cfg: Config, run: int) -> tuple[float, dict[str, int]]:
    STARTS.clear()
    lead = 3.0 + count / 2_000
    fire_at = next_instant(lead)
    specs = [once_spec(f"job{i}", noop, fire_at) for i in range(count)]
    settings = jobdeck_settings(sqlite_url(cfg.workdir / f"burst-{count}-{run}.db"))
    runtime = await start_runtime(settings, specs)
    as_server_process()
    try:
        if time.time() > fire_at:
            raise RuntimeError("jobdeck took longer to start than the lead time; raise it")
        await sleep_until(fire_at)
        started = await wait_for(lambda: len(STARTS) >= count, timeout=60 + count / 100)
        figure = (max(STARTS) - fire_at) * 1000 if STARTS else float("nan")
        # Every record closed (the runner forgets a run only after its record is closed).
        await wait_for(lambda: started and not runtime.engine.local_running(), timeout=60)
    finally:
        await runtime.stop()
    counts = await _counts(settings.database_url)
    return figure, counts


async def _counts(url: str) -> dict[str, int]:
    from jobdeck.store import SqlStore

    store = SqlStore(url)
    await store.open()
    try:
        return await execution_counts(store)
    finally:
        await store.close()


def _dt(epoch: float) -> Any:
    from bench.common import at_epoch

    return at_epoch(epoch)


def run(cfg: Config) -> list[Row]:
    quiet_logs()
    sizes: list[int] = cfg.pick(smoke=[200], quick=[1_000, 10_000], full=[1_000, 10_000])
    repeats: int = cfg.pick(smoke=1, quick=1, full=5)
    rows = []
    for count in sizes:
        reps = repeats if count <= 1_000 else 1
        # Interleaved, as the reads scenario's calls are: on a shared VM whose speed drifts from one minute to the
        # next, both sides' medians then come from the same stretch of time.
        base: list[float] = []
        ours: list[tuple[float, dict[str, int]]] = []
        for i in range(reps):
            base.append(asyncio.run(baseline_burst(count)))
            ours.append(asyncio.run(jobdeck_burst(count, cfg, i)))
        problems = []
        for _, counts in ours:
            total = sum(counts.values())
            if counts["success"] != count or total != count:
                problems.append(f"records {counts} (expected {count} success)")
        rows.append(
            Row(
                name=f"burst {count:,} jobs: fire → last start",
                baseline=median(base),
                jobdeck=median([figure for figure, _ in ours]),
                unit="ms",
                target=Target("ratio_max", 3),
                ok=not problems,
                notes="; ".join(problems) or f"{count} success records, 0 missed",
                extra={"baseline_runs": base, "jobdeck_runs": [f for f, _ in ours]},
            )
        )
    return rows
