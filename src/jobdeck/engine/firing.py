"""The engine's scheduled fires: from the timer's hand-over to the claim — in bursts (every fire due at one instant
admitted together) or one by one (jitter, overlap waits, catch-up) — and the records of fires that do not run
(missed, skipped).

Every fire ends as exactly one record. While the database refuses writes, a fire's claim is held by the store's
writer and the fire waits for it (it does not run unrecorded: on PostgreSQL the claim is what keeps replicas from
running a fire twice); a claim that lands beyond the misfire grace closes its record ``missed`` instead of running
(see ``Runner.launch``). Fires the timer hands over several at once — it woke late: the process was stopped, its
loop blocked, the clock jumped — are judged by :func:`~jobdeck.engine.catchup.plan_hand_over`: each one merged
(coalesce) or late beyond the grace is a ``missed`` record saying so, with the span.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import Any

from jobdeck.clock import Clock
from jobdeck.engine.bursts import BURST_SIZE, burst_started
from jobdeck.engine.catchup import Stall, plan_catch_up
from jobdeck.engine.closing import Closer
from jobdeck.engine.executors import Executor
from jobdeck.engine.options import EngineOptions
from jobdeck.engine.outcome import format_seconds
from jobdeck.engine.overlap import OverlapGate
from jobdeck.engine.records import new_execution
from jobdeck.engine.runner import Runner
from jobdeck.engine.views import Entry
from jobdeck.ids import new_ids
from jobdeck.models import Execution, ExecutionStatus, JobSpec, TriggerKind
from jobdeck.store.base import EngineStore

__all__ = ["FirePipeline"]

_LAUNCH_CHUNK = 1000
"""Fires of a burst made into records and claimed per task (see ``_start_many``)."""


_MARKS_WITH_CLAIMS = 100
"""Up to this many fires admitted together, their fire marks are written in their claims' transaction (one commit,
not two: the usual case, a fire or a few); a bigger burst writes them after, so its runs wait for the claims alone."""


class FirePipeline:
    """Turns the timer's fires into runs: admits them through the overlap gate (in bursts or one by one), has the
    runner claim and start them, and records the fires that do not run.

    ``entries`` is the engine's registry (read here, never changed); ``running`` says whether the engine is
    started; ``closer`` is the runner's (a big burst holds its closes while it starts).
    """

    def __init__(
        self,
        store: EngineStore,
        *,
        clock: Clock,
        options: EngineOptions,
        entries: Mapping[str, Entry],
        gate: OverlapGate,
        runner: Runner,
        closer: Closer,
        running: Callable[[], bool],
    ) -> None:
        self._store = store
        self._clock = clock
        self._options = options
        self._entries = entries
        self._gate = gate
        self._runner = runner
        self._closer = closer
        self._running = running
        self._fires: set[asyncio.Task[None]] = set()
        self._jittering: set[asyncio.Task[None]] = set()
        self._due: list[tuple[str, datetime]] = []
        self._log = logging.getLogger(__name__)

    def new_execution(self, spec: JobSpec, now: datetime, **fields: Any) -> Execution:
        """A new record of a run of ``spec`` made by this process (:func:`~jobdeck.engine.records.new_execution`)."""
        return new_execution(spec, now, host=self._options.host, pid=self._options.pid, **fields)

    def spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> None:
        """Run ``coro`` as a task of this pipeline: shutdown waits for it (:meth:`drain`), its error is logged."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._fires.add(task)
        task.add_done_callback(self._fire_done)

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109
        """Shutdown: drop the fires waiting for their jitter, and give the others ``timeout`` to land (or fail)."""
        for task in self._jittering:
            task.cancel()
        if self._fires:
            # Fires past their jitter are a count and an insert away from launching.
            await asyncio.wait(self._fires, timeout=timeout)

    # -- timer callbacks (sync, on the loop: they only spawn tasks) ------------------------------------------

    def on_fire(self, job_id: str, fire_time: datetime) -> None:
        """The timer's fire callback."""
        # The timer hands over every fire due at one instant in one pass: they are dealt with together, in one task
        # after that pass (one fire-mark write, one running count and one claim write for all of them).
        self._due.append((job_id, fire_time))
        if len(self._due) == 1:
            asyncio.get_running_loop().call_soon(self._dispatch_due)

    def _dispatch_due(self) -> None:
        due, self._due = self._due, []
        if len(due) >= BURST_SIZE:
            self.spawn(self._fire_burst(due), name=f"jobdeck-fires:{len(due)}")
        elif due:
            self.spawn(self._fire_many(due), name=f"jobdeck-fires:{len(due)}")

    async def _fire_burst(self, due: list[tuple[str, datetime]]) -> None:
        # The burst is over for the host's listeners once its runs are started and those that ended meanwhile are
        # closed (they are held until then: see Closer.hold_closes).
        over = burst_started(len(due))
        try:
            await self._fire_many(due)
        finally:
            self._closer.when_closed(over)

    def on_missed(self, job_id: str, fire_time: datetime, lateness: float, stall: Stall | None = None) -> None:
        """The timer's missed-fire callback."""
        self.spawn(self._record_missed(job_id, fire_time, lateness, stall), name=f"jobdeck-missed:{job_id}")

    def _fire_done(self, task: asyncio.Task[None]) -> None:
        self._fires.discard(task)
        self._jittering.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            # The fire is lost (typically the store is down); there is no record to write it to.
            self._log.error("jobdeck: %s failed", task.get_name(), exc_info=error)

    async def _fire_many(self, due: list[tuple[str, datetime]]) -> None:
        fires = [(entry, fire_time) for job_id, fire_time in due if (entry := self._entries.get(job_id)) is not None]
        if not fires:
            return
        marks: list[asyncio.Future[None]] = []

        def send_marks() -> None:
            # Once: after the burst's claims (or at the end, when none were made together), so that the burst's
            # runs wait for the claims alone. A mark committed after its claim shows only after a crash in between:
            # catch-up fires again, and finds the fire's claim taken (no second record, no second run).
            if not marks:
                marks.append(asyncio.ensure_future(self._store.record_fires([(e.spec.id, t) for e, t in fires])))

        try:
            await self._admit_many(fires, send_marks)
        finally:
            send_marks()
            await marks[0]

    async def _admit_many(self, fires: list[tuple[Entry, datetime]], send_marks: Callable[[], None]) -> None:
        if not self._running():
            return
        together: list[tuple[JobSpec, datetime]] = []
        executors: dict[str, Executor] = {}
        for entry, fire_time in fires:
            spec = entry.spec
            if spec.jitter or spec.id in executors or not self._gate.idle(spec.id):
                # Alone, as before batching: a jittered start, a second fire of one job (it waits for the first's
                # admission), or a job with a fire already being admitted or waiting.
                self._fire_alone((spec, fire_time))
            else:
                executors[spec.id] = entry.executor
                together.append((spec, fire_time))
        if together:
            await self._gate.fire_many(
                together,
                start_many=lambda admitted: self._start_many(admitted, executors, send_marks),
                one_by_one=self._fire_alone,
            )

    def _fire_alone(self, fire: tuple[JobSpec, datetime]) -> None:
        spec, fire_time = fire
        self.spawn(self._fire(spec.id, fire_time, marked=True), name=f"jobdeck-fire:{spec.id}")

    async def _start_many(
        self, fires: list[tuple[JobSpec, datetime]], executors: Mapping[str, Executor], send_marks: Callable[[], None]
    ) -> None:
        # A task per chunk, one per turn of the loop: the first claims commit while the next chunks are made, and
        # each chunk's runs start on its own commit. Runs ending meanwhile are closed after (Closer.hold_closes).
        if len(fires) <= _MARKS_WITH_CLAIMS:
            send_marks()  # queued in this turn of the loop with the claims: they commit together
            await self._launch_fires(fires, executors)
            return
        loop = asyncio.get_running_loop()
        launches: list[asyncio.Task[None]] = []
        self._closer.hold_closes()
        try:
            for offset in range(0, len(fires), _LAUNCH_CHUNK):
                if launches:
                    await asyncio.sleep(0)
                chunk = fires[offset : offset + _LAUNCH_CHUNK]
                launches.append(loop.create_task(self._launch_fires(chunk, executors)))
            await asyncio.gather(*launches)
        finally:
            send_marks()
            self._closer.release_closes()

    async def _launch_fires(self, fires: list[tuple[JobSpec, datetime]], executors: Mapping[str, Executor]) -> None:
        if not self._running():
            return
        now = self._clock.now()
        launches = [
            (
                spec,
                executors[spec.id],
                self.new_execution(
                    spec,
                    now,
                    status=ExecutionStatus.RUNNING,
                    scheduled_time=fire_time,
                    trigger=TriggerKind.SCHEDULE,
                    kwargs=spec.kwargs,
                    execution_id=execution_id,
                ),
            )
            for (spec, fire_time), execution_id in zip(fires, new_ids(now, len(fires)), strict=True)
        ]
        await self._runner.launch_many(launches)

    async def _fire(self, job_id: str, fire_time: datetime, *, marked: bool = False, catch_up: bool = False) -> None:
        entry = self._entries.get(job_id)
        if entry is None:
            return
        spec = entry.spec
        if not marked:
            await self._store.record_fire(job_id, fire_time)
        if spec.jitter:
            # Jitter delays the start, not the fire: scheduled_time stays the fire time, so replicas still claim
            # the same key and `delay` shows the jitter.
            task = asyncio.current_task()
            assert task is not None
            self._jittering.add(task)
            await asyncio.sleep(random.uniform(0.0, spec.jitter))
            self._jittering.discard(task)
        if not self._running():
            return

        async def start() -> None:
            if not self._running():
                return
            execution = self.new_execution(
                spec,
                self._clock.now(),
                status=ExecutionStatus.RUNNING,
                scheduled_time=fire_time,
                trigger=TriggerKind.SCHEDULE,
                kwargs=spec.kwargs,
            )
            await self._runner.launch(spec, entry.executor, execution, catch_up=catch_up)

        async def skip(reason: str) -> None:
            await self._insert_closed(spec, ExecutionStatus.SKIPPED, fire_time, reason)

        await self._gate.fire(spec, fire_time, start=start, skip=skip)

    async def _insert_closed(self, spec: JobSpec, status: ExecutionStatus, fire_time: datetime, message: str) -> None:
        # Same key as the run would have had: on several replicas only one such record is written.
        await self._store.insert_execution(
            self.new_execution(
                spec,
                self._clock.now(),
                status=status,
                scheduled_time=fire_time,
                trigger=TriggerKind.SCHEDULE,
                kwargs=spec.kwargs,
                error_message=message,
            )
        )

    async def _record_missed(
        self, job_id: str, fire_time: datetime, lateness: float, stall: Stall | None = None
    ) -> None:
        entry = self._entries.get(job_id)
        if entry is None:
            return
        spec = entry.spec
        await self._store.record_fire(job_id, fire_time)
        if stall is not None:
            message = stall.message(fire_time, grace=spec.misfire_grace)
        else:
            message = f"missed by {round(lateness)} s (misfire grace {format_seconds(spec.misfire_grace)} s)"
        await self._insert_closed(spec, ExecutionStatus.MISSED, fire_time, message)

    async def catch_up(self, entry: Entry) -> None:
        """Deal with the fires a job missed while no jobdeck was running (see :mod:`jobdeck.engine.catchup`)."""
        spec = entry.spec
        if entry.paused or entry.catch_up_after is None:
            return
        now = self._clock.now()
        plan = plan_catch_up(entry.schedule, last_fire=entry.catch_up_after, now=now, coalesce=spec.coalesce,
                             misfire_grace=spec.misfire_grace)  # fmt: skip
        if plan.missed_first is not None and plan.missed_last is not None:
            summary = plan.summary(coalesced=spec.coalesce)
            await self._insert_closed(spec, ExecutionStatus.MISSED, plan.missed_first, summary)
            await self._store.record_fire(spec.id, plan.missed_last)
        for fire_time in plan.run:
            self.spawn(self._fire(spec.id, fire_time, catch_up=True), name=f"jobdeck-catch-up:{spec.id}")
