"""Pure formatting for the dashboard: times in the display timezone with their offset, relative times, durations.

Nothing here reads a clock: every function takes the instant it reasons about.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from jobdeck.dashboard.i18n import Translator

__all__ = ["format_datetime", "format_duration", "format_elapsed", "format_offset", "format_percent", "relative_time"]


def format_offset(moment: datetime) -> str:
    """``+08:00`` / ``-05:30`` / ``+00:00`` — the UTC offset of an aware datetime."""
    offset = moment.utcoffset()
    assert offset is not None, "aware datetimes only"
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


def format_datetime(moment: datetime | None, tz: tzinfo, *, seconds: bool = True) -> str:
    """``2026-03-06 15:58:03 +08:00`` in ``tz``; an em dash for None."""
    if moment is None:
        return "—"
    local = moment.astimezone(tz)
    return f"{local.strftime('%Y-%m-%d %H:%M:%S' if seconds else '%Y-%m-%d %H:%M')} {format_offset(local)}"


def relative_time(moment: datetime | None, now: datetime, t: Translator) -> str:
    """``in 3 min`` / ``5 h ago`` / ``just now`` (``3 分钟后`` / ``5 小时前`` / ``刚刚``); an em dash for None.

    Rounded to the nearest whole unit: seconds under a minute, minutes under 90 minutes, hours under 36 hours,
    days beyond. The browser re-renders these with the same rules (static/app.js) as time passes.
    """
    if moment is None:
        return "—"
    delta = (moment - now).total_seconds()
    size = abs(delta)
    if size < 5:
        return t("rel_now")
    if size < 60:
        amount, unit = round(size), "s"
    elif size < 90 * 60:
        amount, unit = round(size / 60), "min"
    elif size < 36 * 3600:
        amount, unit = round(size / 3600), "h"
    else:
        amount, unit = round(size / 86400), "d"
    span = t(f"unit_{unit}", n=amount)
    return t("rel_future" if delta > 0 else "rel_past", span=span)


def format_duration(seconds: float | None) -> str:
    """A run's duration: ``420 ms``, ``4.20 s``, ``12.3 s``, ``4 m 05 s``, ``2 h 03 m``; an em dash for None."""
    if seconds is None:
        return "—"
    if seconds < 0:
        seconds = 0.0
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} m"
    return f"{minutes} m {secs:02d} s"


def format_elapsed(since: datetime, now: datetime) -> str:
    """Running time from ``since`` (the start of a run) to ``now``: ``0:07``, ``12:04``, ``1:02:09``."""
    whole = max(0, int((now - since).total_seconds()))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_percent(value: float | None) -> str:
    """``97.5 %``, ``100 %``; an em dash for None."""
    if value is None:
        return "—"
    shown = f"{value:.1f}".removesuffix(".0")
    return f"{shown} %"
