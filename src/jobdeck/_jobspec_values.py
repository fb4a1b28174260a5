"""Checks of a job's values, each in jobdeck's words (see :mod:`jobdeck.jobspec`): the plain value types, durations,
and the ``http`` table of an http job.

Every check is a pydantic validator; ``None`` means "not given" on every path (TOML has no null, and the decorator's
options default to None), so each returns the field's default for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, cast

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationInfo
from pydantic_core import PydanticCustomError

from jobdeck._problems import type_name
from jobdeck.models import HttpTarget
from jobdeck.schedules import parse_duration

__all__ = [
    "HTTP_KEYS",
    "HttpDefinition",
    "duration",
    "fail",
    "flag",
    "http_table",
    "integer",
    "optional_duration",
    "seconds",
    "text",
    "typed",
]

HTTP_KEYS = ("url", "method", "headers", "json", "body", "expect_status", "timeout")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
DURATION_HINT = "a duration (seconds, or a string like '90s', '5m')"


def fail(reason: str) -> PydanticCustomError:
    """The error of one problem: type ``jobdeck``, message ``reason``."""
    # The reason goes in as context: a brace in it must not be read as a template field.
    return PydanticCustomError("jobdeck", "{reason}", {"reason": reason})


def typed(value: Any, kinds: tuple[type, ...], what: str) -> Any:
    """``value`` if it is one of ``kinds`` (a bool is no int here), else ``expected {what}, got …``."""
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise fail(f"expected {what}, got {type_name(value)} {value!r}")
    return value


def text(value: Any) -> str | None:
    """A string, or None."""
    return None if value is None else cast(str, typed(value, (str,), "a string"))


def flag(default: bool) -> PlainValidator:
    """true or false; ``default`` when not given."""
    return PlainValidator(lambda value: default if value is None else bool(typed(value, (bool,), "true or false")))


def integer(default: int, minimum: int) -> Callable[[Any], int]:
    """An integer of at least ``minimum``; ``default`` when not given."""

    def check(value: Any) -> int:
        if value is None:
            return default
        number = int(typed(value, (int,), f"an integer ≥ {minimum}"))
        if number < minimum:
            raise fail(f"must be at least {minimum}, got {number}")
        return number

    return check


def seconds(value: Any, info: ValidationInfo) -> float:
    """A duration in seconds, as :func:`~jobdeck.schedules.parse_duration` reads it (``90``, ``"5m"``)."""
    field = info.field_name or "duration"
    try:
        return parse_duration(typed(value, (int, float, str), DURATION_HINT), field=field)
    except ValueError as exc:
        raise fail(str(exc).removeprefix(f"{field}: ")) from None


def duration(default: float) -> PlainValidator:
    """A duration in seconds; ``default`` when not given."""
    return PlainValidator(lambda value, info: default if value is None else seconds(value, info))


def optional_duration(*, positive: bool, default: float | None = None) -> PlainValidator:
    """A duration in seconds; ``default`` when not given; with ``positive`` zero is refused too."""

    def check(value: Any, info: ValidationInfo) -> float | None:
        if value is None:
            return default
        amount = seconds(value, info)
        if positive and amount <= 0:
            raise fail(f"must be greater than zero, got {value!r}")
        return amount

    return PlainValidator(check)


# --- http ----------------------------------------------------------------------------------------------------------


def http_table(value: Any) -> Any:
    """The ``http`` value must be a table (its keys are checked by :class:`HttpDefinition`)."""
    if value is not None and not isinstance(value, dict | Mapping):
        raise fail(f"expected a table like {{ url = 'https://…' }}, got {type_name(value)} {value!r}")
    return None if value is None else dict(value)


def _url(value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"https?://[^\s/]+", value):
        raise fail(f"expected an http:// or https:// URL, got {value!r}")
    return value


def _method(value: Any) -> str:
    method = "GET" if value is None else str(value).upper()
    if method not in HTTP_METHODS:
        raise fail(f"expected one of {', '.join(HTTP_METHODS)}, got {value!r}")
    return method


def _headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict | Mapping) or not all(isinstance(item, str) for item in value.values()):
        raise fail("expected a table of strings")
    return dict(value)


def _body(value: Any, info: ValidationInfo) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise fail(f"expected a string, got {type_name(value)}")
    if info.data.get("json_") is not None:
        raise fail("give 'json' or 'body', not both")
    return value


def _expect_status(value: Any) -> tuple[int, ...]:
    codes = [] if value is None else [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(codes, list | tuple) or not all(
        isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599 for code in codes
    ):
        raise fail(f"expected a status code or an array of them (100-599), got {value!r}")
    return tuple(codes)


class HttpDefinition(BaseModel):
    """``http = { url, method, headers, json | body, expect_status, timeout }`` of an http job."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    url: Annotated[str, PlainValidator(_url)] = Field(default=None, validate_default=True)
    method: Annotated[str, PlainValidator(_method)] = "GET"
    headers: Annotated[dict[str, str], PlainValidator(_headers)] = Field(default_factory=dict)
    json_: Any = Field(default=None, alias="json")
    body: Annotated[str | None, PlainValidator(_body)] = None
    expect_status: Annotated[tuple[int, ...], PlainValidator(_expect_status)] = ()
    timeout: Annotated[float, optional_duration(positive=True, default=30.0)] = 30.0

    def to_target(self) -> HttpTarget:
        """The engine's frozen value of this request."""
        return HttpTarget(
            url=self.url,
            method=self.method,
            headers=dict(self.headers),
            json=self.json_,
            body=self.body,
            expect_status=self.expect_status,
            timeout=self.timeout,
        )
