"""Schedule strings → :class:`~jobdeck.models.Schedule`, next fire times, descriptions, and durations.

Pure: nothing here reads a clock; every function takes the instant it reasons about.

Accepted schedule strings:

* 5-field cron — ``"*/5 9-15 * * 1-5"``: lists, ranges, steps, ``*``, month and weekday names, weekday 0 and 7 =
  Sunday; when both day fields are restricted a day matches if either does (see :func:`jobdeck._cron.parse_cron`);
  ``L`` / ``LW`` (the last day / weekday of the month), ``5L`` (the last Friday), ``1#2`` (the second Monday),
  ``?`` (= ``*`` in a day field); an optional sixth field in front for seconds (``"*/10 * * * * *"``). Parsed
  and iterated by cronsim, which follows Debian cron;
* ``"HH:MM"`` — daily at that wall time;
* ``"every 30s"`` / ``5m`` / ``2h`` / ``1d`` (units may be combined: ``1h30m``) — fires at ``EPOCH + n·interval``,
  so every replica, and every restart, computes the same instants;
* ``@hourly``, ``@daily``/``@midnight``, ``@weekly``, ``@monthly``, ``@yearly``/``@annually``;
* an ISO 8601 datetime — once; with an offset, or naive meaning wall time in the schedule's timezone.

Every schedule is checked over its whole range before anything uses it: :func:`parse_schedule` refuses what can
never be computed (an interval longer than :data:`MAX_INTERVAL`, a once-time outside :data:`EARLIEST` …
:data:`LATEST`, a cron that never fires), and :func:`check_schedule` refuses what cannot be computed from ``now``
(fire times past :data:`LATEST`, a once-time that has passed) — so a saved schedule can always be fired, listed and
rendered in any timezone.

Cron and daily schedules run in wall-clock time of their timezone. A wall time that does not exist (the
spring-forward gap) fires when the gap ends; an ambiguous one (fall-back) fires once, at its first occurrence.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jobdeck import _cron
from jobdeck.errors import InvalidSchedule
from jobdeck.models import Schedule, ScheduleKind

__all__ = [
    "EARLIEST",
    "EPOCH",
    "LATEST",
    "MAX_INTERVAL",
    "check_schedule",
    "describe_schedule",
    "load_timezone",
    "next_fire_time",
    "next_fire_times",
    "parse_duration",
    "parse_schedule",
    "validated_schedule",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""The origin of interval schedules: fixed, so the grid does not depend on when a process started."""

EARLIEST = datetime(2, 1, 1, tzinfo=UTC)
LATEST = datetime(9998, 12, 31, tzinfo=UTC)
"""Fire times lie within [EARLIEST, LATEST]: a day inside Python's datetime range, so that converting them to any
timezone (offsets reach ±26 h) and adding an interval to them never overflows."""

MAX_INTERVAL = timedelta(days=36500)
"""The longest interval (100 years). Longer ones overflow datetime arithmetic long before they fire twice."""

_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_DAILY = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_EVERY = re.compile(r"every(?:\s+(.*)|)", re.IGNORECASE | re.DOTALL)
_AMOUNT = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([^\s0-9.]*)")

_SECOND, _MINUTE, _HOUR, _DAY = 1.0, 60.0, 3600.0, 86400.0
_INTERVAL_UNITS: Mapping[str, float] = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), _SECOND),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), _MINUTE),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), _HOUR),
    **dict.fromkeys(("d", "day", "days"), _DAY),
    **dict.fromkeys(("w", "week", "weeks"), 7 * _DAY),
}
_DURATION_UNITS: Mapping[str, float] = {**_INTERVAL_UNITS, "ms": 0.001}
_DURATION_HINT = "expected a number of seconds or a string like '90s', '5m', '2h', '1h30m', '250ms'"


def load_timezone(name: str) -> ZoneInfo:
    """The IANA timezone called ``name`` (``"Europe/Berlin"``, ``"UTC"``).

    :raises ValueError: ``unknown timezone 'Mars/Olympus'``
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"unknown timezone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # malformed names surface as ValueError or OSError
        raise ValueError(f"unknown timezone {name!r}") from None


def parse_schedule(expression: str, *, timezone: str = "UTC") -> Schedule:
    """Parse a schedule string (see the module docstring); wall-clock fields are read in ``timezone``.

    :raises InvalidSchedule: with a precise reason — ``minute value 61 out of range 0-59``,
        ``minute step 61 out of range 1-60``, ``expected 5 fields, got 4``, ``unknown interval unit 'x'``,
        ``unknown timezone 'Mars/Olympus'``, ``never fires: day 30 does not occur in Feb``
    """
    try:
        zone = load_timezone(timezone)
        return _parse(expression.strip(), zone, timezone)
    except ValueError as exc:  # the helpers raise plain ValueErrors carrying just the reason
        raise InvalidSchedule(expression, str(exc)) from None


def _parse(text: str, zone: ZoneInfo, timezone: str) -> Schedule:
    if not text:
        raise ValueError("empty schedule")
    if every := _EVERY.fullmatch(text):
        return _interval_schedule(text, every.group(1) or "", timezone)
    if _ISO_DATE.match(text):
        return _once_schedule(text, zone, timezone)
    kind, sets = _cron_sets(text)
    return Schedule(
        expression=text,
        kind=kind,
        timezone=timezone,
        minutes=sets.minutes,
        hours=sets.hours,
        days=sets.days,
        months=sets.months,
        weekdays=sets.weekdays,
        day_restricted=sets.day_restricted,
        weekday_restricted=sets.weekday_restricted,
    )


@functools.lru_cache(maxsize=4096)
def _cron_sets(text: str) -> tuple[ScheduleKind, _cron.CronSets]:
    """The cron behind a cron, ``HH:MM`` or ``@alias`` schedule string (stripped); cached because every fire time
    and description of a schedule goes back to its expression, which holds what the sets cannot (``L``, seconds).

    :raises ValueError: the precise reason
    """
    if text.startswith("@"):
        cron = _ALIASES.get(text.lower())
        if cron is None:
            raise ValueError(f"unknown alias {text!r} (use @hourly, @daily, @weekly, @monthly or @yearly)")
        return ScheduleKind.CRON, _cron.parse_cron(cron.split())
    if daily := _DAILY.fullmatch(text):
        hour, minute = int(daily.group(1)), int(daily.group(2))
        if hour > 23:
            raise ValueError(f"hour value {hour} out of range 0-23")
        if minute > 59:
            raise ValueError(f"minute value {minute} out of range 0-59")
        return ScheduleKind.DAILY, _cron.parse_cron([str(minute), str(hour), "*", "*", "*"])
    fields = text.split()
    if len(fields) == 1:
        raise ValueError("expected 5 fields, got 1 (or 'HH:MM', 'every 5m', '@daily', an ISO 8601 datetime)")
    return ScheduleKind.CRON, _cron.parse_cron(fields)


def _interval_schedule(text: str, amount: str, timezone: str) -> Schedule:
    if not amount.strip():
        raise ValueError("missing interval after 'every' (e.g. 'every 30s', 'every 5m')")
    seconds = _sum_amounts(amount, _INTERVAL_UNITS, "interval")
    if seconds <= 0:
        raise ValueError("interval must be greater than zero")
    if seconds > MAX_INTERVAL.total_seconds():  # also inf: a number too long for a float
        days = seconds / _DAY
        raise ValueError(f"interval must be at most {MAX_INTERVAL.days} days (100 years), got {days:.0f} days")
    if seconds != int(seconds):
        raise ValueError(f"interval must be a whole number of seconds, got {seconds:g}s")
    return Schedule(
        expression=text,
        kind=ScheduleKind.INTERVAL,
        timezone=timezone,
        interval=timedelta(seconds=int(seconds)),
        origin=EPOCH,
    )


def _once_schedule(text: str, zone: ZoneInfo, timezone: str) -> Schedule:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"invalid ISO 8601 datetime ({exc})") from None
    try:
        at = value.astimezone(UTC) if value.utcoffset() is not None else _wall_to_utc(value, zone)
    except OverflowError:
        at = None
    if at is None or not EARLIEST <= at <= LATEST:
        raise ValueError(f"date out of range: once-times must lie between {EARLIEST.date()} and {LATEST.date()}")
    return Schedule(expression=text, kind=ScheduleKind.ONCE, timezone=timezone, at=at)


def check_schedule(schedule: Schedule, *, now: datetime, count: int = 5, allow_past: bool = False) -> None:
    """Check that ``schedule`` can be computed from ``now``: its next ``count`` fire times exist and lie before
    :data:`LATEST`. With ``allow_past`` false a once-schedule whose time has passed is refused too (it would never
    fire); a jobs file allows it (the job may have run already).

    :raises InvalidSchedule: naming the expression and the problem
    :raises ValueError: ``now`` is naive
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")
    if schedule.kind is ScheduleKind.ONCE and not allow_past and schedule.at is not None and schedule.at <= now:
        raise InvalidSchedule(schedule.expression, f"{schedule.at.isoformat()} has passed; it would never fire")
    try:
        times = next_fire_times(schedule, after=now, count=count)
    except (OverflowError, ValueError):
        times = None
    if times is None or any(t > LATEST for t in times):
        reason = f"its fire times run past {LATEST.date()}, the latest supported date"
        raise InvalidSchedule(schedule.expression, reason)


def validated_schedule(
    expression: str, *, timezone: str, now: datetime, count: int = 5, allow_past: bool = False
) -> Schedule:
    """:func:`parse_schedule`, then :func:`check_schedule` from ``now``: what every caller saving or previewing a
    schedule uses, so nothing is stored that cannot be fired and rendered.

    :raises InvalidSchedule: the expression does not parse, or cannot be computed from ``now``
    """
    schedule = parse_schedule(expression, timezone=timezone)
    check_schedule(schedule, now=now, count=count, allow_past=allow_past)
    return schedule


def _sum_amounts(text: str, units: Mapping[str, float], what: str) -> float:
    """Total seconds of ``"1h30m"``-style text; the reason names the first bad piece."""
    text = text.strip()
    total, position = 0.0, 0
    while position < len(text):
        match = _AMOUNT.match(text, position)
        if match is None:
            raise ValueError(f"invalid {what} {text!r}")
        number, unit = match.groups()
        if not unit:
            raise ValueError(f"missing unit after {number!r} in {what} {text!r} (use s, m, h or d)")
        if unit.lower() not in units:
            raise ValueError(f"unknown {what} unit {unit!r}")
        total += float(number) * units[unit.lower()]
        position = match.end()
    return total


def parse_duration(value: str | int | float, *, field: str = "duration") -> float:
    """Seconds, from a number of seconds or a string such as ``"90s"``, ``"5m"``, ``"2h"``, ``"1h30m"``, ``"250ms"``.

    :raises ValueError: naming ``field`` and the problem (negative, not finite, unknown unit, not a duration)
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{field}: {_DURATION_HINT}, got {type(value).__name__} {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("-"):
            raise ValueError(f"{field}: duration must not be negative, got {value!r}")
        try:
            seconds = float(text)
        except ValueError:
            if not text:
                raise ValueError(f"{field}: empty duration; {_DURATION_HINT}") from None
            try:
                seconds = _sum_amounts(text, _DURATION_UNITS, "duration")
            except ValueError as exc:
                raise ValueError(f"{field}: {exc}; {_DURATION_HINT}") from None
    else:
        seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError(f"{field}: duration must be a finite number, got {value!r}")
    if seconds < 0:
        raise ValueError(f"{field}: duration must not be negative, got {value!r}")
    return seconds


def next_fire_time(schedule: Schedule, *, after: datetime) -> datetime | None:
    """The first fire time strictly after ``after`` (aware, any zone), in UTC; None when there is none.

    :raises ValueError: ``after`` is naive
    """
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError(f"after must be timezone-aware, got naive {after.isoformat()}")
    after = after.astimezone(UTC)
    if schedule.kind is ScheduleKind.ONCE:
        return schedule.at if schedule.at is not None and schedule.at > after else None
    if schedule.kind is ScheduleKind.INTERVAL:
        if schedule.interval is None or schedule.interval <= timedelta(0):
            raise ValueError(f"interval schedule {schedule.expression!r} has no positive interval")
        origin = schedule.origin or EPOCH
        # Floor division keeps the grid exact (integer microseconds) and works before the origin too.
        return origin + ((after - origin) // schedule.interval + 1) * schedule.interval
    key = (schedule.expression, schedule.timezone)
    run = _KNOWN_FIRES.get(key)
    if run is not None and run.anchor <= after < run.fires[-1]:
        return run.fires[bisect.bisect_right(run.fires, after)]
    zone = load_timezone(schedule.timezone)
    if run is not None and after == run.fires[-1] and _KNOWN_FIRES.pop(key, None) is run:
        # The next of a run (a fire asking for the one after it): its walk goes on, ours alone once popped.
        walls, anchor, fires = run.walls, run.anchor, run.fires
    else:
        start = after.astimezone(zone).replace(tzinfo=None, microsecond=0)
        walls, anchor, fires = _cron.walk(_cron_sets(schedule.expression)[1], start), after, ()
    fire = _first_fire(walls, zone, after)
    if fire is None:
        return None
    fires = (*fires, fire)
    if len(fires) > _KNOWN_RUN:
        anchor, fires = fires[0], fires[1:]
    if len(_KNOWN_FIRES) >= _KNOWN_SCHEDULES and key not in _KNOWN_FIRES:
        _KNOWN_FIRES.clear()
    _KNOWN_FIRES[key] = _Run(anchor=anchor, fires=fires, walls=walls)
    return fire


@dataclass(frozen=True, kw_only=True, slots=True)
class _Run:
    """Consecutive fire times of one schedule: no fire in ``(anchor, fires[0])``, then each the next of the one
    before; ``walls`` is the calendar walk that found them, positioned after the last."""

    anchor: datetime
    fires: tuple[datetime, ...]
    walls: Iterator[datetime]


_KNOWN_FIRES: dict[tuple[str, str], _Run] = {}
"""Per (expression, timezone). Job lists ask with a new ``now`` on every render and the engine for the fire after
the last; a bisect or the walk's next step answers both, where a fresh cronsim walk costs ~0.1 ms. The answer is a
pure function of the key and ``after``, so it never goes stale. A run is taken out of the dict to be extended."""
_KNOWN_RUN = 16
_KNOWN_SCHEDULES = 4096


def _first_fire(walls: Iterator[datetime], zone: ZoneInfo, after: datetime) -> datetime | None:
    # cronsim walks the naive calendar; the DST policy is ours (see _wall_to_utc), not cronsim's zone mode, which
    # fires an hour-starred cron twice in a fall-back hour and skips its gap minutes. Wall → instant is
    # non-decreasing, and no wall time up to the start maps past `after`, so the first matching wall time whose
    # instant lies beyond `after` is the answer; the ones it skips are the second pass of a fall-back hour.
    for wall in walls:
        instant = _wall_to_utc(wall, zone)
        if instant > after:
            return instant
    return None


def next_fire_times(schedule: Schedule, *, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times strictly after ``after`` (aware), in UTC; fewer when the schedule ends.

    :raises ValueError: ``count`` is negative, or ``after`` is naive
    """
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    times: list[datetime] = []
    current: datetime | None = after
    while len(times) < count and current is not None:
        current = next_fire_time(schedule, after=current)
        if current is not None:
            times.append(current)
    return times


def _wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant of a naive wall time in ``zone``: the first occurrence if ambiguous, the gap's end if missing."""
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    # The wall time falls in a spring-forward gap. With fold=1 it maps before the transition, with fold=0 after;
    # the transition instant between them is the first moment after the gap.
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return _transition(before, instant, zone)


def _transition(before: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    """The first whole second in (before, after] whose UTC offset in ``zone`` differs from ``before``'s."""
    offset = before.astimezone(zone).utcoffset()
    low, high = math.floor(before.timestamp()), math.ceil(after.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def describe_schedule(schedule: Schedule, *, language: str = "en") -> str:
    """Words for humans: ``"every 5 minutes, 09:00–15:59, Mon–Fri"``, ``"daily at 18:00"``,
    ``"every 30 seconds"``, ``"once at 2026-12-01 08:00 (Asia/Shanghai)"``; irregular crons fall back to
    ``"cron: */7 3,5 * * *"``.

    ``language`` is ``"en"`` or ``"zh"`` (简体中文; ``zh-CN``, ``zh_Hans`` … too); any other falls back to English.
    """
    words = _cron.WORDS["zh" if language.lower().replace("_", "-").split("-")[0] == "zh" else "en"]
    if schedule.kind is ScheduleKind.INTERVAL and schedule.interval is not None:
        seconds = int(schedule.interval.total_seconds())
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
            if seconds % size == 0 or unit == "second":
                amount = seconds // size
                return words[f"every_{amount if amount == 1 else 'n'}_{unit}"].format(n=amount)
    if schedule.kind is ScheduleKind.ONCE and schedule.at is not None:
        local = schedule.at.astimezone(load_timezone(schedule.timezone))
        shown = local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")
        return words["once"].format(at=shown, tz=schedule.timezone)
    return _cron.describe_cron(_cron_sets(schedule.expression)[1], schedule.expression, words)
