"""What every scenario shares: sizes, result rows, targets, percentiles, jobdeck and APScheduler set-ups."""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

Size = Literal["smoke", "quick", "full"]
SEED = 20260306

PG_URL = os.environ.get("JOBDECK_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class Config:
    """How big to make a scenario, and where it may write."""

    size: Size
    workdir: Path
    seed: int = SEED

    def pick(self, *, smoke: Any, quick: Any, full: Any) -> Any:
        return {"smoke": smoke, "quick": quick, "full": full}[self.size]


@dataclass(frozen=True)
class Target:
    """A pass condition on (baseline, jobdeck). ``kind``: ``ratio_max`` (jobdeck ≤ k × baseline), ``ratio_min``
    (jobdeck ≥ k × baseline), ``plus_max`` (jobdeck ≤ baseline + k), ``info`` (no target)."""

    kind: Literal["ratio_max", "ratio_min", "plus_max", "info"]
    value: float = 0.0
    unit: str = ""

    def text(self) -> str:
        if self.kind == "ratio_max":
            return f"≤ {self.value:g}×"
        if self.kind == "ratio_min":
            return f"≥ {self.value:g}×"
        if self.kind == "plus_max":
            return f"≤ base + {self.value:g} {self.unit}".rstrip()
        return "—"

    def check(self, baseline: float, jobdeck: float) -> bool | None:
        if self.kind == "info":
            return None
        if not (math.isfinite(baseline) and math.isfinite(jobdeck)):
            return False
        if self.kind == "ratio_max":
            return jobdeck <= self.value * baseline
        if self.kind == "ratio_min":
            return jobdeck >= self.value * baseline
        return jobdeck <= baseline + self.value


@dataclass
class Row:
    """One line of the results table."""

    name: str
    baseline: float
    jobdeck: float
    unit: str
    target: Target
    ok: bool = True
    """False when a correctness condition of the scenario failed (lost or missed records …): the row fails."""
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        if self.baseline == 0:
            return math.inf if self.jobdeck else 1.0
        return self.jobdeck / self.baseline

    @property
    def passed(self) -> bool | None:
        verdict = self.target.check(self.baseline, self.jobdeck)
        if not self.ok:
            return False
        return verdict

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "baseline": _finite(self.baseline),
            "jobdeck": _finite(self.jobdeck),
            "unit": self.unit,
            "ratio": _finite(round(self.ratio, 4)),
            "target": self.target.text(),
            "pass": self.passed,
            "notes": self.notes,
            **({"extra": self.extra} if self.extra else {}),
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def at_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def next_instant(lead: float) -> float:
    """A whole-millisecond epoch instant ``lead`` seconds from now (a fire instant both sides can aim at)."""
    return math.ceil((time.time() + lead) * 1000) / 1000


async def sleep_until(epoch: float) -> None:
    delay = epoch - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def wait_for(probe: Callable[[], bool], *, timeout: float, interval: float = 0.005) -> bool:  # noqa: ASYNC109
    """Poll an in-memory condition; True when it held before the deadline."""
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)
    return True


# -- jobdeck ------------------------------------------------------------------------------------------------------


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def jobdeck_settings(database_url: str, **overrides: Any) -> Any:
    from jobdeck.config import Settings

    values: dict[str, Any] = {
        "database_url": database_url,
        "timezone": "UTC",
        "secret_key": "bench-secret-key-0123456789abcdef0123456789",
        "admin_password": "bench-admin-password",
        "misfire_grace": 60.0,
        "jobs_file": None,
    }
    values.update(overrides)
    return Settings(**values)


def once_spec(job_id: str, function: Callable[..., Any], fire_at: float, **options: Any) -> Any:
    """A JobSpec firing once at the epoch instant ``fire_at``."""
    from jobdeck.models import JobSpec
    from jobdeck.schedules import parse_schedule

    schedule = parse_schedule(at_epoch(fire_at).isoformat(), timezone="UTC")
    return JobSpec(id=job_id, func=f"bench:{job_id}", function=function, schedule=schedule, **options)


def interval_spec(job_id: str, function: Callable[..., Any], seconds: int, phase: float, **options: Any) -> Any:
    """A JobSpec firing every ``seconds`` at ``epoch + phase + n·seconds``."""
    import dataclasses

    from jobdeck.models import JobSpec
    from jobdeck.schedules import EPOCH, parse_schedule

    schedule = parse_schedule(f"every {seconds}s", timezone="UTC")
    schedule = dataclasses.replace(schedule, origin=EPOCH + timedelta(seconds=phase))
    return JobSpec(id=job_id, func=f"bench:{job_id}", function=function, schedule=schedule, **options)


def as_server_process() -> None:
    """Tune this process as ``jobdeck serve`` tunes its own once started (:mod:`jobdeck.server`: the heap alive now
    frozen out of the garbage collector's sight, a 0.1 ms thread switch interval). The timing scenarios call it on
    both sides, once the baseline's jobs or jobdeck's runtime are set up: on this kind of VM a full collection of a
    start-up heap takes 100–150 ms, a pause that would otherwise be the p99 of whichever side collected during its
    window; and jobdeck's store driver runs on a thread of its own, which waits for the GIL one switch interval."""
    from jobdeck.server import SWITCH_INTERVAL, freeze_startup_heap, pause_collection_in_bursts

    sys.setswitchinterval(SWITCH_INTERVAL)
    pause_collection_in_bursts()
    freeze_startup_heap()


async def start_runtime(settings: Any, specs: Sequence[Any]) -> Any:
    import logging
    import os

    from jobdeck.process_log import ProcessLog, configure_logging
    from jobdeck.runtime import Runtime

    runtime = await Runtime.start(settings, specs)
    # As `jobdeck serve` runs (its lifespan attaches the process log): the process log listening at INFO, its
    # lines written to nowhere. It stays attached until the process ends.
    configure_logging(settings, stream=open(os.devnull, "w"))  # noqa: SIM115, ASYNC230
    logging.getLogger("jobdeck").setLevel(logging.INFO)
    runtime.events.listen(ProcessLog()).__enter__()
    return runtime


async def execution_counts(store: Any) -> dict[str, int]:
    """Executions per status (a direct count: the truth the scenarios check against)."""
    from jobdeck.models import ExecutionQuery, ExecutionStatus

    counts: dict[str, int] = {}
    for status in ExecutionStatus:
        page = await store.list_executions(ExecutionQuery(status=status, limit=1))
        counts[status.value] = page.total
    return counts


def quiet_logs() -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


# -- bare APScheduler ------------------------------------------------------------------------------------------


def apscheduler(jobstore: Any = None) -> Any:
    """An AsyncIOScheduler on UTC with a memory job store (or ``jobstore``) and its asyncio executor."""
    from apscheduler.executors.asyncio import AsyncIOExecutor
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    return AsyncIOScheduler(
        timezone=UTC,
        jobstores={"default": jobstore if jobstore is not None else MemoryJobStore()},
        executors={"default": AsyncIOExecutor()},
        job_defaults={"misfire_grace_time": 60, "coalesce": True, "max_instances": 1},
    )
