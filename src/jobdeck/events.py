"""Events: every state change of jobs and runs, typed, on one bus — the one way out (DESIGN §9).

Changes are observed at the one place every change passes through — the store — by :class:`PublishingStore`,
which wraps any :class:`~jobdeck.store.base.Store` and publishes an event after each successful write; the engine
and the service need not know anyone is listening. Each event is a frozen dataclass under :class:`ChangeEvent`
carrying what its consumers need (a started run's record, a finish's status and error, a pause's end); pages
re-read what they show, so a dropped event can cost a refresh, never a wrong figure.

Consumers: the job list's read model (:class:`~jobdeck.job_list.JobList`), the SSE stream, the process log;
metrics and alerts are next — each a :class:`Listener` (synchronous, on the publisher's thread) or a
:class:`Subscription` (a queue on the subscriber's loop). Events are per process; pages of another replica fall
back to polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from jobdeck.clock import Clock
from jobdeck.event_types import (
    Audited,
    CancelRequested,
    ChangeEvent,
    JobEvent,
    JobPaused,
    JobResumed,
    LogAppended,
    LogTrimmed,
    MetadataChanged,
    ProgressReported,
    Resync,
    RunDeleted,
    RunEvent,
    RunFinished,
    RunMissed,
    RunsForceClosed,
    RunSkipped,
    RunStarted,
    ScheduleChanged,
)
from jobdeck.models import (
    AuditEntry,
    Execution,
    ExecutionClose,
    ExecutionStatus,
    JobMetadata,
    LogLine,
    ProgressUpdate,
)

if TYPE_CHECKING:
    from jobdeck.store.base import Store

__all__ = [
    "Audited",
    "CancelRequested",
    "ChangeEvent",
    "EventBus",
    "JobEvent",
    "JobPaused",
    "JobResumed",
    "Listener",
    "LogAppended",
    "LogTrimmed",
    "MetadataChanged",
    "ProgressReported",
    "PublishingStore",
    "Resync",
    "RunDeleted",
    "RunEvent",
    "RunFinished",
    "RunMissed",
    "RunSkipped",
    "RunStarted",
    "RunsForceClosed",
    "ScheduleChanged",
    "Subscription",
]

_QUEUE_SIZE = 1000


_INSERTED: dict[ExecutionStatus, type[RunStarted | RunMissed | RunSkipped]] = {
    ExecutionStatus.RUNNING: RunStarted,
    ExecutionStatus.MISSED: RunMissed,
    ExecutionStatus.SKIPPED: RunSkipped,
}


@dataclass(eq=False)
class Subscription:
    """A listener's queue of events; iterate it with ``async for`` (the iteration ends when the bus closes)."""

    queue: asyncio.Queue[ChangeEvent | None] = field(default_factory=lambda: asyncio.Queue(_QUEUE_SIZE))
    """Events, then None once the bus is closed."""
    overflowed: bool = False

    def __aiter__(self) -> AsyncIterator[ChangeEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[ChangeEvent]:
        while (event := await self.queue.get()) is not None:
            yield event


class Listener(Protocol):
    """A synchronous consumer: told of each event at once, on the publisher's thread (no queue, no hop to a loop).

    ``event_types`` names what it may want (a publisher of anything else does not even ask); ``wants`` is asked
    before an event is built — a listener that refuses most events (the process log past its budget) costs the hot
    path one call, not an event — and both must be quick, thread-safe and never block.
    """

    event_types: tuple[type[ChangeEvent], ...]

    def wants(self, event_type: type[ChangeEvent], status: str | None) -> bool: ...

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
        self._routes: dict[type[ChangeEvent], tuple[Listener, ...]] = {}
        """Per event type, the listeners that may want it (rebuilt when one comes or goes)."""
        self._home: tuple[asyncio.AbstractEventLoop, int] | None = None
        """The subscribers' loop and its thread."""
        self._closed = False

    @property
    def subscribers(self) -> int:
        """How many listen (subscriptions and listeners)."""
        return len(self._subscribers) + len(self._listeners)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called: subscriptions have ended, new ones end at once."""
        return self._closed

    def listening(self, *event_types: type[ChangeEvent]) -> bool:
        """Whether anyone may want an event of one of these types: with nobody, publishers skip even building it."""
        return bool(self._subscribers) or any(self._listeners_of(each) for each in event_types)

    def _listeners_of(self, event_type: type[ChangeEvent]) -> tuple[Listener, ...]:
        listeners = self._routes.get(event_type)
        if listeners is None:
            listeners = tuple(each for each in self._listeners if issubclass(event_type, each.event_types))
            self._routes[event_type] = listeners
        return listeners

    def publish(self, event: ChangeEvent) -> None:
        """Publish an event built already."""
        listeners = [each for each in self._listeners_of(type(event)) if each.wants(type(event), event.status)]
        self._deliver(event, listeners)

    def emit(self, event_type: type[ChangeEvent], /, **fields: Any) -> None:
        """Publish an event of ``event_type`` stamped with the current time — built only if someone wants it."""
        listeners = self._listeners_of(event_type)
        if listeners:
            status = fields.get("status")
            listeners = tuple(each for each in listeners if each.wants(event_type, status))
        if not self._subscribers and not listeners:
            return  # nobody listens: the event is not even built (every run start and finish comes here)
        self._deliver(event_type(at=self._clock.now(), **fields), listeners)

    def _deliver(self, event: ChangeEvent, listeners: Sequence[Listener]) -> None:
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # a listener's fault must never fail the write that published
                logging.getLogger(__name__).exception("jobdeck: an event listener failed")
        if not self._subscribers:
            return
        self._on_home_loop(self._fan_out, event)

    def _on_home_loop(self, call: Callable[[ChangeEvent | None], None], event: ChangeEvent | None) -> None:
        home = self._home
        if home is None or home[1] == threading.get_ident():
            call(event)
            return
        with contextlib.suppress(RuntimeError):  # the subscribers' loop is closed: nobody is left to tell
            home[0].call_soon_threadsafe(call, event)

    def _fan_out(self, event: ChangeEvent | None) -> None:
        for subscription in self._subscribers:
            try:
                subscription.queue.put_nowait(event)
            except asyncio.QueueFull:
                # A listener that cannot keep up gets one "resync" instead of an unbounded backlog.
                if not subscription.overflowed or event is None:
                    subscription.overflowed = True
                    with contextlib.suppress(asyncio.QueueEmpty):
                        subscription.queue.get_nowait()
                    subscription.queue.put_nowait(event or Resync(at=self._clock.now()))

    def close(self) -> None:
        """End every subscription (their ``async for`` stops) and any made later: the server is shutting down, and
        an open SSE stream must not hold it up. Listeners stay (the process log writes the last runs' ends)."""
        self._closed = True
        self._on_home_loop(self._fan_out, None)

    @contextlib.contextmanager
    def listen(self, listener: Listener) -> Iterator[None]:
        """``with bus.listen(listener): …`` — ``listener(event)`` for every event it wants published meanwhile."""
        self._listeners = (*self._listeners, listener)
        self._routes = {}
        try:
            yield
        finally:
            self._listeners = tuple(each for each in self._listeners if each is not listener)
            self._routes = {}

    def attach(self, listener: Listener) -> None:
        """Listen for as long as the bus lives (a read model of the process)."""
        self._listeners = (*self._listeners, listener)
        self._routes = {}

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        """``with bus.subscribe() as subscription: async for event in subscription: …``"""
        subscription = Subscription()
        with contextlib.suppress(RuntimeError):  # no running loop: publishers on this thread deliver directly
            self._home = (asyncio.get_running_loop(), threading.get_ident())
        if self._closed:
            subscription.queue.put_nowait(None)
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)


class PublishingStore:
    """A Store that publishes a typed event after every successful write of its inner store: every state change
    passes here, whoever made it (the engine, the service, the CLI)."""

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
        if not self._bus.listening(RunStarted, RunMissed, RunSkipped, RunFinished):
            return results  # a burst's thousands of claims: not even a call per record when nobody listens
        for execution, written in zip(executions, results, strict=True):
            if written is True:
                self._inserted(execution)
        return results

    def _inserted(self, execution: Execution) -> None:
        event_type = _INSERTED.get(execution.status)
        if event_type is None:  # a record written terminal at once: a finished run
            self._bus.emit(
                RunFinished,
                job_id=execution.job_id,
                execution_ids=(execution.id,),
                status=execution.status.value,
                message=execution.error_message,
                finished_at=execution.finished_at,
            )
        elif event_type is RunStarted:
            self._bus.emit(
                RunStarted,
                job_id=execution.job_id,
                execution_ids=(execution.id,),
                status=execution.status.value,
                execution=execution,
            )
        else:
            self._bus.emit(
                event_type,
                job_id=execution.job_id,
                execution_ids=(execution.id,),
                status=execution.status.value,
                message=execution.error_message,
                execution=execution,
            )

    async def write_progress(self, updates: Sequence[ProgressUpdate]) -> None:
        await self._inner.write_progress(updates)
        if updates:
            self._bus.emit(ProgressReported, execution_ids=tuple(u.execution_id for u in updates))

    async def request_cancel(self, execution_id: str, at: datetime) -> Execution:
        execution = await self._inner.request_cancel(execution_id, at)
        self._bus.emit(CancelRequested, job_id=execution.job_id, execution_ids=(execution_id,))
        return execution

    async def close_execution(self, execution_id: str, *, status: ExecutionStatus, **fields: Any) -> bool:
        closed = await self._inner.close_execution(execution_id, status=status, **fields)
        if closed:
            self._bus.emit(
                RunFinished,
                execution_ids=(execution_id,),
                status=status.value,
                message=fields.get("error_message"),
                finished_at=fields.get("finished_at"),
            )
        return closed

    async def close_executions(self, closes: Sequence[ExecutionClose]) -> list[bool | Exception]:
        results = await self._inner.close_executions(closes)
        if not self._bus.listening(RunFinished):
            return results
        for close, closed in zip(closes, results, strict=True):
            if closed is True:
                self._bus.emit(
                    RunFinished,
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
                RunsForceClosed,
                execution_ids=tuple(execution_ids),
                status="failed",
                message=message,
                finished_at=finished_at,
            )
        return closed

    async def delete_execution(self, execution_id: str) -> None:
        await self._inner.delete_execution(execution_id)
        self._bus.emit(RunDeleted, execution_ids=(execution_id,))

    async def append_log(self, lines: Sequence[LogLine]) -> None:
        await self._inner.append_log(lines)
        if lines:
            self._bus.emit(LogAppended, execution_ids=tuple(dict.fromkeys(line.execution_id for line in lines)))

    async def trim_log(self, execution_id: str, *, keep_from_seq: int, note: str, at: datetime) -> None:
        await self._inner.trim_log(execution_id, keep_from_seq=keep_from_seq, note=note, at=at)
        self._bus.emit(LogTrimmed, execution_ids=(execution_id,))

    async def set_paused(
        self, job_id: str, paused: bool, *, at: datetime, actor: str, until: datetime | None = None
    ) -> None:
        await self._inner.set_paused(job_id, paused, at=at, actor=actor, until=until)
        if paused:
            self._bus.emit(JobPaused, job_id=job_id, actor=actor, until=until)
        else:
            self._bus.emit(JobResumed, job_id=job_id, actor=actor)

    async def set_schedule_override(self, job_id: str, expression: str | None, *, at: datetime, actor: str) -> None:
        await self._inner.set_schedule_override(job_id, expression, at=at, actor=actor)
        self._bus.emit(ScheduleChanged, job_id=job_id, actor=actor, expression=expression)

    async def update_metadata(
        self, job_id: str, *, display_name: str | None, description: str | None, at: datetime, actor: str
    ) -> JobMetadata:
        metadata = await self._inner.update_metadata(
            job_id, display_name=display_name, description=description, at=at, actor=actor
        )
        self._bus.emit(MetadataChanged, job_id=job_id, actor=actor, metadata=metadata)
        return metadata

    async def append_audit(self, entry: AuditEntry) -> None:
        await self._inner.append_audit(entry)
        self._bus.emit(Audited, job_id=entry.job_id, execution_ids=_ids(entry.execution_id), entry=entry)

    async def roll_up_audit(self, entry: AuditEntry, *, count: int) -> None:
        await self._inner.roll_up_audit(entry, count=count)
        self._bus.emit(Audited, job_id=entry.job_id, execution_ids=_ids(entry.execution_id), entry=entry)


def _ids(execution_id: str | None) -> tuple[str, ...]:
    return () if execution_id is None else (execution_id,)
