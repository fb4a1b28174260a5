"""Pure view models of the dashboard: job rows (search, filter, sort), schedule words, the duration chart."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from jobdeck.errors import InvalidSchedule
from jobdeck.models import Execution, ExecutionStatus
from jobdeck.schedules import describe_schedule, parse_schedule
from jobdeck.service import JobOverview, JobSummary

__all__ = [
    "SORT_KEYS",
    "STATES",
    "Bar",
    "DurationChart",
    "JobRow",
    "duration_chart",
    "filter_rows",
    "job_row",
    "schedule_words",
    "sort_rows",
]

STATES = ("active", "paused", "running")
SORT_KEYS = ("id", "name", "state", "next", "last", "rate")


def schedule_words(expression: str, timezone: str, language: str) -> str:
    """The schedule in words (``every 5 minutes, 09:00–15:59, Mon–Fri``); the expression itself if it won't parse."""
    try:
        return describe_schedule(parse_schedule(expression, timezone=timezone), language=language)
    except InvalidSchedule:
        return expression


@dataclass(frozen=True, kw_only=True, slots=True)
class JobRow:
    id: str
    name: str
    display_name: str | None
    description: str | None
    schedule: str
    schedule_words: str
    overridden: bool
    timezone: str
    tags: tuple[str, ...]
    paused: bool
    running: int
    next_run: datetime | None
    last: Execution | None
    success_rate: float | None
    """Percent of finished runs that succeeded; None before any run finished."""

    @property
    def state(self) -> str:
        if self.running:
            return "running"
        return "paused" if self.paused else "active"

    @property
    def title(self) -> str:
        return self.display_name or self.id


def job_row(job: JobSummary, overview: JobOverview | None, language: str) -> JobRow:
    spec = job.spec
    stats = overview.stats if overview is not None else None
    finished = 0 if stats is None else stats.success + stats.failed + stats.cancelled
    return JobRow(
        id=spec.id,
        name=spec.func.rpartition(":")[2] or spec.id,
        display_name=job.display_name,
        description=job.description,
        schedule=job.schedule,
        schedule_words=schedule_words(job.schedule, spec.timezone, language),
        overridden=job.schedule_overridden,
        timezone=spec.timezone,
        tags=spec.tags,
        paused=job.paused,
        running=job.running,
        next_run=job.next_run_time,
        last=None if stats is None else stats.last_execution,
        success_rate=stats.success_rate if stats is not None and finished else None,
    )


def filter_rows(rows: Sequence[JobRow], *, query: str = "", state: str = "", tag: str = "") -> list[JobRow]:
    """Rows matching every given criterion: ``query`` in id / name / display name / description (any case),
    ``state`` (active: not paused | paused | running: a run is going), ``tag``."""
    needle = query.strip().casefold()
    kept = []
    for row in rows:
        if needle and not any(
            needle in (text or "").casefold() for text in (row.id, row.name, row.display_name, row.description)
        ):
            continue
        if (state == "active" and row.paused) or (state == "paused" and not row.paused):
            continue
        if state == "running" and not row.running:
            continue
        if tag and tag not in row.tags:
            continue
        kept.append(row)
    return kept


def sort_rows(rows: Sequence[JobRow], key: str, descending: bool = False) -> list[JobRow]:
    """Rows sorted by one of SORT_KEYS (unknown keys keep the given order); rows without a value go last."""
    if key not in SORT_KEYS:
        return list(rows)
    present: list[JobRow] = []
    missing: list[JobRow] = []
    for row in rows:
        (missing if _sort_value(row, key) is None else present).append(row)
    present.sort(key=lambda row: (_sort_value(row, key), row.id), reverse=descending)
    return present + missing


def _sort_value(row: JobRow, key: str) -> object:
    if key == "id":
        return row.id
    if key == "name":
        return row.title.casefold()
    if key == "state":
        return STATES.index(row.state)
    if key == "next":
        return row.next_run
    if key == "last":
        return None if row.last is None else row.last.started_at
    return row.success_rate


@dataclass(frozen=True, kw_only=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    status: str
    execution: Execution


@dataclass(frozen=True, kw_only=True, slots=True)
class DurationChart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    max_seconds: float
    statuses: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.bars


def duration_chart(executions: Sequence[Execution], *, width: int = 600, height: int = 140) -> DurationChart:
    """Bars of the runs' durations, oldest on the left; runs without a duration (running, missed, skipped) get a
    short stub in their status colour rather than a gap or an error."""
    runs = sorted(executions, key=lambda e: (e.started_at, e.id))[-50:]
    durations = [e.execution_time for e in runs]
    top = max((d for d in durations if d is not None), default=0.0) or 1.0
    slot = width / 50
    gap = min(2.0, slot * 0.2)
    stub = 3.0
    bars = []
    for index, (execution, duration) in enumerate(zip(runs, durations, strict=True)):
        h = stub if duration is None else max(stub, (duration / top) * (height - 4))
        bars.append(
            Bar(
                x=round(index * slot + gap / 2, 2),
                y=round(height - h, 2),
                width=round(slot - gap, 2),
                height=round(h, 2),
                status=execution.status.value,
                execution=execution,
            )
        )
    seen = tuple(s.value for s in ExecutionStatus if any(b.status == s.value for b in bars))
    return DurationChart(width=width, height=height, bars=tuple(bars), max_seconds=top, statuses=seen)
