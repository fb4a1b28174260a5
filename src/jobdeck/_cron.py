"""Cron internals for :mod:`jobdeck.schedules`: field parsing, day matching, the wall-clock walk and descriptions.

Everything here works on naive wall-clock values; turning wall times into instants (and the DST rules that go with
it) is :mod:`jobdeck.schedules`' business. Errors are plain ValueErrors carrying the reason only; the caller
wraps them into :class:`~jobdeck.errors.InvalidSchedule` with the expression.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import MAXYEAR, date, datetime

__all__ = ["HORIZON_YEARS", "CronSets", "describe_cron", "parse_cron", "walk"]

HORIZON_YEARS = 50
"""How far :func:`walk` looks ahead. Parse-time checks reject crons that never fire, so this bound only guards
hand-built schedules; it is generous because a legitimate ``0 0 29 2 *`` can wait 8 years (2096 → 2104)."""

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
CRON_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron numbering: 0 = Sunday
_MAX_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February can have a 29th, so 29
_NUMBER = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    star_high: int
    """Upper end of ``*`` and of ``a/n``: day of week accepts 7 (Sunday again) but ``*`` means 0-6."""
    names: Mapping[str, int]


_FIELDS = (
    _Field("minute", 0, 59, 59, {}),
    _Field("hour", 0, 23, 23, {}),
    _Field("day of month", 1, 31, 31, {}),
    _Field("month", 1, 12, 12, {name: number for number, name in enumerate(MONTH_NAMES, start=1)}),
    _Field("day of week", 0, 7, 6, {name: number for number, name in enumerate(CRON_DAY_NAMES)}),
)


@dataclass(frozen=True, slots=True)
class CronSets:
    """The matching values of a 5-field cron; ``weekdays`` use Python's numbering (0 = Monday)."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    day_restricted: bool
    weekday_restricted: bool


def parse_cron(fields: Sequence[str]) -> CronSets:
    """Parse the five fields of a cron expression.

    A day field counts as restricted unless it starts with ``*`` — the rule of Vixie cron and cronie, so
    ``0 0 */2 * 1`` means "odd days that are Mondays" while ``0 0 1 * 1`` means "the 1st, or any Monday".

    :raises ValueError: with the precise reason (``minute value 61 out of range 0-59``, ``never fires: …``)
    """
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields, got {len(fields)}")
    minutes, hours, days, months, cron_weekdays = (
        _parse_field(text, spec) for text, spec in zip(fields, _FIELDS, strict=True)
    )
    sets = CronSets(
        minutes=minutes,
        hours=hours,
        days=days,
        months=months,
        weekdays=frozenset((value - 1) % 7 for value in cron_weekdays),  # cron 0/7 = Sunday → Python 6
        day_restricted=not fields[2].startswith("*"),
        weekday_restricted=not fields[4].startswith("*"),
    )
    _check_fires(sets)
    return sets


def _parse_field(text: str, spec: _Field) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ValueError(f"empty item in {spec.name} field {text!r}")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not _NUMBER.fullmatch(step_text):
                raise ValueError(f"invalid step {step_text!r} in {spec.name} field {text!r}")
            step = int(step_text)
            if step < 1:
                raise ValueError(f"{spec.name} step must be at least 1, got {step}")
        if base == "*":
            low, high = spec.low, spec.star_high
        elif "-" in base:
            start, _, end = base.partition("-")
            low, high = _value(start, spec), _value(end, spec, range_end=True)
            if low > high:
                raise ValueError(f"{spec.name} range {base!r} runs backwards ({low} > {high})")
        else:
            low = _value(base, spec)
            high = spec.star_high if slash else low  # "5/15" means "5-59/15", as in most crons that accept it
        values.update(range(low, high + 1, step))
    return frozenset(values)


def _value(token: str, spec: _Field, *, range_end: bool = False) -> int:
    lowered = token.lower()
    if lowered in spec.names:
        value = spec.names[lowered]
        # "fri-sun" must reach Sunday: as the end of a range, sun is 7 rather than 0.
        return 7 if range_end and spec.high == 7 and value == 0 else value
    if not _NUMBER.fullmatch(token):
        hint = f" (names: {', '.join(spec.names)})" if spec.names else ""
        raise ValueError(f"invalid {spec.name} value {token!r}{hint}")
    value = int(token)
    if not spec.low <= value <= spec.high:
        raise ValueError(f"{spec.name} value {value} out of range {spec.low}-{spec.high}")
    return value


def _check_fires(sets: CronSets) -> None:
    # With both day fields restricted a day matches on either, and every weekday comes round: it fires. Otherwise
    # the days of month must exist in some chosen month; weekdays alone cannot block it, because each date falls
    # on every weekday sooner or later (and a `*`-led day field always contains the 1st).
    if sets.day_restricted and sets.weekday_restricted:
        return
    if any(day <= _MAX_DAYS[month - 1] for month in sets.months for day in sets.days):
        return
    days = ", ".join(str(day) for day in sorted(sets.days))
    months = ", ".join(MONTH_NAMES[month - 1].capitalize() for month in sorted(sets.months))
    raise ValueError(f"never fires: day {days} does not occur in {months}")


def day_matches(sets: CronSets, day: date) -> bool:
    """Whether ``day`` is a firing day (month already checked): either day field when both are restricted."""
    in_days = day.day in sets.days
    in_weekdays = day.weekday() in sets.weekdays
    if sets.day_restricted and sets.weekday_restricted:
        return in_days or in_weekdays
    return in_days and in_weekdays


def walk(sets: CronSets, start: datetime) -> Iterator[datetime]:
    """Matching wall-clock minutes at or after ``start`` (naive), in order, for up to :data:`HORIZON_YEARS`.

    Non-matching months, days and hours are skipped whole, so a sparse cron costs a few dozen steps, not a scan
    of every minute.
    """
    start = start.replace(second=0, microsecond=0)
    minutes, hours = sorted(sets.minutes), sorted(sets.hours)
    year, month = start.year, start.month
    for months_ahead in range(HORIZON_YEARS * 12):
        if month in sets.months:
            in_start_month = months_ahead == 0
            last_day = calendar.monthrange(year, month)[1]
            for day in range(start.day if in_start_month else 1, last_day + 1):
                if not day_matches(sets, date(year, month, day)):
                    continue
                on_start_day = in_start_month and day == start.day
                for hour in hours:
                    if on_start_day and hour < start.hour:
                        continue
                    in_start_hour = on_start_day and hour == start.hour
                    for minute in minutes:
                        if in_start_hour and minute < start.minute:
                            continue
                        yield datetime(year, month, day, hour, minute)  # noqa: DTZ001 - wall time, zone applied later
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        if year > MAXYEAR - 1:  # leave room for the zone conversion of the last candidates
            return


# --- descriptions --------------------------------------------------------------------------------------------------

WORDS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "every_minute": "every minute",
        "every_n_minutes": "every {n} minutes",
        "every_hour": "every hour",
        "every_hour_at": "every hour at :{m:02d}",
        "every_n_hours": "every {n} hours",
        "every_n_hours_at": "every {n} hours at :{m:02d}",
        "daily_at": "daily at {times}",
        "at": "at {times}",
        "sep": ", ",
        "list_sep": ", ",
        "name_range": "{a}–{b}",
        "day": "on day {days}",
        "days": "on days {days}",
        "day_or_weekday": "{days} or {weekdays}",
        "months": "in {months}",
        "day_in_months": "on day {days} of {months}",
        "days_in_months": "on days {days} of {months}",
        "fallback": "cron: {expr}",
        "once": "once at {at} ({tz})",
        "weekday_names": "Mon Tue Wed Thu Fri Sat Sun",
        "month_names": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",
        "every_1_second": "every second",
        "every_1_minute": "every minute",
        "every_1_hour": "every hour",
        "every_1_day": "every day",
        "every_n_second": "every {n} seconds",
        "every_n_minute": "every {n} minutes",
        "every_n_hour": "every {n} hours",
        "every_n_day": "every {n} days",
    },
    "zh": {
        "every_minute": "每分钟",
        "every_n_minutes": "每 {n} 分钟",
        "every_hour": "每小时",
        "every_hour_at": "每小时第 {m} 分钟",
        "every_n_hours": "每 {n} 小时",
        "every_n_hours_at": "每 {n} 小时的第 {m} 分钟",
        "daily_at": "每天 {times}",
        "at": "{times}",
        "sep": "，",
        "list_sep": "、",
        "name_range": "{a}至{b}",
        "day": "每月 {days} 日",
        "days": "每月 {days} 日",
        "day_or_weekday": "{days}或{weekdays}",
        "months": "{months}",
        "day_in_months": "{months} {days} 日",
        "days_in_months": "{months} {days} 日",
        "fallback": "cron 表达式：{expr}",
        "once": "仅一次：{at}（{tz}）",
        "weekday_names": "周一 周二 周三 周四 周五 周六 周日",
        "month_names": "1月 2月 3月 4月 5月 6月 7月 8月 9月 10月 11月 12月",
        "every_1_second": "每秒",
        "every_1_minute": "每分钟",
        "every_1_hour": "每小时",
        "every_1_day": "每天",
        "every_n_second": "每 {n} 秒",
        "every_n_minute": "每 {n} 分钟",
        "every_n_hour": "每 {n} 小时",
        "every_n_day": "每 {n} 天",
    },
}


def describe_cron(sets: CronSets, expression: str, words: Mapping[str, str]) -> str:
    """Words for the common cron shapes; ``words["fallback"]`` with the expression for anything irregular."""
    fallback = words["fallback"].format(expr=expression)
    time, times_listed = _describe_time(sets, words)
    window = _describe_hour_window(sets) if time is not None and not times_listed else None
    days = _describe_days(sets, words)
    if time is None or days is False or (window is False):
        return fallback
    months = None
    if len(sets.months) < 12:
        month_names = _names(sorted(sets.months), words["month_names"].split(), 1, words)
        if len(sets.days) < 31 and len(sets.weekdays) == 7:  # "on day 1 of Jan" reads better than two parts
            key = "day_in_months" if len(sets.days) == 1 else "days_in_months"
            days = words[key].format(days=_ranges(sorted(sets.days), words), months=month_names)
        else:
            months = words["months"].format(months=month_names)
    if times_listed and days is None and months is None:
        return words["daily_at"].format(times=time)
    if times_listed:
        time = words["at"].format(times=time)
    parts = [part for part in (time, window, days, months) if isinstance(part, str)]
    return words["sep"].join(parts)


def _describe_time(sets: CronSets, words: Mapping[str, str]) -> tuple[str | None, bool]:
    """The time-of-day part and whether it is a list of clock times (which reads "daily at …" on its own)."""
    minutes, hours = sorted(sets.minutes), sorted(sets.hours)
    minute_step, hour_step = _step_from_zero(minutes, 60), _step_from_zero(hours, 24)
    if len(minutes) == 60:
        return words["every_minute"], False
    if minute_step:
        return words["every_n_minutes"].format(n=minute_step), False
    if len(minutes) == 1 and hour_step:
        key = "every_n_hours" if minutes[0] == 0 else "every_n_hours_at"
        return words[key].format(n=hour_step, m=minutes[0]), False
    if len(minutes) * len(hours) <= 6:
        times = sorted(f"{hour:02d}:{minute:02d}" for hour in hours for minute in minutes)
        return words["list_sep"].join(times), True
    if len(minutes) == 1:  # e.g. "0 9-17 * * *": the hour window follows as its own part
        return (words["every_hour"] if minutes[0] == 0 else words["every_hour_at"].format(m=minutes[0])), False
    return None, False


def _describe_hour_window(sets: CronSets) -> str | bool | None:
    """None: every hour; a "09:00–15:59" window for one run of hours; False when the hours are scattered."""
    hours = sorted(sets.hours)
    if len(hours) == 24 or _step_from_zero(hours, 24):
        return None  # "every N hours" already said it, or there is nothing to say
    if hours == list(range(hours[0], hours[-1] + 1)):
        return f"{hours[0]:02d}:00–{hours[-1]:02d}:59"
    return False


def _describe_days(sets: CronSets, words: Mapping[str, str]) -> str | bool | None:
    """None: every day; the day words; False when the combination is too irregular for words."""
    some_days, some_weekdays = len(sets.days) < 31, len(sets.weekdays) < 7
    either = sets.day_restricted and sets.weekday_restricted
    if either and not (some_days and some_weekdays):
        return None  # "either" with one side matching everything matches every day
    weekdays = _names(sorted(sets.weekdays), words["weekday_names"].split(), 0, words)
    days = sorted(sets.days)
    day_words = words["day" if len(days) == 1 else "days"].format(days=_ranges(days, words))
    if some_days and some_weekdays:
        return words["day_or_weekday"].format(days=day_words, weekdays=weekdays) if either else False
    if some_days:
        return day_words
    if some_weekdays:
        return weekdays
    return None


def _step_from_zero(values: list[int], size: int) -> int | None:
    """``n`` when ``values`` is exactly ``0, n, 2n, …`` with ``n`` dividing ``size`` evenly (1 < n < size)."""
    if len(values) < 2 or values[0] != 0:
        return None
    step = values[1]
    if step < 2 or size % step or values != list(range(0, size, step)):
        return None
    return step


def _runs(values: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for value in values:
        if runs and value == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs


def _ranges(values: list[int], words: Mapping[str, str]) -> str:
    parts: list[str] = []
    for a, b in _runs(values):
        if b - a >= 2:
            parts.append(f"{a}–{b}")
        else:
            parts.extend(str(value) for value in range(a, b + 1))
    return words["list_sep"].join(parts)


def _names(values: list[int], names: list[str], first: int, words: Mapping[str, str]) -> str:
    parts: list[str] = []
    for a, b in _runs(values):
        if b - a >= 2:
            parts.append(words["name_range"].format(a=names[a - first], b=names[b - first]))
        else:
            parts.extend(names[value - first] for value in range(a, b + 1))
    return words["list_sep"].join(parts)
