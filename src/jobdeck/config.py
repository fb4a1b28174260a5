"""Configuration: :class:`Settings` (``JOBDECK_*`` environment, ``.env``) and the jobs file loader (TOML); the
metadata file loader is :mod:`jobdeck.metadata_file`.

Every problem is a :class:`~jobdeck.errors.ConfigError` naming where it is: the environment variable, or the file,
the job id and the field. A file's problems are all collected and raised together as one :class:`ConfigErrors`
(one problem per line), so ``jobdeck check`` shows everything at once.
"""

from __future__ import annotations

import importlib
import re
import shlex
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

from jobdeck._problems import Problems as _Problems
from jobdeck._problems import type_name as _type_name
from jobdeck._settings import ConfigErrors, Settings, detect_local_timezone, did_you_mean, setting_problems
from jobdeck.errors import ConfigError, InvalidSchedule
from jobdeck.models import CommandTarget, HttpTarget, JobKind, JobSpec, OverlapPolicy
from jobdeck.schedules import load_timezone, parse_duration, parse_schedule

__all__ = [
    "ConfigErrors",
    "JobsFile",
    "Settings",
    "detect_local_timezone",
    "load_jobs_file",
    "resolve_callable",
]

JOB_ID = re.compile(r"[a-z0-9_.-]{1,64}")
"""What a job id may look like."""

# --- callables -----------------------------------------------------------------------------------------------------


def _split_ref(ref: str) -> tuple[str, list[str]]:
    module, colon, attribute = ref.strip().partition(":")
    parts = attribute.split(".")
    if not colon or not all(part.isidentifier() for part in [*module.split("."), *parts]):
        raise ConfigError(f"expected 'module:function', got {ref!r}", field="func")
    return module, parts


def resolve_callable(ref: str, *, search_paths: Sequence[Path] = ()) -> Callable[..., Any]:
    """Import ``"package.module:function"`` (the part after the colon may be dotted: ``module:Class.method``).

    ``search_paths`` go to the front of ``sys.path`` and stay there, since a job may import more at run time.

    :raises ConfigError: (field ``func``) a malformed reference, a module that cannot be imported (with the
        underlying error), a missing attribute, or something that is not callable
    """
    module_name, parts = _split_ref(ref)
    for folder in reversed(search_paths):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    if module_name not in sys.modules:
        importlib.invalidate_caches()  # the file may be newer than the import system's directory caches
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(f"{exc.name}.")):
            where = ", ".join(str(folder) for folder in search_paths)
            raise ConfigError(
                f"cannot import {module_name!r}: no module named {exc.name!r}"
                + (f" (searched {where} and sys.path)" if where else ""),
                field="func",
            ) from None
        raise ConfigError(f"importing {module_name!r} failed: ModuleNotFoundError: {exc}", field="func") from exc
    except (Exception, SystemExit) as exc:  # the module's own code failed: say how
        raise ConfigError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}", field="func") from exc
    for index, part in enumerate(parts):
        try:
            target = getattr(target, part)
        except AttributeError:
            missing = ".".join(parts[: index + 1])
            raise ConfigError(f"module {module_name!r} has no attribute {missing!r}", field="func") from None
    if not callable(target):
        raise ConfigError(f"{ref!r} is not callable (it is {type(target).__name__} {target!r:.60})", field="func")
    return cast(Callable[..., Any], target)


# --- jobs file -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobsFile:
    """A loaded jobs file: its ``[scheduler]`` table (apply with :meth:`Settings.with_overrides`) and the enabled
    jobs, in file order."""

    path: Path
    scheduler: Mapping[str, Any]
    jobs: tuple[JobSpec, ...]


_JOB_KEYS = (
    "id",
    "func",
    "command",
    "http",
    "schedule",
    "timezone",
    "kwargs",
    "display_name",
    "description",
    "tags",
    "enabled",
    "paused",
    "max_instances",
    "coalesce",
    "misfire_grace",
    "timeout",
    "retries",
    "retry_backoff",
    "retry_backoff_max",
    "jitter",
    "overlap",
    "shell",
    "cwd",
    "env",
)
_KINDS = ("func", "command", "http")
_COMMAND_KEYS = ("shell", "cwd", "env")
_HTTP_KEYS = ("url", "method", "headers", "json", "body", "expect_status", "timeout")
_HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


class _Table:
    """Typed reads of one TOML table; a wrong type is recorded as a problem and read as absent."""

    def __init__(self, table: Mapping[str, Any], problems: _Problems, job_id: str | None) -> None:
        self.table, self.problems, self.job_id = table, problems, job_id

    def fail(self, field: str, reason: str) -> None:
        self.problems.add(reason, job_id=self.job_id, field=field)

    def get(self, key: str, kind: type | tuple[type, ...], what: str) -> Any:
        value = self.table.get(key)
        if value is None:
            return None
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            self.fail(key, f"expected {what}, got {_type_name(value)} {value!r}")
            return None
        return value

    def text(self, key: str) -> str | None:
        return cast("str | None", self.get(key, str, "a string"))

    def flag(self, key: str, default: bool) -> bool:
        value = self.get(key, bool, "true or false")
        return default if value is None else bool(value)

    def integer(self, key: str, default: int, minimum: int) -> int:
        value = self.get(key, int, f"an integer ≥ {minimum}")
        if value is not None and value < minimum:
            self.fail(key, f"must be at least {minimum}, got {value}")
        return default if value is None else int(value)

    def duration(self, key: str, default: float) -> float:
        seconds = self.optional_duration(key)
        return default if seconds is None else seconds

    def optional_duration(self, key: str, *, positive: bool = False) -> float | None:
        value = self.get(key, (int, float, str), "a duration (seconds, or a string like '90s', '5m')")
        if value is None:
            return None
        try:
            seconds = parse_duration(value, field=key)
        except ValueError as exc:
            self.fail(key, str(exc).removeprefix(f"{key}: "))
            return None
        if positive and seconds <= 0:
            self.fail(key, f"must be greater than zero, got {value!r}")
        return seconds


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
    search_paths = list(dict.fromkeys([path.parent.resolve(), Path.cwd()]))
    seen: dict[str, int] = {}
    specs: list[JobSpec] = []
    for number, table in enumerate(jobs, start=1):
        if not isinstance(table, dict):
            problems.add(f"job #{number}: expected a table [[jobs]], got {_type_name(table)}", field="jobs")
            continue
        spec = _load_job(
            table, number, problems, seen, timezone=timezone, misfire_grace=misfire_grace, search_paths=search_paths
        )
        if spec is not None and spec.enabled:
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


def _load_job(
    table: Mapping[str, Any],
    number: int,
    problems: _Problems,
    seen: dict[str, int],
    *,
    timezone: str,
    misfire_grace: float,
    search_paths: Sequence[Path],
) -> JobSpec | None:
    """One ``[[jobs]]`` table → JobSpec; None (with the problems recorded) when anything is wrong."""
    before = len(problems.errors)
    raw_id = table.get("id")
    job_id = raw_id if isinstance(raw_id, str) and raw_id else f"#{number}"
    job = _Table(table, problems, job_id)
    for key in table:
        if key not in _JOB_KEYS:
            job.fail(key, f"unknown key {key!r}{did_you_mean(key, _JOB_KEYS)}")
    if "id" not in table:
        job.fail("id", "missing required key 'id'")
    elif job.text("id") is not None:
        if not JOB_ID.fullmatch(job_id):
            job.fail("id", f"invalid id {job_id!r}: use 1-64 characters from a-z, 0-9, '_', '.', '-'")
        elif job_id in seen:
            job.fail("id", f"duplicate id {job_id!r}: job #{seen[job_id]} already uses it")
        else:
            seen[job_id] = number

    enabled = job.flag("enabled", True)
    kinds = [kind for kind in _KINDS if kind in table]
    command: CommandTarget | None = None
    http: HttpTarget | None = None
    if kinds[:1] != ["command"]:
        for key in _COMMAND_KEYS:
            if key in table:
                job.fail(key, f"{key!r} belongs to command jobs (command = [...]) only")
    function: Callable[..., Any] | None = None
    ref = job.text("func")
    if not kinds:
        job.fail("func", "missing 'func' (the job's function, as 'module:function')")
    elif len(kinds) > 1:
        job.fail(kinds[1], f"give only one of 'func', 'command', 'http'; found {', '.join(kinds)}")
    elif kinds[0] == "command":
        command = _command_target(job, base=search_paths[0] if search_paths else Path.cwd())
    elif kinds[0] == "http":
        http = _http_target(job)
    elif ref is not None:
        try:
            if enabled:
                function = resolve_callable(ref, search_paths=search_paths)
            else:
                _split_ref(ref)  # a disabled job is never registered, so its module need not import
        except ConfigError as exc:
            job.fail("func", exc.reason)

    zone = job.text("timezone") or timezone
    try:
        load_timezone(zone)
    except ValueError as exc:
        job.fail("timezone", str(exc))
        zone = "UTC"  # still check the schedule itself
    expression = job.text("schedule")
    schedule = None
    if "schedule" not in table:
        job.fail("schedule", "missing required key 'schedule' (cron, 'HH:MM', 'every 5m', '@daily' or ISO datetime)")
    elif expression is not None:
        try:
            schedule = parse_schedule(expression, timezone=zone)
        except InvalidSchedule as exc:
            job.fail("schedule", f"invalid schedule {expression!r}: {exc.reason}")

    kwargs = job.get("kwargs", dict, "a table of keyword arguments")
    tags = job.get("tags", list, "an array of strings")
    if tags is not None and not all(isinstance(tag, str) for tag in tags):
        job.fail("tags", f"expected an array of strings, got {tags!r}")
    # Read every remaining field before deciding, so each of their problems is recorded too.
    display_name, description = job.text("display_name"), job.text("description")
    paused, coalesce = job.flag("paused", False), job.flag("coalesce", True)
    max_instances, retries = job.integer("max_instances", 1, 1), job.integer("retries", 0, 0)
    job_misfire_grace, retry_backoff = job.duration("misfire_grace", misfire_grace), job.duration("retry_backoff", 30.0)
    timeout, jitter = job.optional_duration("timeout", positive=True), job.optional_duration("jitter")
    retry_backoff_max = job.duration("retry_backoff_max", 3600.0)
    overlap = _overlap(job, max_instances)
    kind = JobKind.COMMAND if command is not None else JobKind.HTTP if http is not None else JobKind.PYTHON
    if len(problems.errors) > before or schedule is None or (kind is JobKind.PYTHON and ref is None):
        return None
    return JobSpec(
        id=job_id,
        func=ref or "",
        schedule=schedule,
        function=function,
        kind=kind,
        command=command,
        http=http,
        overlap=overlap,
        retry_backoff_max=retry_backoff_max,
        timezone=zone,
        kwargs=dict(kwargs or {}),
        display_name=display_name,
        description=description,
        tags=tuple(tags or ()),
        enabled=enabled,
        paused=paused,
        max_instances=max_instances,
        coalesce=coalesce,
        misfire_grace=job_misfire_grace,
        timeout=timeout,
        retries=retries,
        retry_backoff=retry_backoff,
        jitter=jitter,
    )


def _overlap(job: _Table, max_instances: int) -> OverlapPolicy | None:
    value = job.text("overlap")
    if value is None:
        return None
    choices = [policy.value for policy in OverlapPolicy]
    if value not in choices:
        job.fail("overlap", f"expected one of {', '.join(choices)}, got {value!r}{did_you_mean(value, choices)}")
        return None
    policy = OverlapPolicy(value)
    if policy is not OverlapPolicy.ALLOW and max_instances > 1:
        job.fail(
            "max_instances",
            f"max_instances = {max_instances} needs overlap = 'allow' (overlap = {value!r} runs one run at a time)",
        )
    return policy


def _command_target(job: _Table, *, base: Path) -> CommandTarget | None:
    """``command`` (argv array, or a string split like a shell would) with ``shell``, ``cwd``, ``env``."""
    raw = job.table.get("command")
    shell = job.flag("shell", False)
    argv: list[str] = []
    script: str | None = None
    if isinstance(raw, list) and raw and all(isinstance(part, str) for part in raw):
        argv = list(raw)
        script = shlex.join(argv) if shell else None
    elif isinstance(raw, str) and raw.strip():
        if shell:
            script = raw
        else:
            try:
                argv = shlex.split(raw)
            except ValueError as exc:
                job.fail("command", f"cannot split {raw!r} like a shell would: {exc}")
                return None
    else:
        job.fail("command", f"expected a non-empty array of strings or a command line, got {_type_name(raw)} {raw!r}")
        return None
    cwd = job.text("cwd")
    if cwd is not None:
        folder = (base / cwd).resolve()
        if not folder.is_dir():
            job.fail("cwd", f"no such directory: {folder}")
        cwd = str(folder)
    env = job.get("env", dict, "a table of environment variables")
    if env is not None and not all(isinstance(value, str) for value in env.values()):
        job.fail("env", "every environment value must be a string")
        env = None
    return CommandTarget(argv=tuple(argv), shell=shell, script=script, cwd=cwd, env=dict(env or {}))


def _http_target(job: _Table) -> HttpTarget | None:
    """``http = { url, method, headers, json | body, expect_status, timeout }``."""
    raw = job.table.get("http")
    if not isinstance(raw, dict):
        job.fail("http", f"expected a table like {{ url = 'https://…' }}, got {_type_name(raw)} {raw!r}")
        return None
    before = len(job.problems.errors)

    def fail(key: str, reason: str) -> None:
        job.fail(f"http.{key}", reason)

    for key in raw:
        if key not in _HTTP_KEYS:
            fail(key, f"unknown key {key!r}{did_you_mean(key, _HTTP_KEYS)}")
    url = raw.get("url")
    if not isinstance(url, str) or not re.match(r"https?://[^\s/]+", url):
        fail("url", f"expected an http:// or https:// URL, got {url!r}")
    method = str(raw.get("method", "GET")).upper()
    if method not in _HTTP_METHODS:
        fail("method", f"expected one of {', '.join(_HTTP_METHODS)}, got {raw.get('method')!r}")
    headers = raw.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        fail("headers", "expected a table of strings")
        headers = {}
    body = raw.get("body")
    if body is not None and not isinstance(body, str):
        fail("body", f"expected a string, got {_type_name(body)}")
    if body is not None and "json" in raw:
        fail("body", "give 'json' or 'body', not both")
    expect = raw.get("expect_status", [])
    expect = [expect] if isinstance(expect, int) and not isinstance(expect, bool) else expect
    if not isinstance(expect, list) or not all(
        isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599 for code in expect
    ):
        fail("expect_status", f"expected a status code or an array of them (100-599), got {raw.get('expect_status')!r}")
        expect = []
    timeout = 30.0
    if "timeout" in raw:
        try:
            timeout = parse_duration(raw["timeout"], field="timeout")
            if timeout <= 0:
                fail("timeout", f"must be greater than zero, got {raw['timeout']!r}")
        except (ValueError, TypeError) as exc:
            fail("timeout", str(exc).removeprefix("timeout: "))
    if len(job.problems.errors) > before:
        return None
    return HttpTarget(
        url=str(url),
        method=method,
        headers=dict(headers),
        json=raw.get("json"),
        body=body,
        expect_status=tuple(expect),
        timeout=timeout,
    )


# --- metadata file -------------------------------------------------------------------------------------------------
