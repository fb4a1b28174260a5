"""Change events: what changed about executions and jobs, for live pages and the SSE stream.

Changes are observed at the one place every change passes through — the store — by :class:`PublishingStore`,
which wraps any :class:`~jobdeck.store.base.Store` and publishes a :class:`ChangeEvent` after each successful
write. The engine and the service need not know anyone is listening. Events say *what* changed (ids), not the
new values: a listener re-reads what it shows, so a dropped event can cost a refresh, never a wrong figure.
Events are per process; pages of another replica fall back to polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from jobdeck.clock import Clock
from jobdeck.models import Execution, ExecutionClose, ExecutionStatus, JobMetadata, LogLine, ProgressUpdate

if TYPE_CHECKING:
    from jobdeck.store.base import Store

__all__ = ["ChangeEvent", "EventBus", "Listener", "PublishingStore", "Subscription"]

_QUEUE_SIZE = 1000


@dataclass(frozen=True, kw_only=True, slots=True)
class ChangeEvent:
    """One change. ``kind`` is ``execution``, ``job``, ``log`` or ``resync`` (events were dropped: reload all)."""

    kind: str
    action: str
    at: datetime
    job_id: str | None = None
    execution_ids: tuple[str, ...] = ()
    status: str | None = None
    message: str | None = None
    """Why, when the store was told: a run's error, a missed or skipped fire's reason, a forced close's cause."""
    finished_at: datetime | None = None
    """When a ``finished`` run ended (the record's own time, not the event's)."""
    forced: bool = False
    """A ``finished`` record jobdeck closed itself (zombie sweep, start-up recovery, shutdown), not the run's end."""
    execution: Execution | None = None
    """The record written, for ``started``, ``missed`` and ``skipped`` (the process log reads job and times)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "action": self.action,
            "at": self.at.isoformat(),
            "job_id": self.job_id,
            "execution_ids": list(self.execution_ids),
            "status": self.status,
        }


@dataclass(eq=False)
class Subscription:
    """A listener's queue of events; iterate it with ``async for``."""

    queue: asyncio.Queue[ChangeEvent] = field(default_factory=lambda: asyncio.Queue(_QUEUE_SIZE))
    overflowed: bool = False

    def __aiter__(self) -> AsyncIterator[ChangeEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[ChangeEvent]:
        while True:
            yield await self.queue.get()


class Listener(Protocol):
    """A synchronous consumer: told of each event at once, on the publisher's thread (no queue, no hop to a loop).

    ``wants`` is asked before an event is even built — a listener that refuses most events (the process log past
    its budget) costs the hot path one call, not an event — and both must be quick, thread-safe and never block.
    """

    def wants(self, kind: str, action: str, status: str | None) -> bool: ...

    def __call__(self, event: ChangeEvent) -> None: ...


class EventBus:
    """Fans events out to subscribers in this process. Publishing never blocks and never fails.

    Subscribers listen on the loop they subscribed in; a publisher on another thread (the engine's, with
    ``Settings.engine_thread``) hands its events to that loop instead of touching their queues itself.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._subscribers: set[Subscription] = set()
        self._listeners: tuple[Listener, ...] = ()
        self._home: tuple[asyncio.AbstractEventLoop, int] | None = None
        """The subscribers' loop and its thread."""

    @property
    def subscribers(self) -> int:
        """How many listen (subscriptions and listeners): with none, publishers skip building events."""
        return len(self._subscribers) + len(self._listeners)

    def publish(self, event: ChangeEvent) -> None:
        listeners = [each for each in self._listeners if each.wants(event.kind, event.action, event.status)]
        self._deliver(event, listeners)

    def emit(self, kind: str, action: str, **fields: Any) -> None:
        """Publish an event stamped with the current time."""
        listeners = (
            [each for each in self._listeners if each.wants(kind, action, fields.get("status"))]
            if self._listeners
            else ()
        )
        if not self._subscribers and not listeners:
            return  # nobody listens: the event is not even built (every run start and finish comes here)
        self._deliver(ChangeEvent(kind=kind, action=action, at=self._clock.now(), **fields), listeners)

    def _deliver(self, event: ChangeEvent, listeners: Sequence[Listener]) -> None:
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # a listener's fault must never fail the write that published
                logging.getLogger(__name__).exception("jobdeck: an event listener failed")
        if not self._subscribers:
            return
        home = self._home
        if home is None or home[1] == threading.get_ident():
            self._fan_out(event)
            return
        with contextlib.suppress(RuntimeError):  # the subscribers' loop is closed: nobody is left to tell
            home[0].call_soon_threadsafe(self._fan_out, event)

    def _fan_out(self, event: ChangeEvent) -> None:
        for subscription in self._subscribers:
            try:
                subscription.queue.put_nowait(event)
            except asyncio.QueueFull:
                # A listener that cannot keep up gets one "resync" instead of an unbounded backlog.
                if not subscription.overflowed:
                    subscription.overflowed = True
                    with contextlib.suppress(asyncio.QueueEmpty):
                        subscription.queue.get_nowait()
                    subscription.queue.put_nowait(ChangeEvent(kind="resync", action="resync", at=self._clock.now()))

    @contextlib.contextmanager
    def listen(self, listener: Listener) -> Any:
        """``with bus.listen(listener): …`` — ``listener(event)`` for every event it wants published meanwhile."""
        self._listeners = (*self._listeners, listener)
        try:
            yield
        finally:
            self._listeners = tuple(each for each in self._listeners if each is not listener)

    @contextlib.contextmanager
    def subscribe(self) -> Any:
        """``with bus.subscribe() as subscription: async for event in subscription: …``"""
        subscription = Subscription()
        with contextlib.suppress(RuntimeError):  # no running loop: publishers on this thread deliver directly
            self._home = (asyncio.get_running_loop(), threading.get_ident())
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)


class PublishingStore:
    """A Store that publishes a ChangeEvent after every successful write of its inner store."""

    def __init__(self, inner: Store, bus: EventBus) -> None:
        self._inner = inner
        self._bus = bus

    def __getattr__(self, name: str) -> Any:
        # Reads (and writes nobody watches) go straight through.
        return getattr(self._inner, name)

    async def insert_execution(self, execution: Execution) -> bool:
        written = await self._inner.insert_execution(execution)
        if written:
            self._inserted(execution)
        return written

    async def insert_executions(self, executions: Sequence[Execution]) -> list[bool | Exception]:
        results = await self._inner.insert_executions(executions)
        if not self._bus.subscribers:
            return results  # a burst's thousands of claims: not even a call per record when nobody listens
        for execution, written in zip(executions, results, strict=True):
            if written is True:
                self._inserted(execution)
        return results

    def _inserted(self, execution: Execution) -> None:
        action = "started" if execution.status is ExecutionStatus.RUNNING else execution.status.value
        self._bus.emit(
            "execution",
            action,
            job_id=execution.job_id,
            execution_ids=(execution.id,),
            status=execution.status.value,
            message=execution.error_message,
            execution=execution,
        )

    async def write_progress(self, updates: Sequence[ProgressUpdate]) -> None:
        await self._inner.write_progress(updates)
        if updates:
            self._bus.emit("execution", "progress", execution_ids=tuple(u.execution_id for u in updates))

    async def request_cancel(self, execution_id: str, at: datetime) -> Execution:
        execution = await self._inner.request_cancel(execution_id, at)
        self._bus.emit("execution", "cancel_requested", job_id=execution.job_id, execution_ids=(execution_id,))
        return execution

    async def close_execution(self, execution_id: str, *, status: ExecutionStatus, **fields: Any) -> bool:
        closed = await self._inner.close_execution(execution_id, status=status, **fields)
        if closed:
            self._bus.emit(
                "execution",
                "finished",
                execution_ids=(execution_id,),
                status=status.value,
                message=fields.get("error_message"),
                finished_at=fields.get("finished_at"),
            )
        return closed

    async def close_executions(self, closes: Sequence[ExecutionClose]) -> list[bool | Exception]:
        results = await self._inner.close_executions(closes)
        if not self._bus.subscribers:
            return results
        for close, closed in zip(closes, results, strict=True):
            if closed is True:
                self._bus.emit(
                    "execution",
                    "finished",
                    execution_ids=(close.execution_id,),
                    status=close.status.value,
                    message=close.error_message,
                    finished_at=close.finished_at,
                )
        return results

    async def fail_executions(self, execution_ids: Sequence[str], *, finished_at: datetime, message: str) -> int:
        closed = await self._inner.fail_executions(execution_ids, finished_at=finished_at, message=message)
        if closed:
            self._bus.emit(
                "execution",
                "finished",
                execution_ids=tuple(execution_ids),
                status="failed",
                message=message,
                finished_at=finished_at,
                forced=True,
            )
        return closed

    async def delete_execution(self, execution_id: str) -> None:
        await self._inner.delete_execution(execution_id)
        self._bus.emit("execution", "deleted", execution_ids=(execution_id,))

    async def append_log(self, lines: Sequence[LogLine]) -> None:
        await self._inner.append_log(lines)
        if lines:
            self._bus.emit("log", "appended", execution_ids=tuple(dict.fromkeys(line.execution_id for line in lines)))

    async def set_paused(
        self, job_id: str, paused: bool, *, at: datetime, actor: str, until: datetime | None = None
    ) -> None:
        await self._inner.set_paused(job_id, paused, at=at, actor=actor, until=until)
        self._bus.emit("job", "paused" if paused else "resumed", job_id=job_id)

    async def trim_log(self, execution_id: str, *, keep_from_seq: int, note: str, at: datetime) -> None:
        await self._inner.trim_log(execution_id, keep_from_seq=keep_from_seq, note=note, at=at)
        self._bus.emit("log", "trimmed", execution_ids=(execution_id,))

    async def set_schedule_override(self, job_id: str, expression: str | None, *, at: datetime, actor: str) -> None:
        await self._inner.set_schedule_override(job_id, expression, at=at, actor=actor)
        self._bus.emit("job", "schedule_changed", job_id=job_id)

    async def update_metadata(
        self, job_id: str, *, display_name: str | None, description: str | None, at: datetime, actor: str
    ) -> JobMetadata:
        metadata = await self._inner.update_metadata(
            job_id, display_name=display_name, description=description, at=at, actor=actor
        )
        self._bus.emit("job", "metadata_changed", job_id=job_id)
        return metadata
