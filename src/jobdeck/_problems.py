"""A file's problems, collected so that all of them are reported together (the jobs file, the metadata file)."""

from __future__ import annotations

from datetime import date, datetime, time

from jobdeck._settings import ConfigErrors
from jobdeck.errors import ConfigError

__all__ = ["Problems", "type_name"]


class Problems:
    """Collects every problem of one file, so all of them are reported together."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[ConfigError] = []

    def add(self, reason: str, *, job_id: str | None = None, field: str | None = None) -> None:
        self.errors.append(ConfigError(reason, file=self.file, job_id=job_id, field=field))

    def raise_any(self) -> None:
        if self.errors:
            raise ConfigErrors(self.errors, file=self.file)


def type_name(value: object) -> str:
    for kind, name in (
        (bool, "boolean"),
        (int, "integer"),
        (float, "float"),
        (str, "string"),
        (list, "array"),
        (dict, "table"),
        (datetime, "datetime"),
        (date, "date"),
        (time, "time"),
    ):
        if isinstance(value, kind):
            return name
    return type(value).__name__
