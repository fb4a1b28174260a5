"""SqlStore: the :class:`~jobdeck.store.base.Store` on SQLAlchemy 2 async Core, for SQLite and PostgreSQL alike.

A thin composition: one :class:`~jobdeck.store.database.Database` (engine, transactions, the SQLite fast path, the
group-committing writer) and the repositories of :mod:`jobdeck.store.repositories`, each given the database; every
method of the Store is one of theirs.

Dialect notes: SQLite runs in WAL mode with ``synchronous=NORMAL``, a busy timeout and ``BEGIN IMMEDIATE`` for
writers (see ``_engine``); PostgreSQL upgrades the schema under an advisory lock so replicas can start together.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from jobdeck.store import _engine
from jobdeck.store.base import Store
from jobdeck.store.database import Database
from jobdeck.store.repositories import (
    Accounts,
    AuditTrail,
    ExecutionLogs,
    ExecutionReads,
    Executions,
    Jobs,
    RuntimeState,
)

__all__ = ["SqlStore", "upgrade"]


class SqlStore:
    """The Store on a SQLite (``sqlite+aiosqlite:///path.db``) or PostgreSQL (``postgresql+asyncpg://…``) URL.

    Nothing connects before :meth:`open`. A URL without the async driver gets it (``sqlite://`` → aiosqlite,
    ``postgresql://`` → asyncpg).

    ``inline_sqlite``: on a SQLite file, the calls that claim, close and count runs execute on the calling thread,
    blocking its event loop for their few hundred microseconds, instead of a round trip to the lane's thread —
    for a store whose loop does nothing else (the engine's own, ``Settings.engine_thread``).

    The parts are attributes: ``database``, ``executions``, ``execution_reads``, ``logs``, ``jobs``, ``runtime``,
    ``accounts``, ``audit``.

    :raises ConfigError: the URL cannot be parsed or names another database
    """

    def __init__(self, url: str, *, inline_sqlite: bool = False) -> None:
        self.database = db = Database(url, inline_sqlite=inline_sqlite)
        self.open = db.open
        self.close = db.close
        self.ping = db.ping
        self.write_status = db.write_status

        self.executions = executions = Executions(db)
        self.insert_execution = executions.insert_execution
        self.insert_executions = executions.insert_executions
        self.count_running = executions.count_running
        self.write_progress = executions.write_progress
        self.heartbeat = executions.heartbeat
        self.request_cancel = executions.request_cancel
        self.close_execution = executions.close_execution
        self.close_executions = executions.close_executions
        self.fail_executions = executions.fail_executions
        self.stale_executions = executions.stale_executions
        self.delete_execution = executions.delete_execution
        self.prune_executions = executions.prune_executions

        self.execution_reads = reads = ExecutionReads(db)
        self.get_execution = reads.get_execution
        self.list_executions = reads.list_executions
        self.running_executions = reads.running_executions
        self.execution_stats = reads.execution_stats
        self.status_counts = reads.status_counts
        self.pending_retries = reads.pending_retries
        self.retry_chain = reads.retry_chain

        self.logs = logs = ExecutionLogs(db)
        self.append_log = logs.append_log
        self.read_log = logs.read_log
        self.trim_log = logs.trim_log

        self.runtime = runtime = RuntimeState(db)
        self.job_states = runtime.job_states
        self.set_paused = runtime.set_paused
        self.set_schedule_override = runtime.set_schedule_override
        self.record_fire = runtime.record_fire
        self.record_fires = runtime.record_fires

        self.jobs = jobs = Jobs(db)
        self.job_metadata = jobs.job_metadata
        self.seed_metadata = jobs.seed_metadata
        self.update_metadata = jobs.update_metadata
        self.claim_idempotency_key = jobs.claim_idempotency_key
        self.release_idempotency_key = jobs.release_idempotency_key
        self.prune_idempotency_keys = jobs.prune_idempotency_keys

        self.audit = audit = AuditTrail(db)
        self.append_audit = audit.append_audit
        self.roll_up_audit = audit.roll_up_audit
        self.prune_audit = audit.prune_audit
        self.list_audit = audit.list_audit

        self.accounts = accounts = Accounts(db)
        self.create_user = accounts.create_user
        self.get_user = accounts.get_user
        self.list_users = accounts.list_users
        self.count_users = accounts.count_users
        self.set_password_hash = accounts.set_password_hash
        self.set_user_role = accounts.set_user_role
        self.set_user_disabled = accounts.set_user_disabled
        self.bump_token_version = accounts.bump_token_version
        self.revoke_access_token = accounts.revoke_access_token
        self.revoked_access_tokens = accounts.revoked_access_tokens
        self.create_token = accounts.create_token
        self.token_by_hash = accounts.token_by_hash
        self.list_tokens = accounts.list_tokens
        self.revoke_token = accounts.revoke_token
        self.touch_token = accounts.touch_token
        self.set_setting_if_absent = accounts.set_setting_if_absent

    def __repr__(self) -> str:
        return f"SqlStore({_engine.describe(self.database.url)!r})"

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.database.dialect


def is_in_memory(url: str) -> bool:
    """Whether ``url`` names an in-memory SQLite database, which lives in its one connection: a second store on the
    URL (another process's, or the engine thread's) would see another, empty, database.

    :raises ConfigError: the URL cannot be parsed or names another database
    """
    return _engine.is_memory(_engine.normalize_url(url))


def describe_database(url: str) -> str:
    """``url`` as it may be shown: the driver filled in, the password hidden.

    :raises ConfigError: the URL cannot be parsed or names another database
    """
    return _engine.describe(_engine.normalize_url(url))


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite ``url`` names (resolved from the working directory), or None for an in-memory SQLite
    database, a ``file:`` URI or a database server.

    :raises ConfigError: the URL cannot be parsed or names another database
    """
    path = _engine.checkpointed_file(_engine.normalize_url(url))
    return None if path is None else Path(path).resolve()


async def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (``jobdeck db upgrade``).

    :raises StoreUnavailable: the database cannot be reached
    :raises ConfigError: the URL is not a SQLite or PostgreSQL URL
    """
    store = SqlStore(url)
    try:
        await store.open()
    finally:
        await store.close()


if TYPE_CHECKING:

    def _implements_the_protocol(store: SqlStore) -> Store:
        return store  # mypy proves SqlStore satisfies Store
