"""MemoryStore: the whole :class:`~jobdeck.store.base.Store` in plain dicts, for tests and throw-away runs.

It keeps the contract of the SQL store (ordering, paging, totals, the claim key, idempotency keys, the retry chain,
audit roll-ups, the errors) without a database: nothing survives the process, and only the process that made it
sees it. Every method runs to its end without awaiting, so calls from one event loop never interleave; a store is
not to be shared between threads (the engine's own thread needs a database: see ``Settings.engine_thread``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from jobdeck.errors import (
    TokenNotFound,
    UserExists,
    UserNotFound,
)
from jobdeck.models import (
    ApiToken,
    AuditEntry,
    AuditQuery,
    JobMetadata,
    JobState,
    Page,
    Role,
    User,
)
from jobdeck.store._memory_runs import MemoryRuns, json_copy, page_of, utc
from jobdeck.store.held import WriteStatus

__all__ = ["MEMORY_URL", "MemoryStore", "is_memory_url"]

MEMORY_URL = "memory://"
"""The database URL that selects a MemoryStore (see :func:`jobdeck.store.factory.open_store`)."""


def is_memory_url(url: str) -> bool:
    """Whether ``url`` selects a MemoryStore (``memory://``, optionally with a name after it)."""
    return url.strip().lower().startswith(MEMORY_URL)


class MemoryStore:
    """A :class:`~jobdeck.store.base.Store` in memory (see the module docstring); the execution records and logs are
    kept by its :class:`MemoryRuns` (``runs``, whose methods it exposes as its own), the rest here."""

    def __init__(self) -> None:
        self.runs = runs = MemoryRuns()
        self.insert_execution = runs.insert_execution
        self.insert_executions = runs.insert_executions
        self.get_execution = runs.get_execution
        self.list_executions = runs.list_executions
        self.running_executions = runs.running_executions
        self.count_running = runs.count_running
        self.write_progress = runs.write_progress
        self.heartbeat = runs.heartbeat
        self.request_cancel = runs.request_cancel
        self.close_execution = runs.close_execution
        self.close_executions = runs.close_executions
        self.pending_retries = runs.pending_retries
        self.retry_chain = runs.retry_chain
        self.fail_executions = runs.fail_executions
        self.stale_executions = runs.stale_executions
        self.delete_execution = runs.delete_execution
        self.execution_stats = runs.execution_stats
        self.status_counts = runs.status_counts
        self.prune_executions = runs.prune_executions
        self.append_log = runs.append_log
        self.read_log = runs.read_log
        self.trim_log = runs.trim_log
        self._states: dict[str, JobState] = {}
        self._metadata: dict[str, JobMetadata] = {}
        self._idempotency: dict[tuple[str, str], tuple[str, datetime]] = {}
        self._audit: dict[str, AuditEntry] = {}
        self._users: dict[str, User] = {}
        self._revoked: dict[str, tuple[str, datetime]] = {}  # jti -> (username, expires_at)
        self._tokens: dict[str, ApiToken] = {}
        self._settings: dict[str, str] = {}

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def write_status(self) -> WriteStatus:
        return WriteStatus()

    async def ping(self) -> float:
        started = time.perf_counter()
        return max((time.perf_counter() - started) * 1000.0, 0.001)

    # -- job state and metadata ------------------------------------------------------------------------------

    async def job_states(self) -> dict[str, JobState]:
        return dict(self._states)

    def _change_state(self, job_id: str, **fields: Any) -> None:
        state = self._states.get(job_id) or JobState(job_id=job_id)
        self._states[job_id] = dataclasses.replace(state, **fields)

    async def set_paused(
        self, job_id: str, paused: bool, *, at: datetime, actor: str, until: datetime | None = None
    ) -> None:
        paused_until = utc(until) if paused and until is not None else None
        self._change_state(job_id, paused=paused, paused_until=paused_until, updated_at=utc(at), updated_by=actor)

    async def record_fire(self, job_id: str, fire_time: datetime) -> None:
        fire_time = utc(fire_time)
        last = self._states[job_id].last_fire_time if job_id in self._states else None
        if last is None or last < fire_time:
            self._change_state(job_id, last_fire_time=fire_time)

    async def record_fires(self, fires: Sequence[tuple[str, datetime]]) -> None:
        for job_id, fire_time in fires:
            await self.record_fire(job_id, fire_time)

    async def set_schedule_override(self, job_id: str, expression: str | None, *, at: datetime, actor: str) -> None:
        self._change_state(job_id, schedule_override=expression, updated_at=utc(at), updated_by=actor)

    async def job_metadata(self) -> dict[str, JobMetadata]:
        return dict(self._metadata)

    async def seed_metadata(self, entries: Sequence[JobMetadata], *, at: datetime) -> None:
        at = utc(at)
        for entry in entries:
            row = self._metadata.get(entry.job_id)
            configured = (entry.display_name, entry.description)
            if row is None or (row.updated_by is None and (row.display_name, row.description) != configured):
                self._metadata[entry.job_id] = JobMetadata(
                    job_id=entry.job_id, display_name=entry.display_name, description=entry.description, updated_at=at
                )

    async def update_metadata(
        self,
        job_id: str,
        *,
        display_name: str | None,
        description: str | None,
        at: datetime,
        actor: str,
    ) -> JobMetadata:
        row = self._metadata.get(job_id) or JobMetadata(job_id=job_id)
        changes = {"display_name": display_name, "description": description}
        edited = dataclasses.replace(
            row, **{k: v for k, v in changes.items() if v is not None}, updated_at=utc(at), updated_by=actor
        )
        self._metadata[job_id] = edited
        return edited

    # -- idempotency keys ------------------------------------------------------------------------------------

    async def claim_idempotency_key(
        self, job_id: str, key: str, execution_id: str, *, at: datetime, not_before: datetime
    ) -> str:
        bound = self._idempotency.get((job_id, key))
        if bound is not None and bound[1] >= utc(not_before):
            return bound[0]
        self._idempotency[(job_id, key)] = (execution_id, utc(at))
        return execution_id

    async def release_idempotency_key(self, job_id: str, key: str, execution_id: str) -> None:
        bound = self._idempotency.get((job_id, key))
        if bound is not None and bound[0] == execution_id:
            del self._idempotency[(job_id, key)]

    async def prune_idempotency_keys(self, *, before: datetime) -> int:
        old = [k for k, (_, created_at) in self._idempotency.items() if created_at < utc(before)]
        for k in old:
            del self._idempotency[k]
        return len(old)

    # -- audit -----------------------------------------------------------------------------------------------

    def _audit_entry(self, entry: AuditEntry, details: Mapping[str, Any]) -> AuditEntry:
        return dataclasses.replace(
            entry, timestamp=utc(entry.timestamp), action=str(entry.action), details=json_copy(details)
        )

    async def append_audit(self, entry: AuditEntry) -> None:
        if entry.id in self._audit:
            raise ValueError(f"an audit entry with id {entry.id!r} exists already")
        self._audit[entry.id] = self._audit_entry(entry, entry.details)

    async def roll_up_audit(self, entry: AuditEntry, *, count: int) -> None:
        earlier = self._audit.get(entry.id)
        if earlier is None:
            self._audit[entry.id] = self._audit_entry(entry, {**entry.details, "count": count})
            return
        details = {**entry.details, "count": int(earlier.details.get("count", 0)) + count}
        if (first := earlier.details.get("first", entry.details.get("first"))) is not None:
            details["first"] = first
        rolled = dataclasses.replace(earlier, timestamp=entry.timestamp, error_message=entry.error_message)
        self._audit[entry.id] = self._audit_entry(rolled, details)

    async def prune_audit(self, *, before: datetime) -> int:
        old = [e.id for e in self._audit.values() if e.timestamp < utc(before)]
        for entry_id in old:
            del self._audit[entry_id]
        return len(old)

    async def list_audit(self, query: AuditQuery) -> Page[AuditEntry]:
        found = [
            e
            for e in self._audit.values()
            if query.job_id in (None, e.job_id)
            and (query.status is None or e.status == query.status)
            and (query.action is None or e.action == str(query.action))
        ]
        found.sort(key=lambda e: (e.timestamp, e.id), reverse=True)
        return page_of(found, query.limit, query.offset)

    # -- users and API tokens --------------------------------------------------------------------------------

    async def create_user(self, user: User) -> None:
        if user.username in self._users:
            raise UserExists(user.username)
        self._users[user.username] = dataclasses.replace(user, created_at=utc(user.created_at))

    async def get_user(self, username: str) -> User:
        found = self._users.get(username)
        if found is None:
            raise UserNotFound(username)
        return found

    async def list_users(self) -> list[User]:
        return [self._users[name] for name in sorted(self._users)]

    async def count_users(self) -> int:
        return len(self._users)

    async def set_password_hash(self, username: str, password_hash: str) -> None:
        self._users[username] = dataclasses.replace(await self.get_user(username), password_hash=password_hash)

    async def _revoking_change(self, username: str, **fields: Any) -> int:
        user = await self.get_user(username)
        self._users[username] = dataclasses.replace(user, token_version=user.token_version + 1, **fields)
        return user.token_version + 1

    async def set_user_role(self, username: str, role: Role) -> int:
        return await self._revoking_change(username, role=role)

    async def set_user_disabled(self, username: str, disabled: bool) -> int:
        return await self._revoking_change(username, disabled=disabled)

    async def bump_token_version(self, username: str) -> int:
        return await self._revoking_change(username)

    async def revoke_access_token(self, jti: str, *, username: str, expires_at: datetime, now: datetime) -> None:
        for expired in [j for j, (_, until) in self._revoked.items() if until < utc(now)]:
            del self._revoked[expired]
        self._revoked.setdefault(jti, (username, utc(expires_at)))

    async def revoked_access_tokens(self, username: str) -> frozenset[str]:
        return frozenset(jti for jti, (owner, _) in self._revoked.items() if owner == username)

    async def create_token(self, token: ApiToken) -> None:
        if token.id in self._tokens or any(t.token_hash == token.token_hash for t in self._tokens.values()):
            raise ValueError(f"an API token with id {token.id!r} or its hash exists already")
        self._tokens[token.id] = dataclasses.replace(token, created_at=utc(token.created_at))

    async def token_by_hash(self, token_hash: str) -> ApiToken | None:
        return next((t for t in self._tokens.values() if t.token_hash == token_hash), None)

    async def list_tokens(self) -> list[ApiToken]:
        return sorted(self._tokens.values(), key=lambda t: (t.created_at, t.id), reverse=True)

    async def revoke_token(self, token_id: str, *, at: datetime) -> None:
        token = self._tokens.get(token_id)
        if token is None:
            raise TokenNotFound(token_id)
        if token.revoked_at is None:  # revoking twice keeps the first revocation time
            self._tokens[token_id] = dataclasses.replace(token, revoked_at=utc(at))

    async def touch_token(self, token_id: str, *, at: datetime) -> None:
        if (token := self._tokens.get(token_id)) is not None:
            self._tokens[token_id] = dataclasses.replace(token, last_used_at=utc(at))

    # -- settings --------------------------------------------------------------------------------------------

    async def set_setting_if_absent(self, key: str, value: str) -> str:
        return self._settings.setdefault(key, value)
