"""The job list's read model: the one cache of the job summaries and of their rendered JSON.

The job list is the most requested read (``GET /api/scheduler/jobs``, the dashboard's pages, the CLI's status), so
:class:`JobList` keeps its answer and rebuilds it only when an input moved:

* the event bus — a job paused, resumed, rescheduled or renamed — told it (it is a :class:`~jobdeck.events.Listener`);
* the engine's :meth:`~jobdeck.engine.EngineHandle.state_key` moved: a fire moves a next run time, which the engine
  does not publish (yet) as an event;
* the running counts changed: this process's runs from its engine (exact, at once — a run counts from its claim,
  before its record is written), other processes' from the store, re-read after :data:`RUNNING_COUNTS_TTL`;
* the store's job metadata changed (another process may have edited it).

A rebuild reuses each job's summary whose inputs are the same object-for-object (a fire moves one job), and
:meth:`JobList.rendered` each job's rendered row while its summary is the same object: the list's JSON is built
once per change, not per request.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Protocol

from jobdeck.engine import EngineHandle, JobView
from jobdeck.events import ChangeEvent, EventBus, JobEvent, Resync
from jobdeck.models import JobMetadata
from jobdeck.readmodels import JobSummary
from jobdeck.store.base import ServiceStore

__all__ = ["RUNNING_COUNTS_TTL", "JobList", "RowRenderer", "job_summary"]

RUNNING_COUNTS_TTL = 1.0
"""Seconds the job list reuses a read of other processes' running counts (replicas, the CLI), as the store's
metadata cache does. This process's own runs are counted by its engine, so they show at once."""
_RENDERERS = 8
"""Renderings kept (one per display timezone and format); past this the cache starts again."""


class RowRenderer(Hashable, Protocol):
    """Renders one job's row (a JSON object): hashable, equal renderers render the same bytes."""

    def __call__(self, job: JobSummary, /) -> bytes: ...


_Inputs = tuple[JobView, JobMetadata | None, int]


class JobList:
    """The job summaries, in registration order, and their rendered rows, rebuilt only when an input moved."""

    event_types: tuple[type[ChangeEvent], ...] = (JobEvent, Resync)

    def __init__(self, *, engine: EngineHandle, store: ServiceStore, bus: EventBus) -> None:
        self._engine = engine
        self._store = store
        self._changes = 0
        """Bumped by every job event (on the publisher's thread: an int is all it touches)."""
        self._key: object = None
        self._snapshot: tuple[JobSummary, ...] = ()
        self._inputs: dict[str, tuple[_Inputs, JobSummary]] = {}
        self._elsewhere: tuple[float, dict[str, int]] | None = None
        """Other processes' running counts, and until when they are reused."""
        self._rendered: dict[Hashable, tuple[tuple[JobSummary, ...], bytes, dict[str, tuple[JobSummary, bytes]]]] = {}
        bus.attach(self)

    def wants(self, event_type: type[ChangeEvent], status: str | None) -> bool:
        """Every job event: any may change a row."""
        return True

    def __call__(self, event: ChangeEvent) -> None:
        """A job changed: the next read rebuilds."""
        self._changes += 1

    async def summaries(self) -> tuple[JobSummary, ...]:
        """Every registered job, in registration order: the same tuple (and summaries) while nothing changed."""
        metadata = await self._store.job_metadata()
        running = await self.running_counts()
        key = (self._engine.state_key(), self._changes, metadata, running)
        if key == self._key:
            return self._snapshot
        previous, current = self._inputs, {}
        summaries = []
        for view in self._engine.jobs():
            job_id = view.spec.id
            inputs = (view, metadata.get(job_id), running.get(job_id, 0))
            before = previous.get(job_id)
            summary = before[1] if before is not None and before[0] == inputs else job_summary(*inputs)
            current[job_id] = (inputs, summary)
            summaries.append(summary)
        self._inputs = current
        self._snapshot, self._key = tuple(summaries), key
        return self._snapshot

    async def running_counts(self) -> dict[str, int]:
        """Running executions per job: this process's from its engine (no query: runs start and end all the time),
        others' from the store, re-read after :data:`RUNNING_COUNTS_TTL`."""
        now = time.monotonic()
        cached = self._elsewhere
        if cached is None or now >= cached[0]:
            options = self._engine.options
            elsewhere = await self._store.count_running(other_than=(options.host, options.pid))
            cached = self._elsewhere = (now + RUNNING_COUNTS_TTL, elsewhere)
        running = self._engine.local_running_counts()
        for job_id, count in cached[1].items():
            running[job_id] = running.get(job_id, 0) + count
        return running

    async def rendered(self, render: RowRenderer) -> bytes:
        """The JSON array of every job's row as ``render`` writes it (compact: rows joined by a bare comma, as
        pydantic writes a list). Built once per change of the list, each row once per change of its job."""
        jobs = await self.summaries()
        cached = self._rendered.get(render)
        if cached is not None and cached[0] is jobs:
            return cached[1]
        previous = cached[2] if cached is not None else {}
        rows: dict[str, tuple[JobSummary, bytes]] = {}
        for job in jobs:
            row = previous.get(job.id)
            if row is None or row[0] is not job:
                row = (job, render(job))
            rows[job.id] = row
        data = b"[" + b",".join(row[1] for row in rows.values()) + b"]"
        if cached is None and len(self._rendered) >= _RENDERERS:
            self._rendered.clear()
        self._rendered[render] = (jobs, data, rows)
        return data


def job_summary(view: JobView, metadata: JobMetadata | None, running: int) -> JobSummary:
    """A job's summary from the engine's view of it, its stored metadata (which wins over the configured names)
    and its running count."""
    spec = view.spec
    display_name = spec.display_name
    description = spec.description
    if metadata is not None:
        display_name = metadata.display_name if metadata.display_name is not None else display_name
        description = metadata.description if metadata.description is not None else description
    return JobSummary(
        spec=spec,
        schedule=view.schedule.expression,
        active_schedule=view.schedule,
        configured_schedule=spec.schedule.expression,
        schedule_overridden=view.schedule_overridden,
        paused=view.paused,
        next_run_time=view.next_run_time,
        display_name=display_name,
        description=description,
        running=running,
        paused_until=view.paused_until,
        parameters=view.parameters,
    )
