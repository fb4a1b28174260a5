"""An engine on an event loop and a thread of its own (``Settings.engine_thread``).

Why: a timer sharing the server's loop fires as late as a turn of that loop under HTTP load is long (see
docs/performance.md, "The engine"). Here the timer, the fire path, the runs and their writes (through a store of
their own) live on the engine's loop; the host loop only reads the engine's state and sends actions across.

Reads (:meth:`ThreadedEngine.jobs`, :meth:`~ThreadedEngine.job` …) run on the caller's thread: they are attribute
and dict reads, atomic under the GIL, and APScheduler's job store, which it guards with a lock. The registry's
set of jobs is fixed once started (jobs register before the engine starts), so nothing iterated here grows.
Actions (pause, trigger, cancel …) run on the engine's loop via ``run_coroutine_threadsafe`` and are awaited.

Job coroutines run on the engine's loop, so objects bound to the host's loop (its connection pools, its locks)
are not theirs to use: that is why embedded apps opt in, and ``jobdeck serve``, which owns its process, opts in
by default.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import Any, TypeAlias, TypeVar

from jobdeck.engine.core import Engine, EngineState, JobView, PauseExpiredHandler
from jobdeck.engine.options import EngineOptions
from jobdeck.models import Execution, JobState, ProgressUpdate, Schedule
from jobdeck.store.base import Store
from jobdeck.store.held import WriteStatus

__all__ = ["EngineHandle", "ThreadedEngine"]

T = TypeVar("T")


async def _on(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on ``loop`` (another thread's) and wait for it here, without blocking this loop."""
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        # What asyncio.run does at its end: tasks left waiting (the store writer's idle pump) are cancelled.
        left = asyncio.all_tasks(loop)
        for task in left:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


class ThreadedEngine:
    """An :class:`Engine` running on a thread of its own; the same surface as the engine for the service, with
    the actions awaited across the threads. Build it with :meth:`start`, stop it with :meth:`shutdown`."""

    def __init__(self, engine: Engine, store: Store, loop: asyncio.AbstractEventLoop, thread: threading.Thread):
        self._engine = engine
        self._store = store
        self._loop = loop
        self._thread = thread
        self._host = asyncio.get_running_loop()

    @classmethod
    async def start(cls, build: Callable[[], Coroutine[Any, Any, tuple[Engine, Store]]]) -> ThreadedEngine:
        """Start the engine's thread and loop and call ``build`` there; it opens the engine's own store, builds
        and starts the engine and returns both (the store is closed after the engine at :meth:`shutdown`)."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=_serve, args=(loop,), name="jobdeck-engine", daemon=True)
        thread.start()
        try:
            engine, store = await _on(loop, build())
        except BaseException:
            await _stop(loop, thread)
            raise
        return cls(engine, store, loop, thread)

    async def shutdown(self) -> None:
        """As :meth:`Engine.shutdown`, then close the engine's store and end its thread. Idempotent."""
        if self._loop.is_closed():
            return

        async def close() -> None:
            try:
                await self._engine.shutdown()
            finally:
                await self._store.close()

        try:
            await _on(self._loop, close())
        finally:
            await _stop(self._loop, self._thread)

    # -- reads, on the caller's thread (see the module docstring) --------------------------------------------

    @property
    def options(self) -> EngineOptions:
        return self._engine.options

    @property
    def running(self) -> bool:
        return self._engine.running

    @property
    def scheduling(self) -> bool:
        return self._engine.scheduling

    @property
    def state(self) -> EngineState:
        return self._engine.state

    @property
    def job_count(self) -> int:
        return self._engine.job_count

    def jobs(self) -> list[JobView]:
        return self._engine.jobs()

    def job(self, job_id: str) -> JobView:
        return self._engine.job(job_id)

    def state_key(self) -> object:
        return self._engine.state_key()

    def paused_count(self) -> int:
        return self._engine.paused_count()

    def live_progress(self, execution_id: str) -> ProgressUpdate | None:
        return self._engine.live_progress(execution_id)

    def local_running(self) -> list[str]:
        return self._engine.local_running()

    def write_status(self) -> WriteStatus:
        return self._store.write_status()

    def local_running_counts(self) -> dict[str, int]:
        return self._engine.local_running_counts()

    def pending_retries(self) -> list[str]:
        return self._engine.pending_retries()

    # -- actions, on the engine's loop ------------------------------------------------------------------------

    async def start_scheduling(self, states: Mapping[str, JobState] | None = None) -> None:
        await _on(self._loop, self._engine.start_scheduling(states))

    async def pause(self, job_id: str, *, until: datetime | None = None) -> None:
        await _on(self._loop, self._engine.pause(job_id, until=until))

    async def resume(self, job_id: str) -> None:
        await _on(self._loop, self._engine.resume(job_id))

    async def reschedule(self, job_id: str, schedule: Schedule | None) -> None:
        await _on(self._loop, self._engine.reschedule(job_id, schedule))

    async def trigger(
        self,
        job_id: str,
        *,
        force: bool = False,
        kwargs: Mapping[str, Any] | None = None,
        actor: str,
        execution_id: str | None = None,
    ) -> Execution:
        run = self._engine.trigger(job_id, force=force, kwargs=kwargs, actor=actor, execution_id=execution_id)
        return await _on(self._loop, run)

    async def cancel(self, execution_id: str, *, reason: str | None = None) -> None:
        await _on(self._loop, self._engine.cancel(execution_id, reason=reason))

    async def sweep_zombies(self, now: datetime) -> int:
        return await _on(self._loop, self._engine.sweep_zombies(now))

    async def recover_on_startup(self, now: datetime) -> int:
        return await _on(self._loop, self._engine.recover_on_startup(now))

    def set_pause_expired_handler(self, handler: PauseExpiredHandler) -> None:
        # The handler (the service's) writes through the host's store, which belongs to the host's loop.
        host = self._host

        async def on_host(job_id: str) -> None:
            await handler(job_id)

        self._engine.set_pause_expired_handler(lambda job_id: _on(host, on_host(job_id)))


async def _stop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    if not loop.is_closed():
        loop.call_soon_threadsafe(loop.stop)
    await asyncio.to_thread(thread.join)


EngineHandle: TypeAlias = Engine | ThreadedEngine
"""The engine as the service and the runtime hold it: on their own loop, or on a thread of its own."""
