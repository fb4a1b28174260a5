"""How a run's outcome is written down: return values, errors, tracebacks, durations in messages."""

from __future__ import annotations

import json
import traceback
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MAX_RETURN_VALUE_BYTES",
    "describe_error",
    "format_duration",
    "format_seconds",
    "format_traceback",
    "merged_kwargs",
    "render_return_value",
]

MAX_RETURN_VALUE_BYTES = 4096
_TRUNCATED = "…[truncated]"
_MAX_TRACEBACK_CHARS = 64_000


def render_return_value(value: object) -> str | None:
    """A job's return value as stored: a string as it is (``str(result)``, as the original recorded it), other
    values as JSON text when JSON-serialisable, else ``repr()``; at most 4 KB of UTF-8 (longer text is cut and
    ends with ``…[truncated]``); None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        return _truncate(value, MAX_RETURN_VALUE_BYTES)
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        text = repr(value)
    return _truncate(text, MAX_RETURN_VALUE_BYTES)


def _truncate(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = limit - len(_TRUNCATED.encode("utf-8"))
    # errors="ignore" drops a multi-byte character cut in half at the boundary.
    return data[:room].decode("utf-8", errors="ignore") + _TRUNCATED


def describe_error(error: BaseException) -> str:
    """``"TypeName: message"`` (just the type name when the message is empty)."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def format_traceback(error: BaseException) -> str:
    text = "".join(traceback.format_exception(error))
    # Keep the end (where the error is) when a deep recursion makes the text huge.
    return text if len(text) <= _MAX_TRACEBACK_CHARS else "…\n" + text[-_MAX_TRACEBACK_CHARS:]


def format_seconds(value: float) -> str:
    """``60.0 → "60"``, ``0.25 → "0.25"``: durations in messages without a trailing ``.0``."""
    return f"{value:g}"


def merged_kwargs(configured: Mapping[str, Any], run: Mapping[str, Any] | None) -> dict[str, Any]:
    """The kwargs a run is called with: the job's configured ones, overlaid by the run's own."""
    return {**configured, **(run or {})}


def format_duration(seconds: float) -> str:
    """``7200 → "2h"``, ``90 → "1m30s"``, ``0.5 → "0.5s"``: a duration as people write it."""
    if seconds < 60:
        return f"{seconds:g}s"
    whole = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    return "".join(parts)
