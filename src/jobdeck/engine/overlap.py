"""Overlap policies: what a scheduled fire does while the job still runs (counted in the store, on every replica).

* ``skip`` — the fire is dropped and recorded ``skipped``.
* ``queue`` — the fire waits for the running run to end, then runs (its ``delay`` shows the wait); at most one fire
  waits per job in a process, later ones are recorded ``skipped``.
* ``allow`` — runs overlap, up to ``max_instances``; a fire beyond that is recorded ``skipped``.
* ``replace`` — the running run is cancelled ("replaced by the fire at …") and the fire runs once it has ended
  (or, should it not end within twice the cancel grace, anyway). When fires come faster than runs stop, the newest
  fire wins and the older waiting one is recorded ``skipped``.

Running is counted in the store (every replica's runs), less this process's runs whose job has ended but whose
record is not closed yet (its close is on its way or held while the database refuses writes): a run waiting for
its record is not a running instance, so a slow or locked database does not turn fires into ``skipped`` ones.

Manual triggers are not subject to the policy (they answer 409 at ``max_instances`` unless forced); neither are
retries, which continue a fire that already ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import Any

from jobdeck.clock import Clock
from jobdeck.engine.options import EngineOptions
from jobdeck.errors import ExecutionNotFound, ExecutionNotRunning
from jobdeck.models import JobSpec, OverlapPolicy
from jobdeck.store.base import EngineStore

__all__ = ["OverlapGate"]

Start = Callable[[], Coroutine[Any, Any, None]]
Skip = Callable[[str], Coroutine[Any, Any, None]]
Fire = tuple[JobSpec, datetime]
StartMany = Callable[[list[Fire]], Coroutine[Any, Any, None]]
LocalCounts = Callable[[], tuple[Mapping[str, int], Mapping[str, int]]]
"""This process's runs per job: (going — claimed, job not ended; ended — record not closed yet)."""

_POLL = 0.5
"""How often a waiting fire re-counts running executions (runs on other replicas end without telling us)."""


class OverlapGate:
    """Admits scheduled fires according to their job's overlap policy.

    ``cancel_local(execution_id, reason)`` stops a run of this process (``replace``); runs elsewhere see the
    store's cancel flag at their next heartbeat. ``local_counts`` tells this process's runs (see
    :data:`LocalCounts`); without it the store's count is taken as it is.
    """

    def __init__(
        self,
        store: EngineStore,
        *,
        clock: Clock,
        options: EngineOptions,
        cancel_local: Callable[[str, str], bool],
        local_counts: LocalCounts | None = None,
    ) -> None:
        self._store = store
        self._local_counts = local_counts
        self._clock = clock
        self._options = options
        self._cancel_local = cancel_local
        self._locks: dict[str, asyncio.Lock] = {}
        """Per job, made at its first fire admitted alone (a burst's fires need none: see ``_admitting``)."""
        self._admitting: dict[str, asyncio.Future[None]] = {}
        """Jobs whose fire :meth:`fire_many` is admitting → done when it is (a fire of theirs admitted alone waits)."""
        self._ended: dict[str, asyncio.Event] = {}
        self._queued: set[str] = set()
        self._replacing: dict[str, datetime] = {}
        self._closed = False
        self._log = logging.getLogger(__name__)

    def close(self) -> None:
        """Shutdown: fires waiting for a run to end give up without starting."""
        self._closed = True
        for event in self._ended.values():
            event.set()

    def reopen(self) -> None:
        self._closed = False

    def run_ended(self, job_id: str) -> None:
        """A run of the job (in this process) was closed: wake the fires waiting for it."""
        event = self._ended.get(job_id)
        if event is not None:
            event.set()

    def idle(self, job_id: str) -> bool:
        """Whether no fire of the job is being admitted or waiting in this process (:meth:`fire_many` takes only
        such fires)."""
        lock = self._locks.get(job_id)
        return (
            (lock is None or not lock.locked())
            and job_id not in self._admitting
            and job_id not in self._queued
            and job_id not in self._replacing
        )

    async def fire_many(self, fires: list[Fire], *, start_many: StartMany, one_by_one: Callable[[Fire], None]) -> None:
        """Decide about fires of distinct, :meth:`idle` jobs at once (a burst of fires due at one instant). The jobs
        are marked as being admitted (a fire of theirs arriving meanwhile waits, as it would for their lock); then
        one running count, and ``await start_many(admitted)`` for those below their limit. The others — they would
        be skipped, queued or replace a run — go to ``one_by_one`` (which passes them to :meth:`fire`) once the
        batch is admitted."""
        done = asyncio.get_running_loop().create_future()
        for spec, _ in fires:
            assert self.idle(spec.id), "fire_many takes idle jobs only"
            self._admitting[spec.id] = done
        over: list[Fire] = []
        try:
            counts = await self._store.count_running()
            going, ended = self._local_counts() if self._local_counts is not None else ({}, {})
            admitted: list[Fire] = []
            for fire in fires:
                spec = fire[0]
                limit = spec.max_instances if spec.overlap_policy is OverlapPolicy.ALLOW else 1
                running = _running(spec.id, counts, going, ended) if ended else counts.get(spec.id, 0)
                (admitted if running < limit else over).append(fire)
            if admitted:
                await start_many(admitted)
        finally:
            for spec, _ in fires:
                if self._admitting.get(spec.id) is done:
                    del self._admitting[spec.id]
            done.set_result(None)
        for fire in over:
            one_by_one(fire)

    async def fire(self, spec: JobSpec, fire_time: datetime, *, start: Start, skip: Skip) -> None:
        """Decide about one fire: ``await start()`` (under the job's admission lock, so the count and the claim
        are one step in this process) or ``await skip(reason)``."""
        policy = spec.overlap_policy
        limit = spec.max_instances if policy is OverlapPolicy.ALLOW else 1
        while (admitting := self._admitting.get(spec.id)) is not None:
            await asyncio.shield(admitting)  # a burst is admitting a fire of this job: count after its claim
        lock = self._locks.setdefault(spec.id, asyncio.Lock())
        async with lock:
            running = await self._running(spec.id)
            if running < limit:
                await start()
                return
            if policy in (OverlapPolicy.SKIP, OverlapPolicy.ALLOW):
                await skip(f"max_instances={limit} reached; {running} run{'' if running == 1 else 's'} going")
                return
            if policy is OverlapPolicy.QUEUE:
                if spec.id in self._queued:
                    await skip("overlap=queue: another fire is already waiting for the running one to end")
                    return
                self._queued.add(spec.id)
            else:
                self._replacing[spec.id] = fire_time
                await self._cancel_running(spec.id, fire_time)
        if policy is OverlapPolicy.QUEUE:
            try:
                await self._wait_then_start(spec.id, lock, start, deadline=None)
            finally:
                self._queued.discard(spec.id)
            return
        deadline = asyncio.get_running_loop().time() + 2 * self._options.cancel_grace + self._options.heartbeat_interval
        superseded = await self._wait_then_start(spec.id, lock, start, deadline=deadline, fire_time=fire_time)
        if superseded:
            await skip(f"overlap=replace: superseded by the fire at {self._replacing[spec.id].isoformat()}")

    async def _wait_then_start(
        self,
        job_id: str,
        lock: asyncio.Lock,
        start: Start,
        *,
        deadline: float | None,
        fire_time: datetime | None = None,
    ) -> bool:
        """Wait until no run of the job is going (or the deadline passed), then start. Returns True, without
        starting, when a newer ``replace`` fire took over meanwhile."""
        loop = asyncio.get_running_loop()
        event = self._ended.setdefault(job_id, asyncio.Event())
        while True:
            if self._closed:
                return False
            if fire_time is not None and self._replacing.get(job_id) != fire_time:
                return True
            async with lock:
                overdue = deadline is not None and loop.time() >= deadline
                if overdue or await self._running(job_id) < 1:
                    if overdue:
                        self._log.warning("jobdeck: job %s: the replaced run did not end; starting anyway", job_id)
                    if fire_time is not None:
                        self._replacing.pop(job_id, None)
                    await start()
                    return False
                event.clear()
            timeout = _POLL if deadline is None else max(0.0, min(_POLL, deadline - loop.time()))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)

    async def _running(self, job_id: str) -> int:
        counts = await self._store.count_running()
        if self._local_counts is None:
            return counts.get(job_id, 0)
        going, ended = self._local_counts()
        return _running(job_id, counts, going, ended)

    async def _cancel_running(self, job_id: str, fire_time: datetime) -> None:
        reason = f"replaced by the fire at {fire_time.isoformat()}"
        for execution in await self._store.running_executions(job_id=job_id):
            with contextlib.suppress(ExecutionNotRunning, ExecutionNotFound):
                await self._store.request_cancel(execution.id, self._clock.now())
            self._cancel_local(execution.id, reason)


def _running(job_id: str, stored: Mapping[str, int], going: Mapping[str, int], ended: Mapping[str, int]) -> int:
    """The store's running count less this process's ended runs still recorded ``running`` — never below the runs
    this process has going (a close may commit between the store's count and the runner's bookkeeping)."""
    return max(stored.get(job_id, 0) - ended.get(job_id, 0), going.get(job_id, 0))
