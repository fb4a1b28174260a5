"""The metadata file loader (``jobdeck metadata import``): display names and descriptions of jobs, from JSON or TOML,
every problem reported together."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from jobdeck._problems import Problems as _Problems
from jobdeck._problems import type_name as _type_name
from jobdeck._settings import did_you_mean
from jobdeck.jobspec import JOB_ID

__all__ = ["load_metadata_file"]


_METADATA_KEYS = ("job_id", "id", "display_name", "description", "updated_at", "updated_by")


def load_metadata_file(path: str | Path) -> list[tuple[str, str | None, str | None]]:
    """``(job_id, display_name, description)`` rows from a JSON or TOML file, for ``jobdeck metadata import``.

    Accepted shapes: ``{"jobs": [{"job_id" | "id", "display_name", "description"}, …]}``, a JSON list of such
    objects, or a mapping ``job_id → {display_name, description}`` (or ``job_id → "display name"``). A null or
    absent field is None (leave as is); an empty string clears the field. ``updated_at``/``updated_by`` (as in an
    export) are ignored.

    :raises ConfigErrors: every problem, naming the file, the job and the field
    """
    path = Path(path)
    problems = _Problems(str(path))
    data: Any = None
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".json" or (path.suffix.lower() != ".toml" and text.lstrip()[:1] in ("[", "{")):
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except FileNotFoundError:
        problems.add("file not found")
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(f"cannot read the file: {exc}")
    except json.JSONDecodeError as exc:
        problems.add(f"invalid JSON: {exc.msg} (at line {exc.lineno}, column {exc.colno})")
    except tomllib.TOMLDecodeError as exc:
        problems.add(f"invalid TOML: {exc}")
    problems.raise_any()

    entries: list[tuple[str | None, Any]]  # (job id from a mapping key, entry)
    if isinstance(data, dict) and isinstance(data.get("jobs"), list):
        for key in data:
            if key != "jobs":
                problems.add(f"unknown top-level key {key!r} beside 'jobs'", field=str(key))
        entries = [(None, entry) for entry in data["jobs"]]
    elif isinstance(data, list):
        entries = [(None, entry) for entry in data]
    elif isinstance(data, dict):
        entries = [
            (str(key), {"display_name": value} if isinstance(value, str) else value) for key, value in data.items()
        ]
    else:
        problems.add('expected {"jobs": [...]}, a list of jobs, or a mapping of job id to metadata')
        entries = []

    rows: list[tuple[str, str | None, str | None]] = []
    seen: set[str] = set()
    for number, (key, entry) in enumerate(entries, start=1):
        row = _metadata_row(key, entry, number, problems, seen)
        if row is not None:
            rows.append(row)
    problems.raise_any()
    return rows


def _metadata_row(
    key: str | None, entry: Any, number: int, problems: _Problems, seen: set[str]
) -> tuple[str, str | None, str | None] | None:
    label = key or f"#{number}"
    if not isinstance(entry, dict):
        problems.add(f"expected an object with display_name / description, got {_type_name(entry)}", job_id=label)
        return None
    before = len(problems.errors)
    ids: dict[str, str] = {"key": key} if key is not None else {}
    for field in ("job_id", "id"):
        value = entry.get(field)
        if value is not None and not isinstance(value, str):
            problems.add(f"expected a string, got {_type_name(value)} {value!r}", job_id=label, field=field)
        elif value is not None:
            ids[field] = value
    job_id = next(iter(ids.values()), None)
    if job_id is None:
        if len(problems.errors) == before:
            problems.add("missing 'job_id'", job_id=label, field="job_id")
    elif len(set(ids.values())) > 1:
        problems.add(
            f"conflicting job ids: {', '.join(f'{k} {v!r}' for k, v in ids.items())}", job_id=label, field="job_id"
        )
    elif not JOB_ID.fullmatch(job_id):
        problems.add(
            f"invalid job id {job_id!r}: use 1-64 characters from a-z, 0-9, '_', '.', '-'", job_id=label, field="job_id"
        )
    else:
        label = job_id
        if job_id in seen:
            problems.add(f"duplicate job id {job_id!r}", job_id=label, field="job_id")
        seen.add(job_id)
    for field in entry:
        if field not in _METADATA_KEYS:
            problems.add(
                f"unknown key {field!r}{did_you_mean(str(field), _METADATA_KEYS)}", job_id=label, field=str(field)
            )
    for field in ("display_name", "description"):
        if entry.get(field) is not None and not isinstance(entry[field], str):
            problems.add(f"expected a string or null, got {_type_name(entry[field])}", job_id=label, field=field)
    if len(problems.errors) > before or job_id is None:
        return None
    return job_id, entry.get("display_name"), entry.get("description")
