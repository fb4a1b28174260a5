"""Retries: a failed attempt of a job with ``retries = n`` is run again, up to n times, after a growing pause.

The pause before attempt k + 1 is ``retry_backoff * 2**(k-1)``, capped at ``retry_backoff_max``, minus up to a
quarter of it at random (jitter, so many jobs failing together do not retry in lockstep): with the default 30 s,
about 30 s, 60 s, 120 s … Only ``failed`` attempts are retried — never ``cancelled`` runs — and manual runs follow
the job's setting like scheduled ones.

A retry is persisted before it waits: the failed record carries ``retry_at``. Until an execution with
``retry_of`` = its id exists it is a pending retry, and an engine starting up picks pending retries up again (one
that fell due while jobdeck was down runs at once). Replicas agree on who runs it through the claim key
``(job_id, scheduled_time = retry_at, attempt)``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from jobdeck.clock import Clock
from jobdeck.models import Execution, ExecutionStatus, JobSpec

__all__ = ["RetryScheduler", "retry_at", "retry_delay"]

JITTER = 0.25
"""The largest share of a pause taken off at random."""


def retry_delay(spec: JobSpec, attempt: int, *, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retrying attempt number ``attempt`` (1 = the first run)."""
    base = min(spec.retry_backoff_max, spec.retry_backoff * 2.0 ** max(0, attempt - 1))
    return max(0.0, base * (1.0 - JITTER * rand()))


def retry_at(spec: JobSpec, execution: Execution, status: ExecutionStatus, now: datetime) -> datetime | None:
    """When the retry of a just-finished attempt is due, or None when it is not retried."""
    if status is not ExecutionStatus.FAILED or execution.attempt > spec.retries:
        return None
    return now + timedelta(seconds=retry_delay(spec, execution.attempt))


class RetryScheduler:
    """Waits for pending retries in this process and hands each to ``start`` when it falls due."""

    def __init__(self, *, clock: Clock, start: Callable[[Execution], Coroutine[Any, Any, None]]) -> None:
        self._clock = clock
        self._start = start
        self._waiting: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._log = logging.getLogger(__name__)

    @property
    def pending(self) -> list[str]:
        """Ids of the failed attempts whose retry is waiting here."""
        return list(self._waiting)

    def schedule(self, failed: Execution) -> None:
        """Start the retry of ``failed`` at its ``retry_at`` (at once when that has passed). Idempotent."""
        if failed.retry_at is None or failed.id in self._waiting:
            return
        delay = max(0.0, (failed.retry_at - self._clock.now()).total_seconds())
        self._waiting[failed.id] = asyncio.get_running_loop().call_later(delay, self._due, failed)

    def _due(self, failed: Execution) -> None:
        self._waiting.pop(failed.id, None)
        task = asyncio.get_running_loop().create_task(self._start(failed), name=f"jobdeck-retry:{failed.id}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            # The failed record keeps its retry_at: the next start of jobdeck tries again.
            self._log.error("jobdeck: %s failed", task.get_name(), exc_info=error)

    async def shutdown(self) -> None:
        """Stop waiting (pending retries stay persisted for the next start); let starts in flight land."""
        for handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
