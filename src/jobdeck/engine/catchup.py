"""Catch-up after downtime: which fires a job missed while jobdeck was not running, and what becomes of them.

Pure: it takes the job's last handed-over fire time and ``now`` and never reads a clock. With ``coalesce`` the
missed fires become one run (of the newest) plus, when there were several, one ``missed`` record saying how many
fires were missed and between which times. Without it, each missed fire still within the misfire grace runs, and
the older ones are summed up in one ``missed`` record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from jobdeck.models import Schedule
from jobdeck.schedules import next_fire_time

__all__ = ["CatchUp", "HandOver", "Stall", "plan_catch_up", "plan_hand_over"]

MAX_COUNTED = 10_000
"""Missed fires are counted one by one up to this many; beyond, the summary says "at least"."""
MAX_STALL_RECORDS = 100
"""``missed`` records per job for the fires of one stall; the oldest beyond these share one record (its span)."""


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


@dataclass(frozen=True, kw_only=True, slots=True)
class Stall:
    """Several fires of one job handed over at once: the timer woke late (the process was stopped, its event loop
    blocked, or the clock jumped)."""

    first: datetime
    last: datetime
    count: int
    late: float
    """Seconds the oldest fire came late (how long the timer could not hand fires over)."""
    runs: datetime | None
    """The fire of the group that runs (coalesce), or None."""
    summed: int = 0
    """When more than :data:`MAX_STALL_RECORDS` fires are missed, the oldest ``summed`` of them share one record
    (at the oldest fire time), ending at :attr:`summed_last`."""
    summed_last: datetime | None = None

    def message(self, fire_time: datetime, *, grace: float) -> str:
        """The ``missed`` record's message for one fire of the group."""
        lost = (
            f"the timer came {round(self.late)} s late and handed over {self.count} fires due between "
            f"{self.first.isoformat()} and {self.last.isoformat()} at once (the process was stopped, its event "
            "loop blocked, or the clock jumped)"
        )
        if self.summed and fire_time == self.first and self.summed_last is not None:
            lost = (
                f"this record stands for {self.summed} fires between {self.first.isoformat()} and "
                f"{self.summed_last.isoformat()}: {lost}"
            )
        if self.runs is not None and fire_time != self.runs:
            return f"missed: {lost}; coalesced into the run of {self.runs.isoformat()}"
        return f"missed: {lost}; this one came beyond the misfire grace ({grace:g} s)"


@dataclass(frozen=True, kw_only=True, slots=True)
class HandOver:
    """What becomes of the fires the timer handed over for one job at one wake-up."""

    run: tuple[datetime, ...] = ()
    missed: tuple[tuple[datetime, float], ...] = ()
    """``(fire_time, lateness)`` of the ``missed`` records to write, oldest first (the first may stand for
    several fires: see :attr:`Stall.summed`)."""
    stall: Stall | None = None
    """Set when several fires came at once (their ``missed`` records say so)."""


def plan_hand_over(
    fire_times: Sequence[datetime], *, now: datetime, coalesce: bool, misfire_grace: float | None
) -> HandOver:
    """Judge the fires of one job handed over at ``now`` (oldest first): each one later than the misfire grace is
    missed; with ``coalesce`` only the newest of several may run and the others are missed (merged). Every fire
    time ends in ``run`` or ``missed``: none is dropped without a record."""
    lateness = [(fire, (now - fire).total_seconds()) for fire in fire_times]
    in_grace = [misfire_grace is None or late <= misfire_grace for _, late in lateness]
    if len(lateness) == 1:
        return HandOver(run=(fire_times[0],)) if in_grace[0] else HandOver(missed=(lateness[0],))
    if coalesce:
        runs = fire_times[-1] if in_grace[-1] else None
        run: tuple[datetime, ...] = () if runs is None else (runs,)
        missed = tuple(lateness if runs is None else lateness[:-1])
    else:
        runs = None
        run = tuple(fire for (fire, _), ok in zip(lateness, in_grace, strict=True) if ok)
        missed = tuple(item for item, ok in zip(lateness, in_grace, strict=True) if not ok)
    summed, summed_last = 0, None
    if len(missed) > MAX_STALL_RECORDS:
        # The oldest fires share the first record: a long stall of a frequent job stays a readable history.
        summed = len(missed) - MAX_STALL_RECORDS + 1
        summed_last = missed[summed - 1][0]
        missed = (missed[0], *missed[summed:])
    stall = Stall(
        first=fire_times[0],
        last=fire_times[-1],
        count=len(fire_times),
        late=lateness[0][1],
        runs=runs,
        summed=summed,
        summed_last=summed_last,
    )
    return HandOver(run=run, missed=missed, stall=stall)
