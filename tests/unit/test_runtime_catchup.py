"""Catch-up after downtime: the plan (pure) and a restart on an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runtime_helpers import executions_of, py_job, started

from jobdeck.engine.catchup import plan_catch_up
from jobdeck.models import ExecutionStatus, TriggerKind
from jobdeck.schedules import parse_schedule
from jobdeck.store.sql import SqlStore
from jobdeck.testing import FrozenClock, wait_until

T0 = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)
HOURLY = parse_schedule("@hourly")


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_coalescing_turns_missed_fires_into_one_run_and_one_summary() -> None:
    plan = plan_catch_up(HOURLY, last_fire=T0, now=at(5.5), coalesce=True, misfire_grace=60)
    assert plan.run == (at(5),)
    assert (plan.missed, plan.missed_first, plan.missed_last) == (5, at(1), at(5))
    assert plan.summary(coalesced=True) == (
        "5 fires between 2026-03-06T10:00:00+00:00 and 2026-03-06T14:00:00+00:00 were missed while jobdeck was not "
        "running; coalesced into one catch-up run"
    )


def test_a_single_missed_fire_just_runs() -> None:
    plan = plan_catch_up(HOURLY, last_fire=T0, now=at(1.5), coalesce=True, misfire_grace=60)
    assert (plan.run, plan.missed) == ((at(1),), 0)


def test_without_coalescing_fires_within_the_grace_run_and_older_ones_are_summed_up() -> None:
    plan = plan_catch_up(
        HOURLY, last_fire=T0, now=at(5) + timedelta(minutes=30), coalesce=False, misfire_grace=3 * 3600
    )
    assert plan.run == (at(3), at(4), at(5))
    assert (plan.missed, plan.missed_first, plan.missed_last) == (2, at(1), at(2))


def test_nothing_was_missed_when_the_next_fire_is_still_ahead() -> None:
    assert plan_catch_up(HOURLY, last_fire=T0, now=at(0.9), coalesce=True, misfire_grace=60).run == ()


def test_very_long_downtimes_are_counted_up_to_a_bound() -> None:
    minutely = parse_schedule("* * * * *")
    plan = plan_catch_up(minutely, last_fire=T0, now=T0 + timedelta(days=30), coalesce=True, misfire_grace=60)
    assert not plan.counted_all and plan.missed == 10_000
    assert plan.run == (T0 + timedelta(days=30) - timedelta(minutes=1),)
    assert plan.summary(coalesced=True).startswith("at least 10000 fires")


async def test_a_restart_after_downtime_gives_one_run_and_one_missed_summary(store: SqlStore) -> None:
    async def report() -> str:
        return "caught up"

    # Yearly at midnight on 1 January: the real timer will not fire during the test; the clock is injected.
    spec = py_job("report", report, schedule="0 0 1 1 *")
    last = datetime(2026, 1, 1, tzinfo=UTC)
    await store.record_fire("report", last)  # what the previous process handed over last
    clock = FrozenClock(datetime(2029, 6, 1, tzinfo=UTC))  # down for three and a half years
    async with started(store, spec, clock=clock, states=await store.job_states()):
        seen = await wait_until(
            lambda: executions_of(store, "report"),
            lambda runs: len(runs) == 2 and all(e.status.is_terminal for e in runs),
            timeout=5,
            what="the catch-up records",
        )
    missed = [e for e in seen if e.status is ExecutionStatus.MISSED]
    ran = [e for e in seen if e.status is ExecutionStatus.SUCCESS]
    assert len(missed) == 1 and len(ran) == 1
    assert ran[0].scheduled_time == datetime(2029, 1, 1, tzinfo=UTC)
    assert ran[0].trigger is TriggerKind.SCHEDULE
    assert missed[0].scheduled_time == datetime(2027, 1, 1, tzinfo=UTC)
    assert missed[0].error_message == (
        "3 fires between 2027-01-01T00:00:00+00:00 and 2029-01-01T00:00:00+00:00 were missed while jobdeck was not "
        "running; coalesced into one catch-up run"
    )
    assert (await store.job_states())["report"].last_fire_time == datetime(2029, 1, 1, tzinfo=UTC)


async def test_fires_are_remembered_and_a_paused_job_does_not_catch_up(store: SqlStore) -> None:
    async def tick() -> None:
        return None

    async with started(store, py_job("tick", tick, schedule="every 1s")):
        await wait_until(lambda: executions_of(store, "tick"), bool, timeout=4, what="a fire")
    remembered = (await store.job_states())["tick"].last_fire_time
    assert remembered is not None

    await store.set_paused("tick", True, at=remembered, actor="alice")
    clock = FrozenClock(remembered + timedelta(hours=1))
    before = len(await executions_of(store, "tick"))
    async with started(store, py_job("tick", tick, schedule="every 1s"), clock=clock, states=await store.job_states()):
        pass
    assert len(await executions_of(store, "tick")) == before
