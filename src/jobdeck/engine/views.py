"""The engine's registry entries and the read-only view of a registered job."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jobdeck.engine.executors import Executor
from jobdeck.models import JobSpec, OverlapPolicy, Schedule

__all__ = ["Entry", "JobView"]


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
