"""Timed pauses: one loop timer per job paused ``until`` an instant, calling back when the pause ends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from jobdeck.clock import Clock

__all__ = ["PauseTimers"]


class PauseTimers:
    """``arm(job_id, until)`` calls ``on_end(job_id)`` (on the loop) at ``until``, at once when it has passed."""

    def __init__(self, *, clock: Clock, on_end: Callable[[str], None]) -> None:
        self._clock = clock
        self._on_end = on_end
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def arm(self, job_id: str, until: datetime | None) -> None:
        """(Re)set the job's timer; ``until=None`` only removes it."""
        old = self._timers.pop(job_id, None)
        if old is not None:
            old.cancel()
        if until is None:
            return
        delay = max(0.0, (until - self._clock.now()).total_seconds())
        self._timers[job_id] = asyncio.get_running_loop().call_later(delay, self._fire, job_id)

    def _fire(self, job_id: str) -> None:
        self._timers.pop(job_id, None)
        self._on_end(job_id)

    def clear(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
