"""The cron syntax cronsim brings (``L``, ``LW``, ``5L``, ``1#2``, ``?``, a seconds field), the steps and values it
refuses, and how these crons read. Pure: no clock is read."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobdeck import schedules
from jobdeck.errors import InvalidSchedule
from jobdeck.schedules import describe_schedule, next_fire_time, next_fire_times, parse_schedule, validated_schedule


def at(text: str) -> datetime:
    """``"2026-03-06 15:58 +08:00"``, ``"2026-03-29 01:00 Europe/Berlin"`` or ``"2026-03-06 10:30 Z"`` → aware."""
    stamp, _, zone = text.rpartition(" ")
    if zone == "Z" or zone[0] in "+-":
        return datetime.fromisoformat(f"{stamp}{zone}")
    return datetime.fromisoformat(stamp).replace(tzinfo=ZoneInfo(zone))


NEXT_FIRES = [
    # L: the last day of the month, whatever its length
    ("0 0 L * *", "UTC", "2026-01-31 00:00 Z", ["2026-02-28 00:00 Z", "2026-03-31 00:00 Z", "2026-04-30 00:00 Z"]),
    ("0 0 L 2 *", "UTC", "2027-03-01 00:00 Z", ["2028-02-29 00:00 Z", "2029-02-28 00:00 Z"]),  # leap year
    ("30 18 L * *", "Asia/Shanghai", "2026-04-30 10:30 Z", ["2026-05-31 18:30 +08:00"]),  # strictly after
    # LW: the last weekday (Mon–Fri) of the month; May 2026 ends on a Sunday, Feb 2026 on a Saturday
    ("0 9 LW * *", "UTC", "2026-05-01 00:00 Z", ["2026-05-29 09:00 Z", "2026-06-30 09:00 Z"]),
    ("0 9 LW * *", "UTC", "2026-02-01 00:00 Z", ["2026-02-27 09:00 Z"]),
    # 5L: the last Friday; sunL (0L) and 7L are the last Sunday
    ("0 17 * * 5L", "UTC", "2026-03-01 00:00 Z", ["2026-03-27 17:00 Z", "2026-04-24 17:00 Z", "2026-05-29 17:00 Z"]),
    ("0 17 * * friL", "UTC", "2026-03-01 00:00 Z", ["2026-03-27 17:00 Z"]),
    ("0 3 * * 7L", "Europe/Berlin", "2026-03-01 00:00 Z", ["2026-03-29 03:00 +02:00", "2026-04-26 03:00 +02:00"]),
    ("0 3 * * 0L", "Europe/Berlin", "2026-03-01 00:00 Z", ["2026-03-29 03:00 +02:00"]),
    # n#k: the k-th such weekday; a 5th Monday in February only in a leap year that starts it on a Monday
    ("0 9 * * 1#2", "UTC", "2026-03-01 00:00 Z", ["2026-03-09 09:00 Z", "2026-04-13 09:00 Z"]),
    ("0 9 * * mon#1,fri#3", "UTC", "2026-03-01 00:00 Z", ["2026-03-02 09:00 Z", "2026-03-20 09:00 Z"]),
    ("0 0 * 2 1#5", "UTC", "2026-01-01 00:00 Z", ["2044-02-29 00:00 Z"]),
    # both day fields restricted, one of them special: either matches (Vixie's rule, as for plain values)
    ("0 0 L * 1", "UTC", "2026-03-27 00:00 Z", ["2026-03-30 00:00 Z", "2026-03-31 00:00 Z", "2026-04-06 00:00 Z"]),
    ("0 0 15 * 5L", "UTC", "2026-03-01 00:00 Z", ["2026-03-15 00:00 Z", "2026-03-27 00:00 Z", "2026-04-15 00:00 Z"]),
    # a `*`-led day of month with a special weekday: both must match
    ("0 0 */2 * 5L", "UTC", "2026-03-01 00:00 Z", ["2026-03-27 00:00 Z", "2026-05-29 00:00 Z", "2026-07-31 00:00 Z"]),
    # ?: no specific value in a day field, the same as *
    ("0 12 ? * mon", "UTC", "2026-03-06 00:00 Z", ["2026-03-09 12:00 Z"]),
    ("0 12 1 * ?", "UTC", "2026-03-06 00:00 Z", ["2026-04-01 12:00 Z"]),
    # a leading seconds field
    ("*/15 * * * * *", "UTC", "2026-03-06 10:00:07 Z", ["2026-03-06 10:00:15 Z", "2026-03-06 10:00:30 Z"]),
    ("30 0 9 * * 1-5", "Asia/Shanghai", "2026-03-06 09:00:30 +08:00", ["2026-03-09 09:00:30 +08:00"]),
    ("0 0 0 1 1 *", "UTC", "2026-03-06 00:00 Z", ["2027-01-01 00:00 Z"]),  # seconds 0: a plain yearly cron
    ("10,40 * * * * *", "UTC", "2026-03-06 10:00:10.5 Z", ["2026-03-06 10:00:40 Z", "2026-03-06 10:01:10 Z"]),
    # seconds in a DST gap and fold: the gap's wall times fire once when it ends; the fold's on its first pass
    ("*/20 30 2 * * *", "Europe/Berlin", "2026-03-29 00:00 Z", ["2026-03-29 03:00 +02:00", "2026-03-30 02:30 +02:00"]),
    ("0 30 2 * * *", "Europe/Berlin", "2026-10-25 00:30 Z", ["2026-10-26 02:30 +01:00"]),  # 00:30 Z is 02:30 CEST
    ("0 30 2 * * *", "Europe/Berlin", "2026-10-24 23:00 Z", ["2026-10-25 02:30 +02:00", "2026-10-26 02:30 +01:00"]),
]


@pytest.mark.parametrize(("expression", "timezone", "after", "expected"), NEXT_FIRES)
def test_next_fire_times(expression: str, timezone: str, after: str, expected: list[str]) -> None:
    schedule = parse_schedule(expression, timezone=timezone)
    times = next_fire_times(schedule, after=at(after), count=len(expected))
    assert times == [at(text) for text in expected]
    assert all(time.tzinfo is UTC for time in times)


REFUSED = [
    # a step larger than the field would silently mean "once" (`*/61` used to be hourly)
    ("*/61 * * * *", "minute step 61 out of range 1-60"),
    ("0 */25 * * *", "hour step 25 out of range 1-24"),
    ("0 0 */32 * *", "day of month step 32 out of range 1-31"),
    ("0 0 1 */13 *", "month step 13 out of range 1-12"),
    ("0 0 * * */8", "day of week step 8 out of range 1-7"),
    ("0 10-20/90 * * *", "hour step 90 out of range 1-24"),
    ("5/70 * * * *", "minute step 70 out of range 1-60"),
    ("*/61 * * * * *", "second step 61 out of range 1-60"),
    ("60 * * * * *", "second value 60 out of range 0-59"),
    ("* * * * * * *", "expected 5 fields, got 7"),
    # the special items, where they mean nothing
    ("0 0 * * L", "invalid day of week value 'L'"),
    ("0 0 L * L", "invalid day of week value 'L'"),
    ("L 0 * * *", "invalid minute value 'L'"),
    ("0 0 15W * *", "invalid day of month value '15W'"),
    ("0 0 1#2 * *", "invalid day of month value '1#2'"),
    ("0 0 * * 1#6", "the week number after '#' must be 1-5"),
    ("0 0 * * 1#0", "the week number after '#' must be 1-5"),
    ("0 0 * * 8L", "day of week value 8 out of range 0-7"),
    ("0 0 * * 9#1", "day of week value 9 out of range 0-7"),
    ("0 0 * * xyzL", "invalid day of week value 'xyz'"),
    ("0 ? * * *", "invalid hour value '?'"),
    ("0 0 1,? * *", "invalid day of month value '?'"),
    # never fires: the 1st and 31st of February that are also its 5th Monday
    ("0 0 */30 2 1#5", "never fires"),
]


@pytest.mark.parametrize(("expression", "reason"), REFUSED)
def test_refused_with_the_field_named(expression: str, reason: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        parse_schedule(expression)
    assert reason in caught.value.reason
    assert caught.value.field == "schedule"  # the API's 422 names it, as for any invalid schedule
    assert caught.value.expression == expression


def test_the_largest_step_is_the_field_size() -> None:
    assert parse_schedule("*/60 * * * *").minutes == {0}  # every 60 minutes: hourly, as written
    assert parse_schedule("0 0 * * */7").weekdays == {6}  # Sunday


def test_the_sets_keep_the_plain_values_of_a_field_with_special_items() -> None:
    schedule = parse_schedule("0 0 1,L * 5L,mon")
    assert schedule.days == {1}
    assert schedule.weekdays == {0}
    assert (schedule.day_restricted, schedule.weekday_restricted) == (True, True)


def test_question_mark_counts_as_unrestricted() -> None:
    schedule = parse_schedule("0 0 ? * 1")
    assert (schedule.day_restricted, schedule.weekday_restricted) == (False, True)


def test_validated_from_now() -> None:
    now = at("2026-12-07 15:00 Z")
    schedule = validated_schedule("0 0 L * *", timezone="UTC", now=now)
    assert next_fire_time(schedule, after=now) == at("2026-12-31 00:00 Z")


DESCRIPTIONS = [
    ("*/10 * * * * *", "every 10 seconds", "每 10 秒"),
    ("* * * * * *", "every second", "每秒"),
    ("0 */5 * * * *", "every 5 minutes", "每 5 分钟"),  # seconds 0: the 5-field words
    ("0 0 L * *", "at 00:00 on the last day of every month", "cron 表达式：0 0 L * *"),
    ("0 17 * * 5L", "at 17:00 on the last Friday of the month", "cron 表达式：0 17 * * 5L"),
    ("0 9 * * mon#2", "at 09:00 on the second Monday of the month", "cron 表达式：0 9 * * mon#2"),
    ("15 0 9 * * 1-5", "at 09:00:15 on Monday through Friday", "cron 表达式：15 0 9 * * 1-5"),
]


@pytest.mark.parametrize(("expression", "english", "chinese"), DESCRIPTIONS)
def test_describe(expression: str, english: str, chinese: str) -> None:
    schedule = parse_schedule(expression)
    assert describe_schedule(schedule) == english
    assert describe_schedule(schedule, language="zh") == chinese


def test_remembered_fire_times_answer_as_a_fresh_walk() -> None:
    # next_fire_time keeps a run of consecutive fires per schedule; answers must not depend on what was asked before.
    rng = random.Random(14)
    schedule = parse_schedule("*/7 9-17 * * 1-5", timezone="Europe/Berlin")
    start = at("2026-03-27 12:00 Z")
    afters = [start + timedelta(seconds=rng.randrange(0, 5 * 86_400)) for _ in range(300)]
    afters += next_fire_times(schedule, after=start, count=50)  # exact fire times: "strictly after" at the edge
    rng.shuffle(afters)
    remembered = [next_fire_time(schedule, after=after) for after in afters]
    fresh = []
    for after in afters:
        schedules._KNOWN_FIRES.clear()
        fresh.append(next_fire_time(schedule, after=after))
    assert remembered == fresh
    assert all(fire is not None and fire > after for fire, after in zip(remembered, afters, strict=True))


def test_an_aware_after_in_any_zone_gives_the_same_answer() -> None:
    schedule = parse_schedule("0 0 L * *", timezone="Asia/Tokyo")
    utc = datetime(2026, 3, 6, tzinfo=UTC)
    assert next_fire_time(schedule, after=utc) == next_fire_time(schedule, after=at("2026-03-05 19:00 -05:00"))


def test_seconds_on_restricted_days_are_not_every_n_seconds() -> None:
    # `*/2` leaves the day field unrestricted for the day rule, but it still means odd days only.
    assert describe_schedule(parse_schedule("*/10 * * */2 * *")) != "every 10 seconds"
