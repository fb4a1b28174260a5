"""jobdeck's persistence contract, split by consumer and documented once.

Each consumer depends on the protocol of what it uses: :class:`EngineStore` (the engine), :class:`ServiceStore` (the
service and the read side, :class:`ReadStore`), :class:`AuthStore` / :class:`AccountAdmin` (authentication, account
commands), :class:`AuditLog` (the audit trail), :class:`SetupStore` (the runtime). A method shared by consumers is
written once, on a small protocol they both inherit (:class:`RunControl`, :class:`WriteHealth`). :class:`Store` is
all of them at once, for code that builds everything.

Every datetime passed in or returned is timezone-aware UTC. Any method may raise
:class:`~jobdeck.errors.StoreUnavailable` when the database cannot be reached; that is not repeated below.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from jobdeck.models import (
    ApiToken,
    AuditEntry,
    AuditQuery,
    Execution,
    ExecutionClose,
    ExecutionQuery,
    ExecutionStats,
    ExecutionStatus,
    JobMetadata,
    JobState,
    LogLine,
    Page,
    ProgressUpdate,
    Role,
    User,
)
from jobdeck.store.held import WriteStatus

__all__ = [
    "AccountAdmin",
    "AuditLog",
    "AuthStore",
    "EngineStore",
    "Housekeeping",
    "ReadStore",
    "RunControl",
    "ServiceStore",
    "SetupStore",
    "Store",
    "StoreLifecycle",
    "WriteHealth",
]


class StoreLifecycle(Protocol):
    """Opening and closing a store: what builds one (the runtime, the CLI) uses."""

    async def open(self) -> None:
        """Connect and bring the schema up to date (Alembic migrations). Idempotent."""

    async def close(self) -> None:
        """Release every connection. The store cannot be used afterwards."""


class WriteHealth(Protocol):
    """How the store's writes fare: the engine's watchdog and the service's health read it."""

    def write_status(self) -> WriteStatus:
        """How this store's writes fare right now — failing and held, or waiting long — as its writer last saw
        them (no query; safe from another thread)."""
        ...


class RunControl(Protocol):
    """The run and job controls both the engine and the service apply (a cancel, a close, a pause, the running
    counts that gate a trigger)."""

    async def request_cancel(self, execution_id: str, at: datetime) -> Execution:
        """Set ``cancel_requested`` on a running execution and return the updated record. Idempotent.

        :raises ExecutionNotFound: no execution has this id
        :raises ExecutionNotRunning: the execution is terminal
        """
        ...

    async def close_execution(
        self,
        execution_id: str,
        *,
        status: ExecutionStatus,
        finished_at: datetime,
        return_value: str | None = None,
        error_message: str | None = None,
        traceback: str | None = None,
        retry_at: datetime | None = None,
    ) -> bool:
        """Move a running execution to the terminal ``status``. ``retry_at`` (on a failed attempt) records when
        its retry is due, which makes it a pending retry until an execution with ``retry_of`` = its id exists.

        Returns False, and changes nothing, when the execution is not running any more (a terminal record
        never changes again) or does not exist.
        """
        ...

    async def count_running(self, *, other_than: tuple[str, int] | None = None) -> dict[str, int]:
        """Number of ``running`` executions per job id (jobs with none are absent). With ``other_than`` — a
        process's ``(host, pid)`` — that process's executions are left out (it knows its own)."""
        ...

    async def set_paused(
        self, job_id: str, paused: bool, *, at: datetime, actor: str, until: datetime | None = None
    ) -> None:
        """Persist the paused flag of a job (creating its state row when needed), and ``paused_until`` (a timed
        pause; always cleared when ``paused`` is False)."""


class Housekeeping(Protocol):
    """What the engine's watchdog uses: running and stale runs, forced closes, retention."""

    async def running_executions(self, *, job_id: str | None = None, host: str | None = None) -> list[Execution]:
        """Every execution still ``running``, optionally only one job's or one host's, oldest first."""
        ...

    async def stale_executions(self, *, heartbeat_before: datetime) -> list[Execution]:
        """Running executions whose last heartbeat (or start, if none yet) is older than ``heartbeat_before``."""
        ...

    async def fail_executions(self, execution_ids: Sequence[str], *, finished_at: datetime, message: str) -> int:
        """Close every listed execution that is still running as ``failed`` with ``message``; returns how many
        were closed."""
        ...

    async def prune_executions(self, *, finished_before: datetime) -> int:
        """Delete terminal executions (and their logs) finished before the instant; returns how many."""
        ...

    async def prune_idempotency_keys(self, *, before: datetime) -> int:
        """Delete keys created before the instant; returns how many."""
        ...

    async def prune_audit(self, *, before: datetime) -> int:
        """Delete audit entries stamped before the instant; returns how many."""
        ...


class EngineStore(RunControl, Housekeeping, WriteHealth, Protocol):
    """Everything the engine uses: claims, progress, heartbeats, logs, closes, fire marks, retries."""

    async def insert_execution(self, execution: Execution) -> bool:
        """Insert a new execution record (the claim).

        For scheduled fires the key ``(job_id, scheduled_time, attempt)`` is unique for trigger ``schedule``
        and ``retry``: when another process already inserted a record with the same key, nothing is written
        and False is returned (that replica lost the claim). Manual runs never conflict. Returns True when
        the record was written.
        """
        ...

    async def insert_executions(self, executions: Sequence[Execution]) -> list[bool | Exception]:
        """:meth:`insert_execution` for several records at once (committed together where the store can), each
        claimed on its own: for each record, in order, True when written, False when its claim key was taken, or
        the exception that kept it from being written (the others are not affected by it)."""
        ...

    async def write_progress(self, updates: Sequence[ProgressUpdate]) -> None:
        """Write each update's non-None fields onto its execution, in one transaction; also sets
        ``updated_at`` to the update's ``at``. Updates for executions that are no longer running, or that do
        not exist, are ignored (a terminal record never changes again)."""

    async def heartbeat(self, execution_ids: Sequence[str], at: datetime) -> None:
        """Set ``heartbeat_at = at`` on every listed execution that is still running, in one statement."""

    async def close_executions(self, closes: Sequence[ExecutionClose]) -> list[bool | Exception]:
        """:meth:`close_execution` for several records at once (committed together where the store can): for each,
        in order, whether it was closed, or the exception that kept it from being closed (the others are not
        affected by it)."""
        ...

    async def pending_retries(self) -> list[Execution]:
        """Failed executions with a ``retry_at`` that no execution retries yet (no record has ``retry_of`` = their
        id), oldest ``retry_at`` first."""
        ...

    async def append_log(self, lines: Sequence[LogLine]) -> None:
        """Append log lines (their ``seq`` values are assigned by the caller, increasing per execution)."""

    async def trim_log(self, execution_id: str, *, keep_from_seq: int, note: str, at: datetime) -> None:
        """Bound an execution's log: delete its lines with ``0 < seq < keep_from_seq`` and put ``note`` (what was
        dropped, stamped ``at``) in the line of ``seq`` 0, replacing an earlier note."""

    async def record_fire(self, job_id: str, fire_time: datetime) -> None:
        """Remember ``fire_time`` as the job's ``last_fire_time`` unless a later one is stored already (creating
        the state row when needed; ``updated_at`` / ``updated_by`` are left alone)."""

    async def record_fires(self, fires: Sequence[tuple[str, datetime]]) -> None:
        """:meth:`record_fire` for several ``(job_id, fire_time)`` at once (committed together where the store
        can)."""


class ReadStore(Protocol):
    """The read side: lists, details, statistics, logs, metadata and the audit list (service, API, dashboard)."""

    async def get_execution(self, execution_id: str) -> Execution:
        """The execution with this id.

        :raises ExecutionNotFound: no execution has this id
        """
        ...

    async def list_executions(self, query: ExecutionQuery) -> Page[Execution]:
        """Executions matching the query, newest first (``started_at`` descending, then id), with the total
        count of matches ignoring limit and offset. ``since`` / ``until`` bound ``started_at`` (inclusive /
        exclusive)."""
        ...

    async def retry_chain(self, execution_id: str) -> list[Execution]:
        """Every attempt linked to the execution through ``retry_of`` (back to the first attempt and forward to
        the newest retry), in attempt order; just the execution itself when it has no links.

        :raises ExecutionNotFound: no execution has this id
        """
        ...

    async def execution_stats(self, job_id: str) -> ExecutionStats:
        """Counts per status, average / p50 / p95 run time of finished runs, and the newest execution."""
        ...

    async def status_counts(self, *, since: datetime) -> dict[ExecutionStatus, int]:
        """Number of executions per status started at or after ``since``."""
        ...

    async def read_log(self, execution_id: str, *, after: int = 0, limit: int = 200) -> list[LogLine]:
        """Log lines with ``seq > after``, oldest first, at most ``limit``; for ``after=0`` the newest ``limit``
        lines (the tail)."""
        ...

    async def job_metadata(self) -> dict[str, JobMetadata]:
        """Every job's stored metadata, by job id."""
        ...

    async def list_audit(self, query: AuditQuery) -> Page[AuditEntry]:
        """Audit entries matching the query, newest first, with the total count of matches."""
        ...


class AuditLog(Protocol):
    """What the audit trail writes: single entries and rolled-up ones."""

    async def append_audit(self, entry: AuditEntry) -> None:
        """Record one audit entry."""

    async def roll_up_audit(self, entry: AuditEntry, *, count: int) -> None:
        """Add ``count`` attempts to the rolled-up entry with ``entry.id``, creating it from ``entry`` (its details
        plus ``count``) when absent; else its ``details`` take ``entry``'s (``first`` and the summed ``count``
        kept), its timestamp and error ``entry``'s. Concurrent roll-ups of one entry add up."""


class ServiceStore(ReadStore, RunControl, WriteHealth, AuditLog, Protocol):
    """Everything the service uses: the read side, operator actions, idempotency keys and its audit trail."""

    async def ping(self) -> float:
        """Round-trip one trivial query; returns its latency in milliseconds."""
        ...

    async def delete_execution(self, execution_id: str) -> None:
        """Delete a terminal execution and its log.

        :raises ExecutionNotFound: no execution has this id
        :raises ExecutionStillRunning: the execution is running
        """

    async def set_schedule_override(self, job_id: str, expression: str | None, *, at: datetime, actor: str) -> None:
        """Persist (or, with None, remove) the operator's schedule override of a job."""

    async def update_metadata(
        self,
        job_id: str,
        *,
        display_name: str | None,
        description: str | None,
        at: datetime,
        actor: str,
    ) -> JobMetadata:
        """Apply an operator's edit: a None argument leaves that field as it is; ``""`` clears it. Marks the row
        operator-owned (``updated_by = actor``) and returns it."""
        ...

    async def claim_idempotency_key(
        self, job_id: str, key: str, execution_id: str, *, at: datetime, not_before: datetime
    ) -> str:
        """Bind ``(job_id, key)`` to ``execution_id`` unless it is bound already by an entry created at or after
        ``not_before`` (older entries are expired and taken over). Returns the execution id the key is bound to:
        ``execution_id`` when this call won, else the earlier one. Concurrent claims agree on one winner."""
        ...

    async def release_idempotency_key(self, job_id: str, key: str, execution_id: str) -> None:
        """Forget the key when it is still bound to ``execution_id`` (its run could not be started)."""


class AuthStore(Protocol):
    """What authentication uses: users, access-token versions and revocations, API tokens, the stored secret."""

    async def create_user(self, user: User) -> None:
        """:raises UserExists: the username is taken"""

    async def get_user(self, username: str) -> User:
        """:raises UserNotFound: no user has this name"""
        ...

    async def count_users(self) -> int:
        """How many users exist."""
        ...

    async def set_password_hash(self, username: str, password_hash: str) -> None:
        """:raises UserNotFound: no user has this name"""

    async def set_user_role(self, username: str, role: Role) -> int:
        """Change the role and revoke the user's access tokens (see :meth:`bump_token_version`).

        :raises UserNotFound: no user has this name
        """
        ...

    async def set_user_disabled(self, username: str, disabled: bool) -> int:
        """Disable (or enable) the user and revoke its access tokens (see :meth:`bump_token_version`).

        :raises UserNotFound: no user has this name
        """
        ...

    async def bump_token_version(self, username: str) -> int:
        """Add one to the user's ``token_version`` (tokens carrying an older one are refused); returns the new one.

        :raises UserNotFound: no user has this name
        """
        ...

    async def revoke_access_token(self, jti: str, *, username: str, expires_at: datetime, now: datetime) -> None:
        """Refuse the one access token with this id (claim ``jti``) from now on; ``expires_at`` is when it would
        have expired anyway. Rows of tokens expired before ``now`` may be deleted meanwhile."""

    async def revoked_access_tokens(self, username: str) -> frozenset[str]:
        """The ids of the user's access tokens revoked one by one (and maybe not yet expired)."""
        ...

    async def create_token(self, token: ApiToken) -> None:
        """Store a new API token (only its hash)."""

    async def token_by_hash(self, token_hash: str) -> ApiToken | None:
        """The token with this hash, revoked or not; None when unknown."""
        ...

    async def touch_token(self, token_id: str, *, at: datetime) -> None:
        """Record a use of the token."""

    async def set_setting_if_absent(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` unless some value is already there; returns the value that is stored
        (so concurrent first starts agree on one)."""
        ...


class AccountAdmin(AuthStore, Protocol):
    """Account administration (the CLI's ``users`` and ``tokens`` commands): listings and token revocation."""

    async def list_users(self) -> list[User]:
        """Every user, by username."""
        ...

    async def list_tokens(self) -> list[ApiToken]:
        """Every token, newest first."""
        ...

    async def revoke_token(self, token_id: str, *, at: datetime) -> None:
        """:raises TokenNotFound: no token has this id"""


class SetupStore(StoreLifecycle, Protocol):
    """What the runtime needs to build the engine: the stored job states and the configured metadata."""

    async def job_states(self) -> dict[str, JobState]:
        """Every job's stored operator state, by job id."""
        ...

    async def seed_metadata(self, entries: Sequence[JobMetadata], *, at: datetime) -> None:
        """Write configured metadata: creates missing rows and refreshes rows no operator has edited
        (``updated_by`` is None); rows an operator edited are left alone."""


class Store(SetupStore, EngineStore, ServiceStore, AccountAdmin, AuditLog, Protocol):
    """Every consumer's protocol at once: what code that builds the whole runtime holds (an implementation, such as
    :class:`~jobdeck.store.sql.SqlStore` or :class:`~jobdeck.store.memory.MemoryStore`, provides all of it)."""
