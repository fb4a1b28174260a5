"""The engine's registry entries and the read-only view of a registered job."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jobdeck.engine.executors import Executor
from jobdeck.models import JobSpec, OverlapPolicy, Schedule

__all__ = ["Entry", "JobView", "JobViews", "view_of"]


@dataclass(frozen=True, kw_only=True, slots=True)
class JobView:
    """A registered job as it stands now."""

    spec: JobSpec
    schedule: Schedule
    """The schedule in effect: the operator's override when there is one, else the configured one."""
    schedule_overridden: bool
    paused: bool
    next_run_time: datetime | None
    """Next fire time in UTC; None while paused, when the schedule has no future fire, or (engine stopped)
    computed from the schedule alone."""
    paused_until: datetime | None = None
    """When a timed pause ends by itself."""
    parameters: Mapping[str, Any] | None = None
    """The JSON schema of the job's kwargs (Python jobs), or None."""

    @property
    def overlap(self) -> OverlapPolicy:
        return self.spec.overlap_policy


@dataclass(kw_only=True, slots=True)
class Entry:
    spec: JobSpec
    executor: Executor
    override: Schedule | None
    paused: bool
    paused_until: datetime | None = None
    catch_up_after: datetime | None = None
    """The instant catch-up starts after: the last fire time, or a later operator change of the job's state."""

    @property
    def schedule(self) -> Schedule:
        return self.override if self.override is not None else self.spec.schedule


def view_of(entry: Entry, *, next_run: datetime | None) -> JobView:
    """The view of a registered job whose next run time is ``next_run``."""
    return JobView(
        spec=entry.spec,
        schedule=entry.schedule,
        schedule_overridden=entry.override is not None,
        paused=entry.paused,
        next_run_time=None if entry.paused else next_run,
        paused_until=entry.paused_until if entry.paused else None,
        parameters=entry.executor.parameters,
    )


class JobViews:
    """The job list's views: a job's view is the same object as in the previous answer while nothing about the job
    changed (the job list asks after every fire, and one fire moves one job)."""

    def __init__(self) -> None:
        self._made_in: object = None
        self._views: dict[str, JobView] = {}

    def answer(
        self, entries: Mapping[str, Entry], runs: Mapping[str, datetime | None], *, made_in: object
    ) -> list[JobView]:
        """Every entry's view, in order. ``runs``: every job's next run time; ``made_in``: equal between two calls
        while no job was registered, paused, resumed or rescheduled (views made in another state are not reused)."""
        previous = self._views if self._made_in == made_in else {}
        views = {}
        for job_id, entry in entries.items():
            next_run = None if entry.paused else runs.get(job_id)
            view = previous.get(job_id)
            if view is None or view.next_run_time != next_run:
                view = view_of(entry, next_run=next_run)
            views[job_id] = view
        self._made_in, self._views = made_in, views
        return list(views.values())
