"""Pure formatting of the dashboard: times with their offset, relative times, durations, running time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobdeck.dashboard.formatting import (
    format_datetime,
    format_duration,
    format_elapsed,
    format_offset,
    format_percent,
    relative_time,
)
from jobdeck.dashboard.i18n import Translator

NOW = datetime(2026, 3, 6, 7, 58, 3, tzinfo=UTC)
EN = Translator("en")
ZH = Translator("zh")


def test_times_are_shown_in_the_display_timezone_with_the_offset() -> None:
    assert format_datetime(NOW, ZoneInfo("Asia/Shanghai")) == "2026-03-06 15:58:03 +08:00"
    assert format_datetime(NOW, ZoneInfo("America/St_Johns"), seconds=False) == "2026-03-06 04:28 -03:30"
    assert format_datetime(NOW, ZoneInfo("UTC")) == "2026-03-06 07:58:03 +00:00"
    assert format_datetime(None, ZoneInfo("UTC")) == "—"
    assert format_offset(datetime(2026, 7, 1, tzinfo=ZoneInfo("Europe/Berlin"))) == "+02:00"


@pytest.mark.parametrize(
    ("delta", "english", "chinese"),
    [
        (timedelta(seconds=2), "just now", "刚刚"),
        (timedelta(seconds=-3), "just now", "刚刚"),
        (timedelta(seconds=30), "in 30 s", "30 秒后"),
        (timedelta(seconds=-59), "59 s ago", "59 秒前"),
        (timedelta(minutes=3), "in 3 min", "3 分钟后"),
        (timedelta(minutes=-89), "89 min ago", "89 分钟前"),
        (timedelta(hours=5), "in 5 h", "5 小时后"),
        (timedelta(hours=-35), "35 h ago", "35 小时前"),
        (timedelta(days=2, hours=5), "in 2 d", "2 天后"),
        (timedelta(days=-10), "10 d ago", "10 天前"),
    ],
)
def test_relative_times(delta: timedelta, english: str, chinese: str) -> None:
    assert relative_time(NOW + delta, NOW, EN) == english
    assert relative_time(NOW + delta, NOW, ZH) == chinese


def test_relative_time_of_nothing_is_a_dash() -> None:
    assert relative_time(None, NOW, EN) == "—"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "—"),
        (0.0, "0 ms"),
        (0.4236, "424 ms"),
        (4.2, "4.20 s"),
        (12.34, "12.3 s"),
        (245, "4 m 05 s"),
        (7380, "2 h 03 m"),
        (-1, "0 ms"),
    ],
)
def test_durations_never_crash_on_a_missing_value(seconds: float | None, shown: str) -> None:
    assert format_duration(seconds) == shown


def test_running_time_is_measured_from_the_start() -> None:
    started = NOW - timedelta(minutes=12, seconds=4)
    assert format_elapsed(started, NOW) == "12:04"
    assert format_elapsed(NOW - timedelta(hours=1, minutes=2, seconds=9), NOW) == "1:02:09"
    assert format_elapsed(NOW + timedelta(seconds=3), NOW) == "0:00"


def test_percentages() -> None:
    assert format_percent(None) == "—"
    assert format_percent(100.0) == "100 %"
    assert format_percent(97.54) == "97.5 %"
