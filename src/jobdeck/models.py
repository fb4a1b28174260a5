"""Frozen, keyword-only domain types. Every datetime here is timezone-aware UTC."""

from __future__ import annotations

import enum
import operator
import shlex
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from itertools import repeat
from typing import Any, Generic, TypeVar

__all__ = [
    "ApiToken",
    "AuditAction",
    "AuditEntry",
    "AuditOutcome",
    "AuditQuery",
    "CommandTarget",
    "Execution",
    "ExecutionQuery",
    "ExecutionStats",
    "ExecutionStatus",
    "HttpTarget",
    "JobKind",
    "JobMetadata",
    "JobSpec",
    "JobState",
    "LogLine",
    "OverlapPolicy",
    "Page",
    "Principal",
    "ProgressUpdate",
    "Role",
    "Schedule",
    "ScheduleKind",
    "TriggerKind",
    "User",
    "execution_from_fields",
]

T = TypeVar("T")


class ExecutionStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"
    MISSED = "missed"
    """The fire time passed beyond the misfire grace; the job did not run."""
    SKIPPED = "skipped"
    """The fire was dropped because max_instances runs were already going."""

    @property
    def is_terminal(self) -> bool:
        return self is not ExecutionStatus.RUNNING


class TriggerKind(enum.StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    RETRY = "retry"


class JobKind(enum.StrEnum):
    PYTHON = "python"
    COMMAND = "command"
    HTTP = "http"


class OverlapPolicy(enum.StrEnum):
    """What a scheduled fire does while the job is still running."""

    SKIP = "skip"
    """Drop the fire and record it ``skipped`` (runs never overlap)."""
    QUEUE = "queue"
    """Wait for the running one to end, then run; at most one fire waits, later ones are recorded ``skipped``."""
    ALLOW = "allow"
    """Run alongside, up to ``max_instances`` runs; beyond that the fire is recorded ``skipped``."""
    REPLACE = "replace"
    """Cancel the running one and start the new one."""


class Role(enum.StrEnum):
    VIEWER = "viewer"
    ADMIN = "admin"


class AuditOutcome(enum.StrEnum):
    SUCCESS = "success"
    FAILED = "failed"


class AuditAction(enum.StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    TRIGGER = "trigger"
    UPDATE_METADATA = "update_metadata"
    UPDATE_SCHEDULE = "update_schedule"
    RESET_SCHEDULE = "reset_schedule"
    CANCEL = "cancel"
    MARK_FAILED = "mark_failed"
    DELETE_EXECUTION = "delete_execution"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    """Rolled up: one entry per (username, address, hour) whose ``details.count`` grows (see AuditTrail.roll_up)."""
    ACCESS_DENIED = "access_denied"
    """A refused attempt at a change (401/403), rolled up like failed sign-ins."""
    LOGOUT = "logout"
    SET_ROLE = "set_role"
    DISABLE_USER = "disable_user"
    ENABLE_USER = "enable_user"
    CREATE_USER = "create_user"
    SET_PASSWORD = "set_password"
    CREATE_TOKEN = "create_token"
    REVOKE_TOKEN = "revoke_token"
    IMPORT_METADATA = "import_metadata"


class ScheduleKind(enum.StrEnum):
    CRON = "cron"
    DAILY = "daily"
    INTERVAL = "interval"
    ONCE = "once"


@dataclass(frozen=True, kw_only=True, slots=True)
class Schedule:
    """A parsed schedule string. Build one with :func:`jobdeck.schedules.parse_schedule`.

    ``expression`` is the string as written. Cron and daily schedules carry the sets of matching minutes, hours,
    days of month, months and weekdays (0 = Monday); interval schedules carry ``interval`` and fire at
    ``origin + n * interval`` so every replica computes the same instants; a once schedule carries ``at``.
    ``timezone`` is the IANA name wall-clock fields are read in.
    """

    expression: str
    kind: ScheduleKind
    timezone: str = "UTC"
    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()
    day_restricted: bool = False
    weekday_restricted: bool = False
    interval: timedelta | None = None
    origin: datetime | None = None
    at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CommandTarget:
    """A command job's process: ``argv`` run directly (no shell), or ``script`` run by ``/bin/sh -c``."""

    argv: tuple[str, ...] = ()
    shell: bool = False
    script: str | None = None
    """With ``shell``: the command line given to the shell."""
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    """Added to (and overriding) jobdeck's own environment."""

    def describe(self) -> str:
        """The command as one line, for listings."""
        return self.script if self.shell and self.script is not None else shlex.join(self.argv)


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpTarget:
    """An HTTP job's request."""

    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    """A JSON body (mutually exclusive with ``body``)."""
    body: str | None = None
    """A text body."""
    expect_status: tuple[int, ...] = ()
    """Statuses that count as success; empty: any 2xx."""
    timeout: float = 30.0
    """Seconds for the whole request (connect, send, receive)."""

    def describe(self) -> str:
        return f"{self.method} {self.url}"


@dataclass(frozen=True, kw_only=True, slots=True)
class JobSpec:
    """One job as configured (jobs file or decorator). Operator overrides live in :class:`JobState`."""

    id: str
    func: str
    """``"package.module:function"``; for decorated functions the function's own qualified reference."""
    schedule: Schedule
    function: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    """The resolved callable, when known (decorator registration, or after import)."""
    kind: JobKind = JobKind.PYTHON
    timezone: str = "UTC"
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    display_name: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    enabled: bool = True
    paused: bool = False
    max_instances: int = 1
    coalesce: bool = True
    misfire_grace: float = 60.0
    timeout: float | None = None
    retries: int = 0
    retry_backoff: float = 30.0
    jitter: float | None = None
    command: CommandTarget | None = None
    """The process of a ``command`` job."""
    http: HttpTarget | None = None
    """The request of an ``http`` job."""
    overlap: OverlapPolicy | None = None
    """None: ``allow`` when ``max_instances`` > 1, else ``skip`` (see :attr:`overlap_policy`)."""
    retry_backoff_max: float = 3600.0
    """Cap of the exponential retry backoff, in seconds."""

    @property
    def overlap_policy(self) -> OverlapPolicy:
        """The overlap policy in effect."""
        if self.overlap is not None:
            return self.overlap
        return OverlapPolicy.ALLOW if self.max_instances > 1 else OverlapPolicy.SKIP

    @property
    def target(self) -> str:
        """What the job runs, as one line: ``module:function``, the command, or ``METHOD url``."""
        if self.command is not None:
            return self.command.describe()
        if self.http is not None:
            return self.http.describe()
        return self.func


@dataclass(frozen=True, kw_only=True, slots=True)
class JobState:
    """What operators changed about a job; persisted so it survives restarts."""

    job_id: str
    paused: bool | None = None
    """None: the configured initial state applies."""
    schedule_override: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None
    paused_until: datetime | None = None
    """A timed pause: the job resumes by itself at this instant."""
    last_fire_time: datetime | None = None
    """The newest fire time handed over for this job (run, skipped or missed): catch-up starts after it."""


@dataclass(frozen=True, kw_only=True, slots=True)
class JobMetadata:
    job_id: str
    display_name: str | None = None
    description: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None
    """None while the row only mirrors the configuration; an operator's name once edited."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Execution:
    """One run attempt of a job, or one fire that did not run (missed / skipped)."""

    id: str
    job_id: str
    job_name: str
    status: ExecutionStatus
    scheduled_time: datetime
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    trigger: TriggerKind = TriggerKind.SCHEDULE
    triggered_by: str | None = None
    attempt: int = 1
    retry_of: str | None = None
    force: bool = False
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    return_value: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    progress: float | None = None
    progress_message: str | None = None
    current_item: str | None = None
    total_items: int | None = None
    processed_items: int | None = None
    cancel_requested: bool = False
    host: str | None = None
    pid: int | None = None
    heartbeat_at: datetime | None = None
    retry_at: datetime | None = None
    """Set on a failed attempt that will be retried: when attempt + 1 is due."""

    @property
    def is_manual(self) -> bool:
        return self.trigger is TriggerKind.MANUAL

    @property
    def execution_time(self) -> float | None:
        """Seconds from start to finish; None while running and for fires that never ran."""
        if self.finished_at is None or self.status in (ExecutionStatus.MISSED, ExecutionStatus.SKIPPED):
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def delay(self) -> float | None:
        """Seconds from the scheduled time to the start."""
        if self.status in (ExecutionStatus.MISSED, ExecutionStatus.SKIPPED):
            return None
        return (self.started_at - self.scheduled_time).total_seconds()


_EXECUTION_SETTERS = tuple(getattr(Execution, f.name).__set__ for f in fields(Execution))


def execution_from_fields(values: Sequence[Any]) -> Execution:
    """An :class:`Execution` from the values of all its fields, in declaration order, for code that makes many at
    once (the rows of a page, the records of a burst): about half the cost of the keyword constructor, which sets
    a frozen instance's 27 fields one ``object.__setattr__`` call at a time. Values are stored as given."""
    if len(values) != len(_EXECUTION_SETTERS):
        raise ValueError(f"an Execution has {len(_EXECUTION_SETTERS)} fields, got {len(values)} values")
    execution = object.__new__(Execution)
    # The slots' own setters (the frozen __setattr__ refuses), called from C: no Python frame per field.
    deque(map(operator.call, _EXECUTION_SETTERS, repeat(execution), values), maxlen=0)
    return execution


@dataclass(frozen=True, kw_only=True, slots=True)
class ProgressUpdate:
    """The latest progress of a running execution (coalesced: only the newest per execution is written)."""

    execution_id: str
    at: datetime
    progress: float | None = None
    message: str | None = None
    current_item: str | None = None
    total_items: int | None = None
    processed_items: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutionClose:
    """One running execution to move to a terminal status (the arguments of ``Store.close_execution``)."""

    execution_id: str
    status: ExecutionStatus
    finished_at: datetime
    return_value: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    retry_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class LogLine:
    execution_id: str
    seq: int
    at: datetime
    level: str
    message: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutionQuery:
    job_id: str | None = None
    status: ExecutionStatus | None = None
    is_manual: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditQuery:
    job_id: str | None = None
    status: AuditOutcome | None = None
    action: str | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutionStats:
    total: int = 0
    success: int = 0
    failed: int = 0
    missed: int = 0
    cancelled: int = 0
    skipped: int = 0
    running: int = 0
    avg_execution_time: float | None = None
    p50_execution_time: float | None = None
    p95_execution_time: float | None = None
    last_execution: Execution | None = None

    @property
    def success_rate(self) -> float:
        """Percentage of finished runs (success + failed + cancelled) that succeeded, 0–100."""
        finished = self.success + self.failed + self.cancelled
        return round(100.0 * self.success / finished, 2) if finished else 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditEntry:
    id: str
    timestamp: datetime
    actor: str
    action: str
    status: AuditOutcome
    job_id: str | None = None
    execution_id: str | None = None
    error_message: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class Principal:
    """Who is calling: a signed-in user, an API token, or the host app's own user."""

    username: str
    role: Role
    via: str = "password"

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


@dataclass(frozen=True, kw_only=True, slots=True)
class User:
    username: str
    role: Role
    password_hash: str
    created_at: datetime
    disabled: bool = False
    token_version: int = 0
    """Access tokens carrying another version are refused (see :meth:`jobdeck.auth.Authenticator.revoke`)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiToken:
    id: str
    name: str
    role: Role
    token_hash: str
    """SHA-256 hex of the secret; the secret itself is shown once and never stored."""
    created_at: datetime
    created_by: str | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
