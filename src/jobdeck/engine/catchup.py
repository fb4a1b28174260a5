"""Catch-up after downtime: which fires a job missed while jobdeck was not running, and what becomes of them.

Pure: it takes the job's last handed-over fire time and ``now`` and never reads a clock. With ``coalesce`` the
missed fires become one run (of the newest) plus, when there were several, one ``missed`` record saying how many
fires were missed and between which times. Without it, each missed fire still within the misfire grace runs, and
the older ones are summed up in one ``missed`` record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from jobdeck.models import Schedule
from jobdeck.schedules import next_fire_time

__all__ = ["CatchUp", "plan_catch_up"]

MAX_COUNTED = 10_000
"""Missed fires are counted one by one up to this many; beyond, the summary says "at least"."""


@dataclass(frozen=True, kw_only=True, slots=True)
class CatchUp:
    run: tuple[datetime, ...] = ()
    """Fire times to run now, oldest first."""
    missed: int = 0
    """How many fires the summary record stands for (0: no summary)."""
    missed_first: datetime | None = None
    missed_last: datetime | None = None
    counted_all: bool = True
    """False when there were more than :data:`MAX_COUNTED` missed fires (``missed`` is then a lower bound)."""

    def summary(self, *, coalesced: bool) -> str:
        """The ``missed`` record's message."""
        assert self.missed_first is not None and self.missed_last is not None
        count = f"{self.missed}" if self.counted_all else f"at least {self.missed}"
        plural = "" if self.missed == 1 else "s"
        span = f"between {self.missed_first.isoformat()} and {self.missed_last.isoformat()}"
        what = f"{count} fire{plural} {span} were missed while jobdeck was not running"
        if coalesced:
            return f"{what}; coalesced into one catch-up run"
        return f"{what}, beyond the misfire grace"


def plan_catch_up(
    schedule: Schedule, *, last_fire: datetime, now: datetime, coalesce: bool, misfire_grace: float
) -> CatchUp:
    """The fires strictly after ``last_fire`` and strictly before ``now``, and what to do with them."""
    due: list[datetime] = []
    counted_all = True
    cursor = last_fire
    while (fire := next_fire_time(schedule, after=cursor)) is not None and fire < now:
        if len(due) >= MAX_COUNTED:
            counted_all = False
            break
        due.append(fire)
        cursor = fire
    if not due:
        return CatchUp()
    if not counted_all:
        due[-1] = _latest_before(schedule, now) or due[-1]
    if coalesce:
        if len(due) == 1:
            return CatchUp(run=(due[0],))
        return CatchUp(
            run=(due[-1],), missed=len(due), missed_first=due[0], missed_last=due[-1], counted_all=counted_all
        )
    horizon = now - timedelta(seconds=misfire_grace)
    fresh = tuple(fire for fire in due if fire >= horizon)
    stale = [fire for fire in due if fire < horizon]
    if not stale:
        return CatchUp(run=fresh)
    return CatchUp(run=fresh, missed=len(stale), missed_first=stale[0], missed_last=stale[-1], counted_all=counted_all)


def _latest_before(schedule: Schedule, now: datetime) -> datetime | None:
    """The newest fire before ``now``, found by looking back over growing windows."""
    for window in (timedelta(hours=1), timedelta(days=1), timedelta(days=40), timedelta(days=400)):
        latest = None
        cursor = now - window
        while (fire := next_fire_time(schedule, after=cursor)) is not None and fire < now:
            latest = cursor = fire
        if latest is not None:
            return latest
    return None
