"""What becomes of the fires the timer hands over for one job at one wake-up: every fire time ends as a run or a
``missed`` record; several at once (a stall) are merged under coalesce, and their records say so with the span."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobdeck.engine.catchup import MAX_STALL_RECORDS, plan_hand_over

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def seconds(*offsets: float) -> list[datetime]:
    return [T0 + timedelta(seconds=s) for s in offsets]


def test_one_fire_on_time_runs() -> None:
    plan = plan_hand_over(seconds(0), now=T0 + timedelta(seconds=0.1), coalesce=True, misfire_grace=60)
    assert plan.run == (T0,) and plan.missed == () and plan.stall is None


def test_one_fire_beyond_the_grace_is_missed() -> None:
    plan = plan_hand_over(seconds(0), now=T0 + timedelta(seconds=61), coalesce=True, misfire_grace=60)
    assert plan.run == () and [fire for fire, _ in plan.missed] == [T0] and plan.stall is None


def test_a_stall_under_coalesce_runs_the_newest_and_records_each_merged_fire_missed() -> None:
    fires = seconds(0, 1, 2, 3, 4)
    plan = plan_hand_over(fires, now=T0 + timedelta(seconds=4.5), coalesce=True, misfire_grace=60)
    assert plan.run == (fires[-1],)
    assert [fire for fire, _ in plan.missed] == fires[:-1]
    assert plan.stall is not None and plan.stall.count == 5
    assert plan.stall.late == 4.5  # how long the timer could not hand fires over: from the oldest one
    message = plan.stall.message(fires[0], grace=60)
    assert "5 fires due between" in message and fires[0].isoformat() in message and fires[-1].isoformat() in message
    assert f"coalesced into the run of {fires[-1].isoformat()}" in message


def test_a_stall_longer_than_the_grace_records_every_fire_missed_even_the_newest() -> None:
    fires = seconds(0, 30, 60, 90)
    plan = plan_hand_over(fires, now=T0 + timedelta(seconds=200), coalesce=True, misfire_grace=60)
    assert plan.run == ()
    assert [fire for fire, _ in plan.missed] == fires
    assert plan.stall is not None
    assert "beyond the misfire grace (60 s)" in plan.stall.message(fires[-1], grace=60)


def test_a_stall_without_coalesce_runs_the_fires_within_the_grace() -> None:
    fires = seconds(0, 10, 20, 30)
    plan = plan_hand_over(fires, now=T0 + timedelta(seconds=75), coalesce=False, misfire_grace=60)
    assert plan.run == tuple(fires[2:])
    assert [fire for fire, _ in plan.missed] == fires[:2]


def test_a_long_stall_sums_its_oldest_fires_into_one_record_with_their_span() -> None:
    fires = seconds(*range(1000))
    plan = plan_hand_over(fires, now=T0 + timedelta(seconds=1000), coalesce=True, misfire_grace=60)
    assert plan.run == (fires[-1],)
    assert len(plan.missed) == MAX_STALL_RECORDS
    stall = plan.stall
    assert stall is not None and stall.summed == 999 - (MAX_STALL_RECORDS - 1)
    assert [fire for fire, _ in plan.missed] == [fires[0], *fires[stall.summed : -1]]
    summary = stall.message(fires[0], grace=60)
    assert f"stands for {stall.summed} fires between {fires[0].isoformat()}" in summary
    assert stall.summed_last is not None and stall.summed_last.isoformat() in summary


def test_every_fire_handed_over_ends_in_exactly_one_place() -> None:
    fires = seconds(*range(100))
    for coalesce in (True, False):
        for grace in (None, 0.5, 30.0, 1000.0):
            plan = plan_hand_over(fires, now=T0 + timedelta(seconds=120), coalesce=coalesce, misfire_grace=grace)
            ended = sorted([*plan.run, *(fire for fire, _ in plan.missed)])
            assert ended == fires, (coalesce, grace)
