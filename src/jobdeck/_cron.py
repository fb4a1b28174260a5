"""Cron internals for :mod:`jobdeck.schedules`: checking and normalising fields, the wall-clock walk, descriptions.

Matching and iteration are cronsim's (it follows Debian cron). This module checks each field with a precise reason
and rewrites the expression into the subset cronsim reads with jobdeck's meaning (names → numbers, ``fri-sun``
reaching Sunday, ``5/15`` stopping at the field's end, ``?`` → ``*``). Everything here works on naive wall-clock
values; turning wall times into instants (and the DST rules that go with it) is :mod:`jobdeck.schedules`' business.
Errors are plain ValueErrors carrying the reason only; the caller wraps them into
:class:`~jobdeck.errors.InvalidSchedule` with the expression.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from cronsim import CronSim, CronSimError

__all__ = ["CronSets", "describe_cron", "explain", "parse_cron", "walk"]

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
CRON_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron numbering: 0 = Sunday
_MAX_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February can have a 29th, so 29
_NUMBER = re.compile(r"[0-9]+")
_NTH = re.compile(r"(.+)#([0-9]+)")
_FIRE_CHECK_FROM = datetime(2000, 1, 1)  # noqa: DTZ001 - wall time: any start works, the calendar repeats


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    star_high: int
    """Upper end of ``*`` and of ``a/n``: day of week accepts 7 (Sunday again) but ``*`` means 0-6."""
    names: Mapping[str, int]

    @property
    def size(self) -> int:
        """How many distinct values ``*`` covers: the largest step that still means something."""
        return self.star_high - self.low + 1


_SECOND = _Field("second", 0, 59, 59, {})
_FIELDS = (
    _Field("minute", 0, 59, 59, {}),
    _Field("hour", 0, 23, 23, {}),
    _Field("day of month", 1, 31, 31, {}),
    _Field("month", 1, 12, 12, {name: number for number, name in enumerate(MONTH_NAMES, start=1)}),
    _Field("day of week", 0, 7, 6, {name: number for number, name in enumerate(CRON_DAY_NAMES)}),
)
_DAY, _WEEKDAY = _FIELDS[2], _FIELDS[4]


@dataclass(frozen=True, slots=True)
class CronSets:
    """A checked cron: ``text`` is what cronsim iterates; the sets are the plain values of each field, with
    ``weekdays`` in Python's numbering (0 = Monday). ``specials`` lists the items no set can hold (``L``, ``LW``,
    ``5L``, ``1#2``); ``seconds`` is ``{0}`` for a 5-field cron."""

    text: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    day_restricted: bool
    weekday_restricted: bool
    specials: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Parsed:
    values: frozenset[int]
    items: tuple[str, ...]
    """The field's items in cronsim's spelling."""
    specials: tuple[str, ...]


def parse_cron(fields: Sequence[str]) -> CronSets:
    """Parse a cron expression: five fields, or six with a leading seconds field.

    A day field counts as restricted unless it starts with ``*`` (or is ``?``) — the rule of Vixie cron, cronie and
    Debian cron, so ``0 0 */2 * 1`` means "odd days that are Mondays" while ``0 0 1 * 1`` means "the 1st, or any
    Monday". Day of month also takes ``L`` (the last day) and ``LW`` (the last weekday); day of week ``5L`` (the
    last Friday) and ``1#2`` (the second Monday).

    :raises ValueError: with the precise reason (``minute value 61 out of range 0-59``, ``minute step 61 out of
        range 1-60``, ``never fires: …``)
    """
    if len(fields) not in (5, 6):
        raise ValueError(f"expected 5 fields, got {len(fields)} (6 with a leading seconds field)")
    seconds = _parse_field(fields[0], _SECOND) if len(fields) == 6 else None
    day_texts = ["*" if text == "?" else text for text in fields[-3::2]]  # "?": no specific day (Quartz)
    texts = [*fields[-5:-3], day_texts[0], fields[-2], day_texts[1]]
    minutes, hours, days, months, weekdays = (
        _parse_field(text, spec) for text, spec in zip(texts, _FIELDS, strict=True)
    )
    parts = [",".join(field.items) for field in (minutes, hours, days, months, weekdays)]
    if seconds is not None:
        parts.insert(0, ",".join(seconds.items))
    sets = CronSets(
        text=" ".join(parts),
        seconds=seconds.values if seconds is not None else frozenset({0}),
        minutes=minutes.values,
        hours=hours.values,
        days=days.values,
        months=months.values,
        weekdays=frozenset((value - 1) % 7 for value in weekdays.values),  # cron 0/7 = Sunday → Python 6
        day_restricted=not texts[2].startswith("*"),
        weekday_restricted=not texts[4].startswith("*"),
        specials=days.specials + weekdays.specials,
    )
    _check_fires(sets)
    return sets


def _parse_field(text: str, spec: _Field) -> _Parsed:
    values: set[int] = set()
    items: list[str] = []
    specials: list[str] = []
    for item in text.split(","):
        if not item:
            raise ValueError(f"empty item in {spec.name} field {text!r}")
        special = _special(item, spec)
        if special is not None:
            items.append(special)
            specials.append(special)
            continue
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not _NUMBER.fullmatch(step_text):
                raise ValueError(f"invalid step {step_text!r} in {spec.name} field {text!r}")
            step = int(step_text)
            if step < 1:
                raise ValueError(f"{spec.name} step must be at least 1, got {step}")
            # A step past the field's size would silently mean "once" (`*/61` = minute 0 = hourly): refuse it.
            if step > spec.size:
                raise ValueError(f"{spec.name} step {step} out of range 1-{spec.size}")
        if base == "*":
            low, high = spec.low, spec.star_high
            items.append(item)
        elif "-" in base:
            start, _, end = base.partition("-")
            low, high = _value(start, spec), _value(end, spec, range_end=True)
            if low > high:
                raise ValueError(f"{spec.name} range {base!r} runs backwards ({low} > {high})")
            items.append(f"{low}-{high}/{step}" if slash else f"{low}-{high}")
        else:
            low = _value(base, spec)
            high = spec.star_high if slash else low  # "5/15" means "5-59/15", as in most crons that accept it
            items.append(f"{low}-{high}/{step}" if slash else str(low))
        values.update(range(low, high + 1, step))
    return _Parsed(values=frozenset(values), items=tuple(items), specials=tuple(specials))


def _special(item: str, spec: _Field) -> str | None:
    """cronsim's spelling of an ``L``/``LW``/``5L``/``1#2`` item; None for an ordinary one."""
    upper = item.upper()
    if spec is _DAY and upper in ("L", "LW"):
        return upper
    if spec is not _WEEKDAY:
        return None
    if upper.endswith("L") and len(upper) > 1 and upper.lower() not in spec.names:
        return f"{_value(item[:-1], spec)}L"
    if nth := _NTH.fullmatch(item):
        if not 1 <= int(nth.group(2)) <= 5:
            raise ValueError(f"day of week {item!r}: the week number after '#' must be 1-5")
        return f"{_value(nth.group(1), spec)}#{int(nth.group(2))}"
    return None


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
    if sets.specials:
        _check_fires_by_walking(sets)
        return
    if sets.day_restricted and sets.weekday_restricted:
        return
    if any(day <= _MAX_DAYS[month - 1] for month in sets.months for day in sets.days):
        return
    days = ", ".join(str(day) for day in sorted(sets.days))
    months = ", ".join(MONTH_NAMES[month - 1].capitalize() for month in sorted(sets.months))
    raise ValueError(f"never fires: day {days} does not occur in {months}")


def _check_fires_by_walking(sets: CronSets) -> None:
    # `1#5` with `*/30` in February cannot be judged by the sets; weekday patterns repeat within 28 years (40
    # across 2100), inside cronsim's 50-year search, so "no fire from 2000 on" means never.
    if next(walk(sets, _FIRE_CHECK_FROM), None) is None:
        raise ValueError(f"never fires: no day matches {' '.join(sets.text.split()[-3:])}")


def walk(sets: CronSets, start: datetime) -> Iterator[datetime]:
    """Matching wall-clock times strictly after ``start`` (naive; whole seconds), in order.

    Iterating naive values makes it a walk over the calendar: the caller maps each one to an instant. The walk ends
    when cronsim finds nothing in 50 years, or at the end of datetime's range.
    """
    try:
        yield from CronSim(sets.text, start)
    except (OverflowError, ValueError):  # the calendar ran out (year 9999) before the next match
        return
    except CronSimError as exc:  # unreachable for a parsed cron: every check is done above, with a better reason
        raise ValueError(f"cron {sets.text!r}: {exc}") from None


def explain(sets: CronSets) -> str | None:
    """cronsim's English sentence for a cron (it knows ``L``, ``#`` and seconds); None if it has none."""
    return _explain(sets.text)


@functools.lru_cache(maxsize=1024)
def _explain(text: str) -> str | None:
    # Cached: dashboards describe every listed job on every render.
    try:
        return CronSim(text, _FIRE_CHECK_FROM).explain()
    except (CronSimError, LookupError, ValueError):
        return None


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
        "special": "{sentence}",
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
        "special": "cron 表达式：{expr}",
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
    if sets.specials or sets.seconds != {0}:
        return _describe_special(sets, expression, words) or fallback
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


def _describe_special(sets: CronSets, expression: str, words: Mapping[str, str]) -> str | None:
    """Seconds on an every-minute cron in jobdeck's words; anything else with ``L``, ``#`` or seconds in the
    library's English sentence (``words["special"]`` decides whether a language uses it)."""
    every_minute = not sets.specials and (
        len(sets.minutes),
        len(sets.hours),
        len(sets.days),
        len(sets.months),
        len(sets.weekdays),
    ) == (60, 24, 31, 12, 7)
    seconds = sorted(sets.seconds)
    if every_minute and len(seconds) == 60:
        return words["every_1_second"]
    if every_minute and (step := _step_from_zero(seconds, 60)):
        return words["every_n_second"].format(n=step)
    sentence = explain(sets)
    if sentence is None:
        return None
    return words["special"].format(sentence=sentence[0].lower() + sentence[1:], expr=expression)


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
