"""Change events of the store's writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobdeck.clock import SystemClock
from jobdeck.engine.records import new_execution
from jobdeck.events import EventBus, PublishingStore
from jobdeck.models import Execution, ExecutionClose, ExecutionStatus, JobSpec, TriggerKind
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
