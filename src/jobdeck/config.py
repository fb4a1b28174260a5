"""Configuration: :class:`Settings` (``JOBDECK_*`` environment, ``.env``) and the jobs file loader (TOML); the
metadata file loader is :mod:`jobdeck.metadata_file`. Each ``[[jobs]]`` table is checked and built by the job-spec
model of :mod:`jobdeck.jobspec`, the one the ``@deck.job`` decorator uses too; this module adds the file's own rules
(its top-level keys, the ``[scheduler]`` table, one id per job).

Every problem is a :class:`~jobdeck.errors.ConfigError` naming where it is: the environment variable, or the file,
the job id and the field. A file's problems are all collected and raised together as one :class:`ConfigErrors`
(one problem per line), so ``jobdeck check`` shows everything at once.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from jobdeck._problems import Problems as _Problems
from jobdeck._problems import type_name as _type_name
from jobdeck._settings import ConfigErrors, Settings, detect_local_timezone, did_you_mean, setting_problems
from jobdeck.callables import resolve_callable
from jobdeck.jobspec import JOB_ID, JobDefaults, job_spec
from jobdeck.models import JobSpec
from jobdeck.schedules import parse_duration

__all__ = [
    "ConfigErrors",
    "JobsFile",
    "Settings",
    "detect_local_timezone",
    "load_jobs_file",
    "resolve_callable",
]

# --- jobs file -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobsFile:
    """A loaded jobs file: its ``[scheduler]`` table (apply with :meth:`Settings.with_overrides`) and the enabled
    jobs, in file order."""

    path: Path
    scheduler: Mapping[str, Any]
    jobs: tuple[JobSpec, ...]


def load_jobs_file(path: str | Path, *, default_timezone: str, default_misfire_grace: float = 60.0) -> JobsFile:
    """Load and check a jobs file (TOML, see DESIGN.md §2); jobs with ``enabled = false`` are left out.

    Jobs run in their own ``timezone``, else ``[scheduler].timezone``, else ``default_timezone``; their
    ``misfire_grace`` defaults to ``[scheduler].misfire_grace``, else ``default_misfire_grace``. Each ``func`` is
    imported with the file's folder and the working directory on ``sys.path``.

    :raises ConfigErrors: every problem of the file, one per line, each naming the file, the job and the field
    """
    path = Path(path)
    problems = _Problems(str(path))
    data = _read_toml(path, problems)
    problems.raise_any()
    for key in data:
        if key not in ("scheduler", "jobs"):
            problems.add(f"unknown top-level key {key!r}{did_you_mean(key, ('scheduler', 'jobs'))}", field=key)
    scheduler = data.get("scheduler", {})
    if not isinstance(scheduler, dict):
        problems.add(f"expected a table [scheduler], got {_type_name(scheduler)}", field="scheduler")
        scheduler = {}
    _, scheduler_problems = setting_problems(scheduler)
    for key, reason in scheduler_problems:
        problems.add(reason, field=f"scheduler.{key}")
    # A bad [scheduler] value is reported once, above; the jobs fall back to the caller's defaults.
    bad = {key for key, _ in scheduler_problems}
    timezone = str(scheduler["timezone"]) if "timezone" in scheduler and "timezone" not in bad else default_timezone
    misfire_grace = default_misfire_grace
    if "misfire_grace" in scheduler and "misfire_grace" not in bad:
        misfire_grace = parse_duration(scheduler["misfire_grace"], field="scheduler.misfire_grace")
    jobs = data.get("jobs", [])
    if not isinstance(jobs, list):
        problems.add(f"expected an array of tables [[jobs]], got {_type_name(jobs)}", field="jobs")
        jobs = []
    search_paths = tuple(dict.fromkeys([path.parent.resolve(), Path.cwd()]))
    defaults = JobDefaults(
        timezone=timezone, misfire_grace=misfire_grace, search_paths=search_paths, base=search_paths[0]
    )
    seen: dict[str, int] = {}
    specs: list[JobSpec] = []
    for number, table in enumerate(jobs, start=1):
        if not isinstance(table, dict):
            problems.add(f"job #{number}: expected a table [[jobs]], got {_type_name(table)}", field="jobs")
            continue
        raw_id = table.get("id")
        job_id = raw_id if isinstance(raw_id, str) and raw_id else f"#{number}"
        if JOB_ID.fullmatch(job_id):  # one id per file: the rule across jobs, the model checks each job alone
            if job_id in seen:
                problems.add(f"duplicate id {job_id!r}: job #{seen[job_id]} already uses it", job_id=job_id, field="id")
            seen.setdefault(job_id, number)
        try:
            spec = job_spec(table, defaults=defaults, label=job_id)
        except ConfigErrors as exc:
            for error in exc.errors:
                problems.add(error.reason, job_id=job_id, field=error.field)
            continue
        if spec.enabled:
            specs.append(spec)
    problems.raise_any()
    return JobsFile(path=path, scheduler=MappingProxyType(dict(scheduler)), jobs=tuple(specs))


def _read_toml(path: Path, problems: _Problems) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.add("file not found")
    except UnicodeDecodeError as exc:
        problems.add(f"not UTF-8 text ({exc.reason} at byte {exc.start})")
    except OSError as exc:
        problems.add(f"cannot read the file: {exc.strerror or exc}")
    except tomllib.TOMLDecodeError as exc:
        problems.add(f"invalid TOML: {exc}")  # tomllib's message ends with "(at line L, column C)"
    return {}
