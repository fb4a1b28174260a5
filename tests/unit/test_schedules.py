"""Schedule parsing, next fire times (DST included), descriptions and durations. Pure: no clock is read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobdeck.errors import InvalidSchedule
from jobdeck.models import ScheduleKind
from jobdeck.schedules import (
    EPOCH,
    LATEST,
    MAX_INTERVAL,
    check_schedule,
    describe_schedule,
    next_fire_time,
    next_fire_times,
    parse_duration,
    parse_schedule,
    validated_schedule,
)


def at(text: str) -> datetime:
    """``"2026-03-06 15:58 +08:00"``, ``"2026-03-29 01:00 Europe/Berlin"`` or ``"2026-03-06 10:30 Z"`` → aware."""
    stamp, _, zone = text.rpartition(" ")
    if zone == "Z" or zone[0] in "+-":
        return datetime.fromisoformat(f"{stamp}{zone}")
    return datetime.fromisoformat(stamp).replace(tzinfo=ZoneInfo(zone))


# --- next fire time ------------------------------------------------------------------------------------------------

NEXT_FIRE = [
    # cron: steps, ranges, week boundaries
    ("*/5 9-15 * * 1-5", "Asia/Shanghai", "2026-03-06 15:58 +08:00", "2026-03-09 09:00 +08:00"),  # Friday → Monday
    ("*/5 9-15 * * 1-5", "Asia/Shanghai", "2026-03-09 09:00 +08:00", "2026-03-09 09:05 +08:00"),  # strictly after
    ("*/5 9-15 * * 1-5", "Asia/Shanghai", "2026-03-09 09:02:30 +08:00", "2026-03-09 09:05 +08:00"),
    ("*/5 9-15 * * 1-5", "Asia/Shanghai", "2026-03-06 07:58 Z", "2026-03-09 09:00 +08:00"),  # `after` in another zone
    ("0,30 8-12/2 * * *", "UTC", "2026-03-06 08:45 Z", "2026-03-06 10:00 Z"),  # lists and stepped ranges
    ("5/20 * * * *", "UTC", "2026-03-06 08:46 Z", "2026-03-06 09:05 Z"),  # "a/n" = "a-59/n"
    # names, Sunday as 0 and 7, ranges of names ending on Sunday
    ("0 12 * jan,jul mon", "UTC", "2026-02-01 00:00 Z", "2026-07-06 12:00 Z"),
    ("0 6 * * 7", "UTC", "2026-03-07 12:00 Z", "2026-03-08 06:00 Z"),
    ("0 6 * * 0", "UTC", "2026-03-07 12:00 Z", "2026-03-08 06:00 Z"),
    ("0 6 * * SUN", "UTC", "2026-03-07 12:00 Z", "2026-03-08 06:00 Z"),
    ("0 6 * * fri-sun", "UTC", "2026-03-08 07:00 Z", "2026-03-13 06:00 Z"),
    # both day fields restricted: either matches (the 1st, or a Monday)
    ("0 0 1 * 1", "UTC", "2026-03-28 00:00 Z", "2026-03-30 00:00 Z"),
    ("0 0 1 * 1", "UTC", "2026-03-30 00:00 Z", "2026-04-01 00:00 Z"),
    ("0 0 1-31/2 * 1", "UTC", "2026-03-01 00:00 Z", "2026-03-02 00:00 Z"),  # odd day OR Monday: Monday the 2nd
    # a day field starting with "*" is not restricted (Vixie cron): both must match — odd days that are Mondays
    ("0 0 */2 * 1", "UTC", "2026-03-01 00:00 Z", "2026-03-09 00:00 Z"),
    # month ends, year ends, leap years
    ("0 0 31 * *", "UTC", "2026-04-15 00:00 Z", "2026-05-31 00:00 Z"),
    ("59 23 30 * *", "UTC", "2026-01-31 00:00 Z", "2026-03-30 23:59 Z"),  # February has no 30th
    ("0 0 1 1 *", "UTC", "2026-12-31 23:59 Z", "2027-01-01 00:00 Z"),
    ("0 0 29 2 *", "UTC", "2026-03-01 00:00 Z", "2028-02-29 00:00 Z"),
    ("0 0 29 2 *", "UTC", "2028-02-29 00:00 Z", "2032-02-29 00:00 Z"),
    ("0 0 29 2 *", "UTC", "2096-03-01 00:00 Z", "2104-02-29 00:00 Z"),  # 2100 is not a leap year: 8 years on
    # HH:MM
    ("18:00", "Asia/Shanghai", "2026-03-06 17:59:59 +08:00", "2026-03-06 18:00 +08:00"),
    ("18:00", "Asia/Shanghai", "2026-03-06 18:00 +08:00", "2026-03-07 18:00 +08:00"),
    ("18:00", "Asia/Shanghai", "2026-03-06 10:30 Z", "2026-03-07 18:00 +08:00"),
    ("7:05", "UTC", "2026-03-06 07:00 Z", "2026-03-06 07:05 Z"),
    # DST gap, Europe/Berlin 2026-03-29 02:00 → 03:00: a missing wall time fires when the gap ends
    ("02:30", "Europe/Berlin", "2026-03-29 01:00 Europe/Berlin", "2026-03-29 03:00 Europe/Berlin"),
    ("02:30", "Europe/Berlin", "2026-03-29 03:00 +02:00", "2026-03-30 02:30 +02:00"),
    ("*/30 * * * *", "Europe/Berlin", "2026-03-29 01:45 +01:00", "2026-03-29 03:00 +02:00"),
    ("*/30 * * * *", "Europe/Berlin", "2026-03-29 03:00 +02:00", "2026-03-29 03:30 +02:00"),
    ("30 2 * * *", "Europe/Berlin", "2026-03-28 12:00 Z", "2026-03-29 01:00 Z"),
    # DST fold, Europe/Berlin 2026-10-25 03:00 → 02:00: an ambiguous wall time fires once, at its first occurrence
    ("02:30", "Europe/Berlin", "2026-10-25 00:00 +02:00", "2026-10-25 02:30 +02:00"),
    ("02:30", "Europe/Berlin", "2026-10-25 02:30 +02:00", "2026-10-26 02:30 +01:00"),
    ("*/30 * * * *", "Europe/Berlin", "2026-10-25 02:30 +02:00", "2026-10-25 03:00 +01:00"),
    ("*/30 * * * *", "Europe/Berlin", "2026-10-25 02:10 +01:00", "2026-10-25 03:00 +01:00"),  # in the second pass
    # DST in America/New_York: 2026-03-08 02:00 → 03:00 and 2026-11-01 02:00 → 01:00
    ("30 2 * * *", "America/New_York", "2026-03-08 00:00 -05:00", "2026-03-08 03:00 -04:00"),
    ("30 2 * * *", "America/New_York", "2026-03-08 03:00 -04:00", "2026-03-09 02:30 -04:00"),
    ("30 1 * * *", "America/New_York", "2026-11-01 00:00 -04:00", "2026-11-01 01:30 -04:00"),
    ("30 1 * * *", "America/New_York", "2026-11-01 01:30 -04:00", "2026-11-02 01:30 -05:00"),
    ("0 9 * * 1-5", "America/New_York", "2026-03-06 15:00 Z", "2026-03-09 09:00 -04:00"),  # offset changed meanwhile
    # intervals, anchored at the Unix epoch
    ("every 30s", "UTC", "2026-03-06 12:00:10 Z", "2026-03-06 12:00:30 Z"),
    ("every 30s", "UTC", "2026-03-06 12:00:30 Z", "2026-03-06 12:01:00 Z"),
    ("every 2h", "Asia/Shanghai", "2026-03-06 01:00 Z", "2026-03-06 02:00 Z"),
    ("every 1d", "Asia/Shanghai", "2026-03-06 01:00 Z", "2026-03-07 00:00 Z"),  # UTC midnights, whatever the zone
    ("every 90m", "UTC", "2026-03-06 00:00 Z", "2026-03-06 01:30 Z"),
    ("every 1h30m", "UTC", "2026-03-06 00:00 Z", "2026-03-06 01:30 Z"),
    ("every 7m", "UTC", "1970-01-01 00:00 Z", "1970-01-01 00:07 Z"),
    # aliases
    ("@hourly", "UTC", "2026-03-06 10:15 Z", "2026-03-06 11:00 Z"),
    ("@daily", "Asia/Shanghai", "2026-03-06 10:15 +08:00", "2026-03-07 00:00 +08:00"),
    ("@midnight", "UTC", "2026-03-06 10:15 Z", "2026-03-07 00:00 Z"),
    ("@weekly", "UTC", "2026-03-06 10:15 Z", "2026-03-08 00:00 Z"),  # Sunday
    ("@monthly", "UTC", "2026-03-06 10:15 Z", "2026-04-01 00:00 Z"),
    ("@yearly", "UTC", "2026-03-06 10:15 Z", "2027-01-01 00:00 Z"),
    ("@annually", "UTC", "2026-03-06 10:15 Z", "2027-01-01 00:00 Z"),
    # once: naive = wall time in the timezone; or an explicit offset
    ("2026-12-01T08:00", "Asia/Shanghai", "2026-11-01 00:00 Z", "2026-12-01 08:00 +08:00"),
    ("2026-12-01 08:00", "Asia/Shanghai", "2026-11-01 00:00 Z", "2026-12-01 08:00 +08:00"),
    ("2026-12-01T08:00:00+08:00", "UTC", "2026-11-01 00:00 Z", "2026-12-01 00:00 Z"),
    ("2026-12-01T00:00:00Z", "Asia/Shanghai", "2026-11-01 00:00 Z", "2026-12-01 00:00 Z"),
    ("2026-03-29T02:30", "Europe/Berlin", "2026-03-01 00:00 Z", "2026-03-29 03:00 +02:00"),  # in the gap
]


@pytest.mark.parametrize(("expression", "timezone", "after", "expected"), NEXT_FIRE)
def test_next_fire_time(expression: str, timezone: str, after: str, expected: str) -> None:
    schedule = parse_schedule(expression, timezone=timezone)
    fire = next_fire_time(schedule, after=at(after))
    assert fire == at(expected)
    assert fire is not None
    assert fire.tzinfo is UTC


@pytest.mark.parametrize(
    ("expression", "after"),
    [
        ("2026-12-01T08:00", "2026-12-01 08:00 +08:00"),  # exactly at: strictly after means none
        ("2026-12-01T08:00", "2027-01-01 00:00 Z"),
    ],
)
def test_once_in_the_past_never_fires(expression: str, after: str) -> None:
    schedule = parse_schedule(expression, timezone="Asia/Shanghai")
    assert next_fire_time(schedule, after=at(after)) is None
    assert next_fire_times(schedule, after=at(after), count=5) == []


def test_next_five_times_cross_the_weekend() -> None:
    schedule = parse_schedule("*/5 9-15 * * 1-5", timezone="Asia/Shanghai")
    times = next_fire_times(schedule, after=at("2026-03-06 15:50 +08:00"), count=5)
    assert times == [
        at(text)
        for text in (
            "2026-03-06 15:55 +08:00",
            "2026-03-09 09:00 +08:00",
            "2026-03-09 09:05 +08:00",
            "2026-03-09 09:10 +08:00",
            "2026-03-09 09:15 +08:00",
        )
    ]


def test_gap_minutes_collapse_into_one_fire_at_the_end_of_the_gap() -> None:
    schedule = parse_schedule("*/20 * * * *", timezone="Europe/Berlin")
    times = next_fire_times(schedule, after=at("2026-03-29 01:30 +01:00"), count=4)
    assert times == [
        at(text)
        for text in (
            "2026-03-29 01:40 +01:00",
            "2026-03-29 03:00 +02:00",  # 02:00, 02:20, 02:40 do not exist: one fire when the gap ends
            "2026-03-29 03:20 +02:00",
            "2026-03-29 03:40 +02:00",
        )
    ]


@pytest.mark.parametrize("after", ["2026-03-06 12:00:01 Z", "2026-03-06 12:03:59.5 Z", "2026-03-06 12:30 +08:00"])
def test_interval_grid_does_not_depend_on_when_you_ask(after: str) -> None:
    schedule = parse_schedule("every 7m", timezone="Asia/Shanghai")
    assert schedule.origin == EPOCH
    grid = next_fire_times(schedule, after=at("2026-03-06 00:00 Z"), count=200)
    times = next_fire_times(schedule, after=at(after), count=5)
    assert all((time - EPOCH) % timedelta(minutes=7) == timedelta(0) for time in times)
    first = grid.index(times[0])
    assert times == grid[first : first + 5]
    assert grid[first - 1] <= at(after) < times[0]


@pytest.mark.parametrize(
    "expression",
    [
        "*/7 3,5 * * *",
        "0 0 1 * 1",
        "0 0 */2 * 1",
        "15 10 * * sat,sun",
        "0 12 13 * 5",
        "5-59/20 */6 * * *",
        "0 9 1-7 * 1",
        "0 0 31 * *",
        "*/5 9-15 * * 1-5",
        "0 0 1 */3 *",
    ],
)
def test_cron_walk_agrees_with_a_minute_by_minute_scan(expression: str) -> None:
    schedule = parse_schedule(expression)
    start, horizon = at("2026-01-30 22:17 Z"), timedelta(days=150)

    def matches(moment: datetime) -> bool:
        in_days, in_weekdays = moment.day in schedule.days, moment.weekday() in schedule.weekdays
        day_ok = (
            in_days or in_weekdays
            if schedule.day_restricted and schedule.weekday_restricted
            else (in_days and in_weekdays)
        )
        return (
            moment.minute in schedule.minutes
            and moment.hour in schedule.hours
            and moment.month in schedule.months
            and day_ok
        )

    scanned: list[datetime] = []
    moment = start.replace(second=0) + timedelta(minutes=1)
    while moment < start + horizon and len(scanned) < 40:
        if matches(moment):
            scanned.append(moment)
        moment += timedelta(minutes=1)
    assert scanned
    assert next_fire_times(schedule, after=start, count=len(scanned)) == scanned


def test_naive_after_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire_time(parse_schedule("@daily"), after=datetime(2026, 3, 6, 12, 0))


def test_count_must_not_be_negative() -> None:
    schedule = parse_schedule("@daily")
    assert next_fire_times(schedule, after=at("2026-03-06 00:00 Z"), count=0) == []
    with pytest.raises(ValueError, match="count"):
        next_fire_times(schedule, after=at("2026-03-06 00:00 Z"), count=-1)


# --- parsing -------------------------------------------------------------------------------------------------------


def test_cron_fields_are_parsed_into_sets() -> None:
    schedule = parse_schedule("*/15 9-17 * * mon-fri", timezone="Asia/Shanghai")
    assert schedule.kind is ScheduleKind.CRON
    assert schedule.expression == "*/15 9-17 * * mon-fri"
    assert schedule.timezone == "Asia/Shanghai"
    assert schedule.minutes == {0, 15, 30, 45}
    assert schedule.hours == set(range(9, 18))
    assert schedule.days == set(range(1, 32))
    assert schedule.months == set(range(1, 13))
    assert schedule.weekdays == {0, 1, 2, 3, 4}  # 0 = Monday, as in Python
    assert (schedule.day_restricted, schedule.weekday_restricted) == (False, True)


@pytest.mark.parametrize(
    ("expression", "weekdays", "restricted"),
    [
        ("0 0 * * 0", {6}, (False, True)),
        ("0 0 * * 7", {6}, (False, True)),
        ("0 0 * * 0,7", {6}, (False, True)),
        ("0 0 * * sat-sun", {5, 6}, (False, True)),
        ("0 0 * * *", set(range(7)), (False, False)),
        ("0 0 1 * 1", {0}, (True, True)),
        ("0 0 */2 * 1", {0}, (False, True)),
        ("0 0 1 * *", set(range(7)), (True, False)),
    ],
)
def test_weekday_numbering_and_restriction(expression: str, weekdays: set[int], restricted: tuple[bool, bool]) -> None:
    schedule = parse_schedule(expression)
    assert schedule.weekdays == weekdays
    assert (schedule.day_restricted, schedule.weekday_restricted) == restricted


def test_month_names_and_case() -> None:
    assert parse_schedule("0 0 1 JAN,Jul-sep *").months == {1, 7, 8, 9}


def test_daily_schedule_is_stored_as_cron_sets() -> None:
    schedule = parse_schedule("18:05", timezone="Asia/Shanghai")
    assert schedule.kind is ScheduleKind.DAILY
    assert schedule.minutes == {5}
    assert schedule.hours == {18}
    assert schedule.days == set(range(1, 32))
    assert schedule.weekdays == set(range(7))


def test_interval_schedule() -> None:
    schedule = parse_schedule("every 5m")
    assert schedule.kind is ScheduleKind.INTERVAL
    assert schedule.interval == timedelta(minutes=5)
    assert schedule.origin == datetime(1970, 1, 1, tzinfo=UTC)


def test_once_schedule_is_stored_in_utc() -> None:
    schedule = parse_schedule("2026-12-01T08:00", timezone="Asia/Shanghai")
    assert schedule.kind is ScheduleKind.ONCE
    assert schedule.at == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert schedule.at is not None
    assert schedule.at.tzinfo is UTC


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("61 * * * *", "minute value 61 out of range 0-59"),
        ("* * *", "expected 5 fields, got 3"),
        ("* * * *", "expected 5 fields, got 4"),
        ("* * * * * * *", "expected 5 fields, got 7"),
        ("hourly", "expected 5 fields, got 1"),
        ("", "empty schedule"),
        ("every 0s", "interval must be greater than zero"),
        ("every 5x", "unknown interval unit 'x'"),
        ("every 5", "missing unit"),
        ("every", "missing interval"),
        ("every 250ms", "unknown interval unit 'ms'"),
        ("25:00", "hour value 25 out of range 0-23"),
        ("12:60", "minute value 60 out of range 0-59"),
        ("0 24 * * *", "hour value 24 out of range 0-23"),
        ("0 0 0 * *", "day of month value 0 out of range 1-31"),
        ("0 0 * 13 *", "month value 13 out of range 1-12"),
        ("0 0 * * 8", "day of week value 8 out of range 0-7"),
        ("0 0 * foo *", "invalid month value 'foo'"),
        ("jan * * * *", "invalid minute value 'jan'"),
        ("*/0 * * * *", "minute step must be at least 1"),
        ("*/x * * * *", "invalid step 'x'"),
        ("30-10 * * * *", "minute range '30-10' runs backwards"),
        ("1,,2 * * * *", "empty item in minute field"),
        ("0 0 30 2 *", "never fires: day 30 does not occur in Feb"),
        ("0 0 31 4,6,9,11 *", "never fires"),
        ("@reboot", "unknown alias '@reboot'"),
        ("2026-02-30T10:00", "invalid ISO 8601 datetime"),
    ],
)
def test_invalid_schedule_says_why(expression: str, reason: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        parse_schedule(expression)
    assert reason in caught.value.reason
    assert caught.value.expression == expression
    assert caught.value.field == "schedule"
    assert isinstance(caught.value, ValueError)


def test_impossible_date_with_weekday_still_fires_on_the_weekday() -> None:
    # Both day fields restricted: "Feb 30th OR a Monday in February" — the Mondays make it valid.
    schedule = parse_schedule("0 0 30 2 1")
    assert next_fire_time(schedule, after=at("2026-03-01 00:00 Z")) == at("2027-02-01 00:00 Z")


@pytest.mark.parametrize("timezone", ["Mars/Olympus", "", "../etc/passwd", "Europe"])
def test_unknown_timezone_is_an_invalid_schedule(timezone: str) -> None:
    with pytest.raises(InvalidSchedule, match="unknown timezone"):
        parse_schedule("* * * * *", timezone=timezone)


# --- descriptions --------------------------------------------------------------------------------------------------

DESCRIPTIONS = [
    ("*/5 9-15 * * 1-5", "UTC", "every 5 minutes, 09:00–15:59, Mon–Fri", "每 5 分钟，09:00–15:59，周一至周五"),
    ("18:00", "UTC", "daily at 18:00", "每天 18:00"),
    ("every 30s", "UTC", "every 30 seconds", "每 30 秒"),
    ("every 1h", "UTC", "every hour", "每小时"),
    ("every 90m", "UTC", "every 90 minutes", "每 90 分钟"),
    ("every 2d", "UTC", "every 2 days", "每 2 天"),
    (
        "2026-12-01T08:00",
        "Asia/Shanghai",
        "once at 2026-12-01 08:00 (Asia/Shanghai)",
        "仅一次：2026-12-01 08:00（Asia/Shanghai）",
    ),
    ("* * * * *", "UTC", "every minute", "每分钟"),
    ("@hourly", "UTC", "every hour", "每小时"),
    ("15 * * * *", "UTC", "every hour at :15", "每小时第 15 分钟"),
    ("0 */2 * * *", "UTC", "every 2 hours", "每 2 小时"),
    ("0 9-17 * * 1-5", "UTC", "every hour, 09:00–17:59, Mon–Fri", "每小时，09:00–17:59，周一至周五"),
    (
        "20 1,5,9,13,17,21,23 * * *",
        "UTC",
        "cron: 20 1,5,9,13,17,21,23 * * *",
        "cron 表达式：20 1,5,9,13,17,21,23 * * *",
    ),
    ("@daily", "UTC", "daily at 00:00", "每天 00:00"),
    ("0 9,18 * * *", "UTC", "daily at 09:00, 18:00", "每天 09:00、18:00"),
    ("30 8 * * mon,wed,fri", "UTC", "at 08:30, Mon, Wed, Fri", "08:30，周一、周三、周五"),
    ("@weekly", "UTC", "at 00:00, Sun", "00:00，周日"),
    ("@monthly", "UTC", "at 00:00, on day 1", "00:00，每月 1 日"),
    ("@yearly", "UTC", "at 00:00, on day 1 of Jan", "00:00，1月 1 日"),
    ("0 6 * 3-5 *", "UTC", "at 06:00, in Mar–May", "06:00，3月至5月"),
    ("0 0 1 * 1", "UTC", "at 00:00, on day 1 or Mon", "00:00，每月 1 日或周一"),
    ("*/7 3,5 * * *", "UTC", "cron: */7 3,5 * * *", "cron 表达式：*/7 3,5 * * *"),
]


@pytest.mark.parametrize(("expression", "timezone", "english", "chinese"), DESCRIPTIONS)
def test_describe_schedule(expression: str, timezone: str, english: str, chinese: str) -> None:
    schedule = parse_schedule(expression, timezone=timezone)
    assert describe_schedule(schedule) == english
    assert describe_schedule(schedule, language="zh") == chinese


@pytest.mark.parametrize(
    ("language", "expected"),
    [("zh-CN", "每天 18:00"), ("zh_Hans", "每天 18:00"), ("en-GB", "daily at 18:00"), ("fr", "daily at 18:00")],
)
def test_describe_language_tags(language: str, expected: str) -> None:
    assert describe_schedule(parse_schedule("18:00"), language=language) == expected


# --- durations -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0.0),
        (10, 10.0),
        (2.5, 2.5),
        ("10", 10.0),
        ("1.5", 1.5),
        ("90s", 90.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("250ms", 0.25),
        ("1.5h", 5400.0),
        (" 2 minutes ", 120.0),
        ("1w", 604800.0),
    ],
)
def test_parse_duration(value: str | float, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (-1, "must not be negative"),
        ("-5s", "must not be negative"),
        ("abc", "invalid duration 'abc'"),
        ("5x", "unknown duration unit 'x'"),
        ("", "empty duration"),
        ("inf", "finite"),
        ("nan", "finite"),
        (True, "got bool"),
        (None, "got NoneType"),
    ],
)
def test_parse_duration_rejects(value: object, problem: str) -> None:
    with pytest.raises(ValueError, match=r"^timeout: ") as caught:
        parse_duration(value, field="timeout")  # type: ignore[arg-type]
    assert problem in str(caught.value)


# --- validation over the whole range, before anything is saved ----------------------------------------------------

NOW = at("2026-12-07 15:00 Z")

REFUSED = [
    # intervals that overflow datetime arithmetic (the first one saved an override that stopped the server)
    ("every 999999999d", "UTC", "interval must be at most 36500 days (100 years), got 999999999 days"),
    ("every 1000000000000d", "UTC", "interval must be at most 36500 days"),  # past timedelta's own limit
    ("every 1" + "0" * 400 + "s", "UTC", "got inf days"),  # a number too long for a float
    ("every 36501d", "UTC", "interval must be at most 36500 days"),
    # once-times that cannot be converted to every timezone
    ("9999-12-31T23:00-05:00", "UTC", "date out of range"),
    ("9999-12-31T23:00", "Pacific/Kiritimati", "date out of range"),
    ("0001-01-01T00:00+05:00", "UTC", "date out of range"),
    ("9999-06-01T00:00Z", "UTC", "date out of range"),
    # never fires
    ("0 0 30 2 *", "UTC", "never fires"),
    ("0 0 31 4,6,9,11 *", "UTC", "never fires"),
    # a once-time that has passed would never fire
    ("2026-12-07T14:59:59Z", "UTC", "has passed; it would never fire"),
    ("2026-12-07 15:00", "UTC", "has passed"),  # exactly now: not after now
]


@pytest.mark.parametrize(("expression", "timezone", "reason"), REFUSED)
def test_validated_schedule_refuses_what_cannot_be_computed(expression: str, timezone: str, reason: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        validated_schedule(expression, timezone=timezone, now=NOW)
    assert caught.value.field == "schedule"
    assert reason in caught.value.reason


ACCEPTED = [
    ("every 36500d", "UTC", "2069-12-07 00:00 Z"),  # the longest interval: 100 years after the epoch
    ("every 5m", "UTC", "2026-12-07 15:05 Z"),
    ("0 0 29 2 *", "UTC", "2028-02-29 00:00 Z"),
    ("9998-12-30T00:00", "Pacific/Kiritimati", "9998-12-29 10:00 Z"),
    ("2026-12-07T15:00:01Z", "UTC", "2026-12-07 15:00:01 Z"),
]


@pytest.mark.parametrize(("expression", "timezone", "first"), ACCEPTED)
def test_validated_schedule_accepts_computable_schedules(expression: str, timezone: str, first: str) -> None:
    schedule = validated_schedule(expression, timezone=timezone, now=NOW)
    assert next_fire_time(schedule, after=NOW) == at(first)


def test_check_allows_a_past_once_time_when_asked() -> None:
    # A jobs file may keep a once-job that already ran: it loads, and simply never fires again.
    schedule = parse_schedule("2020-01-01T00:00Z")
    check_schedule(schedule, now=NOW, allow_past=True)
    with pytest.raises(InvalidSchedule, match="has passed"):
        check_schedule(schedule, now=NOW)


def test_check_refuses_fire_times_past_the_latest_date() -> None:
    # Valid today for 5 fire times; asked for 100 (jobdeck check --count 100), they would run past year 9998.
    schedule = parse_schedule(f"every {MAX_INTERVAL.days}d")
    check_schedule(schedule, now=NOW, count=5)
    with pytest.raises(InvalidSchedule, match=f"run past {LATEST.date()}"):
        check_schedule(schedule, now=NOW, count=100)


def test_check_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        check_schedule(parse_schedule("every 5m"), now=datetime(2026, 12, 7, 15))  # naive on purpose
