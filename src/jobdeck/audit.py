"""The audit trail: who did what, when, and whether it worked — failed attempts included."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jobdeck.clock import Clock
from jobdeck.errors import JobdeckError, StoreUnavailable
from jobdeck.ids import new_id
from jobdeck.models import AuditAction, AuditEntry, AuditOutcome
from jobdeck.store.base import AuditLog

__all__ = ["ROLLUP_WINDOW", "AuditTrail"]

log = logging.getLogger("jobdeck.audit")

ROLLUP_WINDOW = timedelta(hours=1)
"""Refused attempts are rolled up into one entry per (action, actor, address) and window of this length."""
_ROLLUP_DELAY = 1.0
"""After writing a rolled-up entry, further attempts on it wait this long (seconds) and are written together: a
flood costs about one write a second per entry, not one per attempt."""


@dataclass(slots=True)
class _Pending:
    entry_id: str
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    waiting: bool = False
    """A delayed write is scheduled: attempts only add to the counts."""


class AuditTrail:
    """Writes audit entries to the store, stamped by the clock."""

    def __init__(self, store: AuditLog, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._pending: dict[tuple[str, str, str, int], _Pending] = {}
        self._writes: set[asyncio.Task[None]] = set()

    async def roll_up(
        self,
        action: AuditAction,
        actor: str,
        *,
        address: str,
        error: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Count one refused attempt (a failed sign-in, a 401/403 on a change) in its rolled-up entry.

        The entry of (action, actor, address, window of ROLLUP_WINDOW) carries ``details`` {count, first, last,
        address, …}. The first attempt is written before this returns; attempts within the next second are
        written together a second later. Never raises: a refused attempt must not fail for want of its audit.
        """
        now = self._clock.now()
        window = int(now.timestamp() // ROLLUP_WINDOW.total_seconds())
        key = (action.value, actor, address, window)
        pending = self._pending.get(key)
        if pending is None:
            digest = hashlib.sha256("|".join(map(str, key)).encode()).hexdigest()[:40]
            pending = self._pending[key] = _Pending(entry_id=f"rollup-{digest}")
        pending.count += 1
        pending.first = pending.first or now
        pending.last = now
        pending.error = error
        pending.details = {**(details or {}), "address": address}
        if not pending.waiting:
            await self._write(key, action, actor)

    async def _write(self, key: tuple[str, str, str, int], action: AuditAction, actor: str) -> None:
        pending = self._pending.get(key)
        if pending is None or pending.count == 0:
            self._pending.pop(key, None)
            return
        count, pending.count = pending.count, 0
        assert pending.first is not None and pending.last is not None
        entry = AuditEntry(
            id=pending.entry_id,
            timestamp=pending.last,
            actor=actor,
            action=action.value,
            status=AuditOutcome.FAILED,
            error_message=pending.error,
            details={**pending.details, "first": pending.first.isoformat(), "last": pending.last.isoformat()},
        )
        pending.first = None
        pending.waiting = True
        try:
            await self._store.roll_up_audit(entry, count=count)
        except Exception:
            log.warning("jobdeck: could not write the audit of %d refused %s attempt(s)", count, action.value)
        loop = asyncio.get_running_loop()
        loop.call_later(_ROLLUP_DELAY, self._write_later, key, action, actor)

    def _write_later(self, key: tuple[str, str, str, int], action: AuditAction, actor: str) -> None:
        pending = self._pending.get(key)
        if pending is None:
            return
        pending.waiting = False
        if pending.count == 0:
            del self._pending[key]
            return
        task = asyncio.get_running_loop().create_task(self._write(key, action, actor))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def flush(self) -> None:
        """Write the attempts still waiting (at shutdown)."""
        for key, pending in list(self._pending.items()):
            if pending.count:
                pending.waiting = False
                await self._write(key, AuditAction(key[0]), key[1])
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    async def record(
        self,
        action: AuditAction,
        actor: str,
        *,
        ok: bool = True,
        error: str | None = None,
        job_id: str | None = None,
        execution_id: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Record one action and its outcome."""
        now = self._clock.now()
        await self._store.append_audit(
            AuditEntry(
                id=new_id(now),
                timestamp=now,
                actor=actor,
                action=action.value,
                status=AuditOutcome.SUCCESS if ok else AuditOutcome.FAILED,
                job_id=job_id,
                execution_id=execution_id,
                error_message=error,
                details=dict(details or {}),
            )
        )

    @contextlib.asynccontextmanager
    async def action(
        self,
        action: AuditAction,
        actor: str,
        *,
        job_id: str | None = None,
        execution_id: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Record the outcome of the body whatever happens; the body may fill in ids it learns (``job_id`` …)."""
        learned: dict[str, Any] = {}
        failure: Exception | None = None
        try:
            yield learned
        except Exception as exc:
            failure = exc
            raise
        finally:
            # With the store down the entry cannot be written; the original error is what the caller needs.
            if not isinstance(failure, StoreUnavailable):
                await self.record(
                    action,
                    actor,
                    ok=failure is None,
                    error=_describe(failure),
                    job_id=learned.get("job_id", job_id),
                    execution_id=learned.get("execution_id", execution_id),
                    details=details,
                )


def _describe(failure: Exception | None) -> str | None:
    if failure is None:
        return None
    if isinstance(failure, JobdeckError):
        return failure.message
    return f"internal error ({type(failure).__name__})"
