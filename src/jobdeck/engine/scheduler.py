"""The timer: APScheduler 3 decides *when* each job is due. This is the only module of jobdeck importing it.

APScheduler is used as a timer and nothing more. Jobs live in a :class:`MemoryJobStore` (jobdeck persists what
matters — pause state, overrides, executions — itself); the trigger wraps jobdeck's own :class:`Schedule`; and a
custom executor hands every due fire time to the engine (``on_fire``) or reports it missed (``on_missed``) instead
of calling anything. That design answers three limits of the stock executors: they do not pass the scheduled
fire time to the callable (the engine needs it for the claim key), they only accept whole seconds of misfire
grace, and they count instances per process (jobdeck counts running executions in the store, across replicas).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.base import BaseExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger

from jobdeck.engine.catchup import Stall, plan_hand_over
from jobdeck.models import Schedule
from jobdeck.schedules import next_fire_time

__all__ = ["FireCallback", "MissCallback", "ScheduleTrigger", "Timer"]

FireCallback = Callable[[str, datetime], None]
"""``(job_id, fire_time)``: a fire is due now. Must return at once (spawn a task for any I/O)."""

MissCallback = Callable[[str, datetime, float, "Stall | None"], None]
"""``(job_id, fire_time, lateness_seconds, stall)``: the fire came later than the job's misfire grace, or it was
one of several handed over at once (``stall`` says which) and merged (coalesce)."""

# The engine enforces max_instances itself (from the store); APScheduler must never hold a fire back.
_UNLIMITED_INSTANCES = 1_000_000
_CLOCK_WATCH_INTERVAL = 1.0
"""Seconds between two looks at the wall clock against the monotonic one."""
_CLOCK_STEP = 0.5
"""A difference between them beyond this many seconds is a step of the wall clock."""


class ScheduleTrigger(BaseTrigger):  # type: ignore[misc]  # apscheduler ships no type information
    """An APScheduler trigger computing fire times with :func:`jobdeck.schedules.next_fire_time`."""

    __slots__ = ("schedule",)

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        """Strictly after the previous fire; for the first fire, at or after ``now``."""
        after = previous_fire_time if previous_fire_time is not None else now - timedelta(microseconds=1)
        return next_fire_time(self.schedule, after=after.astimezone(UTC))

    def __str__(self) -> str:
        return f"jobdeck[{self.schedule.expression}]"

    def __repr__(self) -> str:
        return f"<ScheduleTrigger {self.schedule.expression!r} ({self.schedule.timezone})>"


class _HandOverExecutor(BaseExecutor):  # type: ignore[misc]
    """Passes due fire times to the :class:`Timer` instead of running anything."""

    def __init__(self, timer: Timer) -> None:
        super().__init__()
        self._timer = timer

    def submit_job(self, job: Any, run_times: Sequence[datetime]) -> None:
        # No per-process instance counting (see the module docstring): every due fire goes to the engine.
        self._timer._hand_over(job.id, run_times)

    def _do_submit_job(self, job: Any, run_times: Sequence[datetime]) -> None:
        self._timer._hand_over(job.id, run_times)


class _TimerJobStore(MemoryJobStore):  # type: ignore[misc]
    """APScheduler's memory store, finding a job at the front of its queue without a search: the timer removes
    one-shot jobs as they come due, i.e. from the front, where the store's own bisection in Python is wasted."""

    def _get_job_index(self, timestamp: float | None, job_id: str) -> int:
        jobs = self._jobs
        if jobs and jobs[0][0].id == job_id:
            return 0
        index: int = super()._get_job_index(timestamp, job_id)
        return index


def _never_called() -> None:
    """The APScheduler job's callable; the hand-over executor never calls it."""


class Timer:
    """Keeps an APScheduler ``AsyncIOScheduler`` and tells the engine when jobs are due.

    Build and start it inside the running event loop; all methods must be called from that loop's thread.
    Misfires are judged like APScheduler does (its wall clock at hand-over against the fire time), but with the
    job's grace in fractional seconds. APScheduler itself never coalesces (it would drop the merged fire times
    without a word): the timer does, so that every fire time it merged is reported missed.
    """

    def __init__(self, *, on_fire: FireCallback, on_missed: MissCallback) -> None:
        self._on_fire = on_fire
        self._on_missed = on_missed
        self._graces: dict[str, float | None] = {}
        self._coalesce: set[str] = set()
        self._log = logging.getLogger(__name__)
        self._stopped = False
        self._changes = 0
        self._clock_watch: asyncio.TimerHandle | None = None
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            jobstores={"default": _TimerJobStore()},
            executors={"default": _HandOverExecutor(self)},
            job_defaults={"coalesce": False, "max_instances": _UNLIMITED_INSTANCES, "misfire_grace_time": None},
        )

    @property
    def running(self) -> bool:
        """Whether the timer is started and not shut down."""
        return not self._stopped and bool(self._scheduler.running)

    @property
    def changes(self) -> int:
        """Grows whenever a job's next run time may have moved (every change below, every hand-over: APScheduler
        moves the fired job's next run time right after it) — equal between two reads means :meth:`next_runs`
        answers the same."""
        return self._changes

    def start(self) -> None:
        """Start firing (binds to the running event loop)."""
        self._scheduler.start()
        self._watch_clock(time.time(), time.monotonic())

    def _watch_clock(self, wall: float, mono: float) -> None:
        # APScheduler sleeps on the loop's monotonic clock until the fire it computed from the wall clock: when the
        # wall clock is stepped (NTP, a resumed VM) it would sleep through the new present, so wake it.
        if self._stopped:
            return
        now_wall, now_mono = time.time(), time.monotonic()
        step = (now_wall - wall) - (now_mono - mono)
        if abs(step) > _CLOCK_STEP:
            self._log.warning("jobdeck: the wall clock moved %+.1f s; the timer looks again at what is due", step)
            self._scheduler.wakeup()
        self._clock_watch = asyncio.get_running_loop().call_later(
            _CLOCK_WATCH_INTERVAL, self._watch_clock, now_wall, now_mono
        )

    def shutdown(self) -> None:
        """Stop firing at once. Fires already handed over are the engine's business."""
        self._stopped = True
        self._changes += 1
        if self._clock_watch is not None:
            self._clock_watch.cancel()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def set_job(
        self, job_id: str, schedule: Schedule, *, misfire_grace: float | None, coalesce: bool, paused: bool
    ) -> None:
        """Add or replace a job. A paused job is kept with no next run time (APScheduler's own pause); a job
        whose schedule has no future fire time (a once-schedule in the past) is not kept at all."""
        trigger = ScheduleTrigger(schedule)
        first = trigger.get_next_fire_time(None, datetime.now(UTC))
        self._changes += 1
        self.remove_job(job_id)
        if first is None:
            return
        self._graces[job_id] = misfire_grace
        if coalesce:
            self._coalesce.add(job_id)
        self._scheduler.add_job(
            _never_called,
            trigger=trigger,
            id=job_id,
            name=job_id,
            coalesce=False,  # see the class docstring
            max_instances=_UNLIMITED_INSTANCES,
            misfire_grace_time=None,
            next_run_time=None if paused else first,
            replace_existing=True,
        )

    def remove_job(self, job_id: str) -> None:
        """Forget a job (no error when it is not there)."""
        self._changes += 1
        self._graces.pop(job_id, None)
        self._coalesce.discard(job_id)
        if self._scheduler.get_job(job_id) is not None:
            self._scheduler.remove_job(job_id)

    def pause(self, job_id: str) -> None:
        """Stop firing a job until :meth:`resume`."""
        self._changes += 1
        if self._scheduler.get_job(job_id) is not None:
            self._scheduler.pause_job(job_id)

    def resume(self, job_id: str) -> None:
        """Fire a paused job again from its next fire time after now (past fires are not caught up)."""
        self._changes += 1
        if self._scheduler.get_job(job_id) is not None:
            self._scheduler.resume_job(job_id)
            if self._scheduler.get_job(job_id) is None:
                self._graces.pop(job_id, None)

    def next_runs(self) -> dict[str, datetime | None]:
        """Every job's next run time in UTC, by id (None while paused): :meth:`next_run_time` of all jobs at once."""
        return {
            job.id: None if job.next_run_time is None else job.next_run_time.astimezone(UTC)
            for job in self._scheduler.get_jobs()
        }

    def next_run_time(self, job_id: str) -> datetime | None:
        """When the job fires next, in UTC; None while paused or when its schedule is exhausted."""
        job = self._scheduler.get_job(job_id)
        if job is None or job.next_run_time is None:
            return None
        value: datetime = job.next_run_time
        return value.astimezone(UTC)

    def _hand_over(self, job_id: str, run_times: Sequence[datetime]) -> None:
        # Runs inside APScheduler's _process_jobs on the loop thread; the callbacks only spawn tasks.
        self._changes += 1
        if self._stopped:
            return
        grace = self._graces.get(job_id)
        now = datetime.now(UTC)
        if len(run_times) == 1:  # the usual case, kept to one comparison
            fire_time = run_times[0].astimezone(UTC)
            lateness = (now - fire_time).total_seconds()
            try:
                if grace is not None and lateness > grace:
                    self._on_missed(job_id, fire_time, lateness, None)
                else:
                    self._on_fire(job_id, fire_time)
            except Exception:
                self._log.exception("jobdeck: handing over fire %s of job %s failed", fire_time, job_id)
            return
        plan = plan_hand_over(
            [t.astimezone(UTC) for t in run_times], now=now, coalesce=job_id in self._coalesce, misfire_grace=grace
        )
        if plan.stall is not None and plan.missed:
            self._log.warning(
                "jobdeck: job %s: %d fires from %s to %s came %.0f s late at once (a stall); %d recorded missed",
                job_id,
                plan.stall.count,
                plan.stall.first.isoformat(),
                plan.stall.last.isoformat(),
                plan.stall.late,
                len(plan.missed),
            )
        try:
            for fire_time, lateness in plan.missed:
                self._on_missed(job_id, fire_time, lateness, plan.stall)
            for fire_time in plan.run:
                self._on_fire(job_id, fire_time)
        except Exception:
            self._log.exception("jobdeck: handing over the fires of job %s failed", job_id)
