"""The typed events of the bus (:mod:`jobdeck.events`): one frozen dataclass per kind of state change.

``kind`` and ``action`` (class attributes) name an event on the SSE wire, with the fields of :class:`ChangeEvent`;
the rest is for consumers in this process. A new kind of change is a new subclass here, published where the change
is written (:class:`~jobdeck.events.PublishingStore`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from jobdeck.models import AuditEntry, Execution, JobMetadata

__all__ = [
    "Audited",
    "CancelRequested",
    "ChangeEvent",
    "JobEvent",
    "JobPaused",
    "JobResumed",
    "LogAppended",
    "LogTrimmed",
    "MetadataChanged",
    "ProgressReported",
    "Resync",
    "RunDeleted",
    "RunEvent",
    "RunFinished",
    "RunMissed",
    "RunSkipped",
    "RunStarted",
    "RunsForceClosed",
    "ScheduleChanged",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class ChangeEvent:
    """The root of every event: one state change, typed by its class (``kind`` and ``action`` say which on the wire).

    Fields common to all are what the SSE stream sends (:meth:`as_json`); subclasses add what a consumer needs.
    """

    kind: ClassVar[str] = "change"
    action: ClassVar[str] = "change"
    public: ClassVar[bool] = True
    """Sent to SSE clients; internal events (an audit entry) stay on the bus."""
    at: datetime
    job_id: str | None = None
    execution_ids: tuple[str, ...] = ()
    status: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The SSE ``data`` of this event (the dashboard's and the TS client's contract: keep it byte-stable)."""
        return {
            "kind": self.kind,
            "action": self.action,
            "at": self.at.isoformat(),
            "job_id": self.job_id,
            "execution_ids": list(self.execution_ids),
            "status": self.status,
        }


# -- runs --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class RunEvent(ChangeEvent):
    """Something about one or more executions."""

    kind: ClassVar[str] = "execution"


@dataclass(frozen=True, kw_only=True, slots=True)
class RunStarted(RunEvent):
    """A fire (scheduled, manual, retry) claimed its record: the run is going. Fired and started are one moment
    at the store, so one event says both."""

    action: ClassVar[str] = "started"
    execution: Execution


@dataclass(frozen=True, kw_only=True, slots=True)
class RunMissed(RunEvent):
    """A fire came past its misfire grace and did not run; ``message`` says by how much."""

    action: ClassVar[str] = "missed"
    execution: Execution
    message: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RunSkipped(RunEvent):
    """A fire was dropped (max_instances reached); ``message`` says why."""

    action: ClassVar[str] = "skipped"
    execution: Execution
    message: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ProgressReported(RunEvent):
    """Running executions wrote progress (one event per flushed batch)."""

    action: ClassVar[str] = "progress"


@dataclass(frozen=True, kw_only=True, slots=True)
class CancelRequested(RunEvent):
    action: ClassVar[str] = "cancel_requested"


@dataclass(frozen=True, kw_only=True, slots=True)
class RunFinished(RunEvent):
    """A run reached its terminal ``status``, by its own end, a cancel or an operator's mark-failed."""

    action: ClassVar[str] = "finished"
    message: str | None = None
    """The run's error, when it failed or was cancelled with a reason."""
    finished_at: datetime | None = None
    """The record's own end time (not the event's)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RunsForceClosed(RunFinished):
    """Zombies: runs jobdeck closed itself (the zombie sweep, start-up recovery, shutdown), not the runs' end."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RunDeleted(RunEvent):
    action: ClassVar[str] = "deleted"


@dataclass(frozen=True, kw_only=True, slots=True)
class LogAppended(ChangeEvent):
    kind: ClassVar[str] = "log"
    action: ClassVar[str] = "appended"


@dataclass(frozen=True, kw_only=True, slots=True)
class LogTrimmed(ChangeEvent):
    kind: ClassVar[str] = "log"
    action: ClassVar[str] = "trimmed"


# -- jobs --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class JobEvent(ChangeEvent):
    """An operator (or jobdeck, for a timed pause ending) changed a job."""

    kind: ClassVar[str] = "job"
    actor: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class JobPaused(JobEvent):
    action: ClassVar[str] = "paused"
    until: datetime | None = None
    """When a timed pause ends by itself."""


@dataclass(frozen=True, kw_only=True, slots=True)
class JobResumed(JobEvent):
    action: ClassVar[str] = "resumed"


@dataclass(frozen=True, kw_only=True, slots=True)
class ScheduleChanged(JobEvent):
    action: ClassVar[str] = "schedule_changed"
    expression: str | None = None
    """The override in effect; None when the configured schedule applies again."""


@dataclass(frozen=True, kw_only=True, slots=True)
class MetadataChanged(JobEvent):
    action: ClassVar[str] = "metadata_changed"
    metadata: JobMetadata | None = None


# -- the rest ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Audited(ChangeEvent):
    """An audit entry was written (an operator action and its outcome). Stays on the bus: not sent to SSE clients,
    whose pages read the history themselves."""

    kind: ClassVar[str] = "audit"
    action: ClassVar[str] = "recorded"
    public: ClassVar[bool] = False
    entry: AuditEntry


@dataclass(frozen=True, kw_only=True, slots=True)
class Resync(ChangeEvent):
    """Events were dropped for a subscriber that could not keep up: reload everything."""

    kind: ClassVar[str] = "resync"
    action: ClassVar[str] = "resync"
