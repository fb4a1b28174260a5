"""Typed events of the store's writes, the bus that fans them out, and what the SSE wire keeps of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobdeck.clock import SystemClock
from jobdeck.engine.records import new_execution
from jobdeck.events import (
    Audited,
    CancelRequested,
    ChangeEvent,
    EventBus,
    JobEvent,
    JobPaused,
    JobResumed,
    LogAppended,
    LogTrimmed,
    MetadataChanged,
    ProgressReported,
    PublishingStore,
    Resync,
    RunDeleted,
    RunFinished,
    RunMissed,
    RunsForceClosed,
    RunSkipped,
    RunStarted,
    ScheduleChanged,
)
from jobdeck.models import (
    AuditEntry,
    AuditOutcome,
    Execution,
    ExecutionClose,
    ExecutionStatus,
    JobMetadata,
    JobSpec,
    TriggerKind,
)
from jobdeck.schedules import parse_schedule
from jobdeck.store import SqlStore


async def _noop() -> None:
    return None


async def test_claims_and_closes_written_together_are_published_one_event_each(store: SqlStore) -> None:
    bus = EventBus(SystemClock())
    published = PublishingStore(store, bus)
    now = datetime.now(UTC)
    spec = JobSpec(id="sync", func="x:y", function=_noop, schedule=parse_schedule("*/5 * * * *", timezone="UTC"))

    def claim(scheduled: datetime) -> Execution:
        return new_execution(
            spec, now, status=ExecutionStatus.RUNNING, scheduled_time=scheduled, trigger=TriggerKind.SCHEDULE, kwargs={}
        )

    quiet = claim(now - timedelta(minutes=5))
    assert await published.insert_executions([quiet]) == [True]  # nobody listens: nothing to deliver
    with bus.subscribe() as subscription:
        first, lost = claim(now), claim(now)  # the same fire twice: the second claim is lost
        assert await published.insert_executions([first, lost]) == [True, False]
        closes = [
            ExecutionClose(execution_id=e.id, status=ExecutionStatus.SUCCESS, finished_at=now) for e in (first, quiet)
        ]
        assert await published.close_executions(closes) == [True, True]
        events = [subscription.queue.get_nowait() for _ in range(subscription.queue.qsize())]
    assert [(e.action, e.execution_ids) for e in events] == [
        ("started", (first.id,)),
        ("finished", (first.id,)),
        ("finished", (quiet.id,)),
    ]


def test_each_event_keeps_its_wire_kind_and_action() -> None:
    # The dashboard's JS and the TS client read these pairs: a rename breaks them.
    at = datetime(2026, 3, 6, 9, 30, tzinfo=UTC)
    spec = JobSpec(id="j", func="x:y", function=_noop, schedule=parse_schedule("*/5 * * * *", timezone="UTC"))
    run = new_execution(
        spec, at, status=ExecutionStatus.RUNNING, scheduled_time=at, trigger=TriggerKind.SCHEDULE, kwargs={}
    )
    events = [
        RunStarted(at=at, job_id="j", execution_ids=("e1",), status="running", execution=run),
        RunMissed(at=at, job_id="j", execution_ids=("e1",), status="missed", execution=run),
        RunSkipped(at=at, job_id="j", execution_ids=("e1",), status="skipped", execution=run),
        ProgressReported(at=at, execution_ids=("e1",)),
        CancelRequested(at=at, job_id="j", execution_ids=("e1",)),
        RunFinished(at=at, execution_ids=("e1",), status="success", finished_at=at),
        RunsForceClosed(at=at, execution_ids=("e1", "e2"), status="failed", message="no heartbeat"),
        RunDeleted(at=at, execution_ids=("e1",)),
        LogAppended(at=at, execution_ids=("e1",)),
        LogTrimmed(at=at, execution_ids=("e1",)),
        JobPaused(at=at, job_id="j", actor="alice", until=at),
        JobResumed(at=at, job_id="j", actor="alice"),
        ScheduleChanged(at=at, job_id="j", actor="alice", expression="every 1h"),
        MetadataChanged(at=at, job_id="j", actor="alice"),
        Resync(at=at),
    ]
    assert [(e.kind, e.action) for e in events] == [
        ("execution", "started"),
        ("execution", "missed"),
        ("execution", "skipped"),
        ("execution", "progress"),
        ("execution", "cancel_requested"),
        ("execution", "finished"),
        ("execution", "finished"),
        ("execution", "deleted"),
        ("log", "appended"),
        ("log", "trimmed"),
        ("job", "paused"),
        ("job", "resumed"),
        ("job", "schedule_changed"),
        ("job", "metadata_changed"),
        ("resync", "resync"),
    ]
    assert all(e.public for e in events)
    assert events[6].as_json() == {
        "kind": "execution",
        "action": "finished",
        "at": "2026-03-06T09:30:00+00:00",
        "job_id": None,
        "execution_ids": ["e1", "e2"],
        "status": "failed",
    }


async def test_operator_changes_are_typed_events_carrying_what_changed(store: SqlStore) -> None:
    bus = EventBus(SystemClock())
    published = PublishingStore(store, bus)
    now = datetime.now(UTC)
    until = now + timedelta(hours=1)
    await store.seed_metadata([JobMetadata(job_id="j", display_name=None, description=None)], at=now)
    with bus.subscribe() as subscription:
        await published.set_paused("j", True, at=now, actor="alice", until=until)
        await published.set_paused("j", False, at=now, actor="system")
        await published.set_schedule_override("j", "every 2h", at=now, actor="bob")
        await published.update_metadata("j", display_name="Nightly", description=None, at=now, actor="bob")
        entry = AuditEntry(id="a1", timestamp=now, actor="bob", action="pause", status=AuditOutcome.SUCCESS, job_id="j")
        await published.append_audit(entry)
        events = [subscription.queue.get_nowait() for _ in range(subscription.queue.qsize())]
    paused, resumed, rescheduled, renamed, audited = events
    assert isinstance(paused, JobPaused) and (paused.job_id, paused.actor, paused.until) == ("j", "alice", until)
    assert isinstance(resumed, JobResumed) and resumed.actor == "system"
    assert isinstance(rescheduled, ScheduleChanged) and rescheduled.expression == "every 2h"
    assert isinstance(renamed, MetadataChanged) and renamed.metadata is not None
    assert renamed.metadata.display_name == "Nightly"
    assert isinstance(audited, Audited) and audited.entry == entry
    assert not audited.public  # stays on the bus: the SSE stream does not send it


async def test_closing_the_bus_ends_every_subscription_and_any_made_later() -> None:
    bus = EventBus(SystemClock())
    with bus.subscribe() as subscription:
        bus.emit(JobResumed, job_id="j")
        bus.close()
        seen = [event async for event in subscription]
    assert [type(event) for event in seen] == [JobResumed]
    with bus.subscribe() as late:
        assert [event async for event in late] == []


def test_a_listener_is_asked_only_about_the_event_types_it_takes() -> None:
    asked: list[type[ChangeEvent]] = []
    told: list[ChangeEvent] = []

    class JobsOnly:
        event_types: tuple[type[ChangeEvent], ...] = (JobEvent,)

        def wants(self, event_type: type[ChangeEvent], status: str | None) -> bool:
            asked.append(event_type)
            return True

        def __call__(self, event: ChangeEvent) -> None:
            told.append(event)

    bus = EventBus(SystemClock())
    with bus.listen(JobsOnly()):
        assert not bus.listening(RunStarted, RunFinished)  # a burst's writes skip their per-record loop
        assert bus.listening(JobPaused)
        bus.emit(RunFinished, execution_ids=("e1",), status="success")
        bus.emit(JobPaused, job_id="j", actor="alice")
    assert asked == [JobPaused]
    assert [type(event) for event in told] == [JobPaused]
