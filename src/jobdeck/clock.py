"""The one place the wall clock is read. Engine and service take a :class:`Clock`; tests pass a frozen one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "SystemClock", "ensure_utc"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def ensure_utc(value: datetime) -> datetime:
    """``value`` converted to UTC.

    :raises ValueError: ``value`` is naive (no offset) — jobdeck never guesses a timezone
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no timezone offset")
    return value.astimezone(UTC)
