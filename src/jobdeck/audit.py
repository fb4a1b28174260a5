"""The audit trail: who did what, when, and whether it worked — failed attempts included."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from jobdeck.clock import Clock
from jobdeck.errors import JobdeckError, StoreUnavailable
from jobdeck.ids import new_id
from jobdeck.models import AuditAction, AuditEntry, AuditOutcome
from jobdeck.store.base import Store

__all__ = ["AuditTrail"]


class AuditTrail:
    """Writes audit entries to the store, stamped by the clock."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

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
