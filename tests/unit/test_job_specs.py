"""One job-spec model: every invalid spec is refused on every path (the model, the jobs file, ``jobdeck check``, the
``@deck.job`` decorator) under the same field with the same message; a valid spec gives equal JobSpecs on each."""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from jobdeck import JobDeck, Settings
from jobdeck.cli import app
from jobdeck.config import ConfigErrors, load_jobs_file
from jobdeck.errors import ConfigError
from jobdeck.jobspec import JobDefaults, JobDefinition, job_spec, problems_of
from jobdeck.models import JobSpec, OverlapPolicy

REMOVE = object()
"""A change that takes the key out of the base job."""

BASE: dict[str, Any] = {"id": "good", "func": "spec_jobs:run", "schedule": "@daily"}
"""A valid job; each case changes some of its keys (the decorator gives ``func`` as the decorated function)."""

Problems = list[tuple[str | None, str]]


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No JOBDECK_* variables but the timezone, the job module beside the jobs file, and forgotten afterwards."""
    for name in list(os.environ):
        if name.startswith("JOBDECK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("JOBDECK_TIMEZONE", "UTC")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    (tmp_path / "spec_jobs.py").write_text("def run() -> str:\n    return 'ran'\n", encoding="utf-8")
    yield
    sys.modules.pop("spec_jobs", None)


@pytest.fixture
def spec_jobs() -> ModuleType:
    return importlib.import_module("spec_jobs")


def changed(changes: Mapping[str, Any]) -> dict[str, Any]:
    table = {**BASE, **changes}
    return {key: value for key, value in table.items() if value is not REMOVE}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def write_jobs_file(folder: Path, table: Mapping[str, Any]) -> Path:
    path = folder / "jobs.toml"
    path.write_text("[[jobs]]\n" + "".join(f"{key} = {toml_value(v)}\n" for key, v in table.items()), encoding="utf-8")
    return path


def settings() -> Settings:
    return Settings(timezone="UTC")


def defaults() -> JobDefaults:
    return JobDefaults(timezone="UTC", misfire_grace=settings().misfire_grace)


# --- the four paths ------------------------------------------------------------------------------------------------


def via_model(table: Mapping[str, Any], function: Callable[..., Any]) -> Problems:
    try:
        JobDefinition.model_validate(table, context={"defaults": defaults()})
    except ValidationError as exc:
        return [(field, reason) for field, reason in problems_of(exc)]
    return []


def via_file(table: Mapping[str, Any], function: Callable[..., Any]) -> Problems:
    path = write_jobs_file(Path.cwd(), table)
    try:
        load_jobs_file(path, default_timezone="UTC", default_misfire_grace=settings().misfire_grace)
    except ConfigErrors as exc:
        return [(error.field if error.file == str(path) else "not this file", error.reason) for error in exc.errors]
    return []


def via_check(table: Mapping[str, Any], function: Callable[..., Any]) -> Problems:
    """``jobdeck check``: each problem is a line ``file: job 'id': field 'name': message``."""
    path = write_jobs_file(Path.cwd(), table)
    result = CliRunner().invoke(app, ["check", str(path)])
    if result.exit_code == 0:
        return []
    assert result.exit_code == 2, result.output
    problems: Problems = []
    for line in result.stderr.splitlines():
        _, found, rest = line.partition("field '")
        if found:
            field, _, reason = rest.partition("': ")
            problems.append((field, reason))
    assert problems, result.stderr
    return problems


def via_decorator(table: Mapping[str, Any], function: Callable[..., Any]) -> Problems:
    options = {key: value for key, value in table.items() if key not in ("id", "func", "schedule")}
    deck = JobDeck(settings())
    try:
        deck.job(table.get("id"), schedule=table.get("schedule"), **options)(function)  # type: ignore[arg-type]
    except ConfigErrors as exc:
        return [(error.field, error.reason) for error in exc.errors]
    return []


PATHS = {"model": via_model, "file": via_file, "check": via_check, "decorator": via_decorator}
FILE_ONLY = ("model", "file", "check")
"""For what only a table can get wrong: the decorated function always is the job's function."""

INVALID: list[tuple[str, dict[str, Any], str, str, tuple[str, ...]]] = [
    # (case, changes to BASE, field, message, paths)
    ("bad id", {"id": "BAD ID!"}, "id", "invalid id 'BAD ID!': use 1-64 characters from a-z, 0-9, '_', '.', '-'", ()),
    ("empty id", {"id": ""}, "id", "invalid id '': use 1-64 characters from a-z, 0-9, '_', '.', '-'", ()),
    ("too long id", {"id": "x" * 65}, "id", f"invalid id {'x' * 65!r}: use 1-64 characters", ()),
    ("id not text", {"id": 7}, "id", "expected a string, got integer 7", ()),
    ("negative retries", {"retries": -4}, "retries", "must be at least 0, got -4", ()),
    ("retries a flag", {"retries": True}, "retries", "expected an integer ≥ 0, got boolean True", ()),
    ("no instances", {"max_instances": 0}, "max_instances", "must be at least 1, got 0", ()),
    (
        "instances without overlap",
        {"max_instances": 3, "overlap": "skip"},
        "max_instances",
        "max_instances = 3 needs overlap = 'allow' (overlap = 'skip' runs one run at a time)",
        (),
    ),
    ("bad overlap", {"overlap": "skipp"}, "overlap", "expected one of skip, queue, allow, replace, got 'skipp'", ()),
    ("unknown key", {"schedul": "@daily"}, "schedul", "unknown key 'schedul' (did you mean 'schedule'?)", ()),
    ("bad schedule", {"schedule": "61 * * * *"}, "schedule", "invalid schedule '61 * * * *': minute value 61", ()),
    (
        "zero interval",
        {"schedule": "every 0s"},
        "schedule",
        "invalid schedule 'every 0s': interval must be greater than zero",
        (),
    ),
    ("schedule not text", {"schedule": 5}, "schedule", "expected a string, got integer 5", ()),
    ("no schedule", {"schedule": REMOVE}, "schedule", "missing required key 'schedule'", ()),
    ("bad timezone", {"timezone": "Mars/Olympus"}, "timezone", "unknown timezone 'Mars/Olympus'", ()),
    ("negative timeout", {"timeout": -5}, "timeout", "duration must not be negative, got -5", ()),
    ("zero timeout", {"timeout": "0s"}, "timeout", "must be greater than zero, got '0s'", ()),
    ("negative backoff", {"retry_backoff": "-5s"}, "retry_backoff", "duration must not be negative, got '-5s'", ()),
    ("bad duration", {"misfire_grace": "soon"}, "misfire_grace", "invalid duration 'soon'", ()),
    ("duration a flag", {"jitter": True}, "jitter", "expected a duration (seconds, or a string like '90s', '5m')", ()),
    ("bad backoff cap", {"retry_backoff_max": "1 fortnight"}, "retry_backoff_max", "unknown duration unit", ()),
    (
        "two kinds",
        {"command": ["true"]},
        "command",
        "give only one of 'func', 'command', 'http'; found func, command",
        (),
    ),
    ("no kind", {"func": REMOVE}, "func", "missing 'func' (the job's function, as 'module:function')", FILE_ONLY),
    ("bad func", {"func": "spec_jobs.run"}, "func", "expected 'module:function', got 'spec_jobs.run'", FILE_ONLY),
    ("func missing", {"func": "spec_jobs:nope"}, "func", "module 'spec_jobs' has no attribute 'nope'", FILE_ONLY),
    (
        "bad url",
        {"func": REMOVE, "http": {"url": "ftp://example.com"}},
        "http.url",
        "expected an http:// or https:// URL, got 'ftp://example.com'",
        FILE_ONLY,
    ),
    (
        "unknown http key",
        {"func": REMOVE, "http": {"url": "https://example.com", "verb": "GET"}},
        "http.verb",
        "unknown key 'verb'",
        FILE_ONLY,
    ),
    ("http not a table", {"func": REMOVE, "http": "https://example.com"}, "http", "expected a table like", FILE_ONLY),
    (
        "empty command",
        {"func": REMOVE, "command": []},
        "command",
        "expected a non-empty array of strings or a command line, got array []",
        FILE_ONLY,
    ),
    ("missing cwd", {"func": REMOVE, "command": ["true"], "cwd": "nowhere"}, "cwd", "no such directory: ", FILE_ONLY),
    ("bad kwargs", {"kwargs": "batch=1"}, "kwargs", "expected a table of keyword arguments, got string", ()),
    ("tags not a list", {"tags": "fast"}, "tags", "expected an array of strings, got string 'fast'", ()),
    ("bad tags", {"tags": ["a", 1]}, "tags", "expected an array of strings, got ['a', 1]", ()),
    ("paused not a flag", {"paused": "yes"}, "paused", "expected true or false, got string 'yes'", ()),
    ("name not text", {"display_name": 3}, "display_name", "expected a string, got integer 3", ()),
    ("shell on a func job", {"shell": True}, "shell", "'shell' belongs to command jobs (command = [...]) only", ()),
]


@pytest.mark.parametrize(
    ("path", "changes", "field", "message"),
    [
        pytest.param(path, *case[1:4], id=f"{case[0]}-{path}")
        for case in INVALID
        for path in PATHS
        if not case[4] or path in case[4]
    ],
)
def test_an_invalid_spec_is_refused_alike_on_every_path(
    path: str, changes: dict[str, Any], field: str, message: str, spec_jobs: ModuleType
) -> None:
    problems = PATHS[path](changed(changes), spec_jobs.run)
    assert len(problems) == 1, problems
    ((got_field, got_message),) = problems
    assert got_field == field
    assert got_message.startswith(message)


@pytest.mark.parametrize(("changes", "field", "message", "only"), [pytest.param(*c[1:], id=c[0]) for c in INVALID])
def test_every_path_words_a_mistake_identically(
    changes: dict[str, Any], field: str, message: str, only: tuple[str, ...], spec_jobs: ModuleType
) -> None:
    table = changed(changes)
    answers = {name: via(table, spec_jobs.run) for name, via in PATHS.items() if not only or name in only}
    assert len({tuple(problems) for problems in answers.values()}) == 1, answers


def test_all_problems_of_a_job_are_reported_together(spec_jobs: ModuleType) -> None:
    table = changed({"id": "BAD ID!", "retries": -4, "max_instances": 3, "overlap": "skip", "schedul": 1})
    expected = ["schedul", "id", "max_instances", "retries"]
    for name, via in PATHS.items():
        assert [field for field, _ in via(table, spec_jobs.run)] == expected, name


def test_the_decorator_names_the_job_in_its_error(spec_jobs: ModuleType) -> None:
    with pytest.raises(ConfigErrors) as caught:
        JobDeck(settings()).job("report", schedule="@daily", retries=-4)(spec_jobs.run)
    assert (caught.value.job_id, caught.value.field) == ("report", "retries")
    assert str(caught.value) == "job 'report': field 'retries': must be at least 0, got -4"


def test_the_decorator_refuses_options_it_gives_itself(spec_jobs: ModuleType) -> None:
    for key in ("id", "func"):
        with pytest.raises(ConfigError, match=f"'{key}' is given by the decorator") as caught:
            JobDeck(settings()).job("report", schedule="@daily", **{key: "x"})(spec_jobs.run)
        assert caught.value.field == key


def test_a_disabled_decorated_job_is_left_out_like_a_disabled_file_job(spec_jobs: ModuleType) -> None:
    deck = JobDeck(settings())
    assert deck.job("report", schedule="@daily", enabled=False)(spec_jobs.run) is spec_jobs.run
    assert deck.specs == ()


# --- valid specs: the same JobSpec from every path -----------------------------------------------------------------

VALID: list[tuple[str, dict[str, Any]]] = [
    ("minimal", {}),
    (
        "every option",
        {
            "display_name": "Report",
            "description": "Rows loaded today",
            "tags": ["daily", "db"],
            "kwargs": {"rows": 20, "force": True},
            "timezone": "Asia/Shanghai",
            "schedule": "*/5 9-15 * * 1-5",
            "paused": True,
            "max_instances": 3,
            "overlap": "allow",
            "coalesce": False,
            "misfire_grace": "2m",
            "timeout": 90,
            "retries": 2,
            "retry_backoff": "10s",
            "retry_backoff_max": "1h",
            "jitter": 1.5,
        },
    ),
    ("queued", {"overlap": "queue", "schedule": "every 90s", "retry_backoff": 0}),
    ("durations as numbers", {"misfire_grace": 15, "timeout": "250ms", "jitter": "1m30s"}),
]


def spec_via_model(table: Mapping[str, Any], function: Callable[..., Any]) -> JobSpec:
    return JobDefinition.model_validate(table, context={"defaults": defaults()}).to_spec()


def spec_via_job_spec(table: Mapping[str, Any], function: Callable[..., Any]) -> JobSpec:
    return job_spec(table, defaults=defaults())


def spec_via_file(table: Mapping[str, Any], function: Callable[..., Any]) -> JobSpec:
    path = write_jobs_file(Path.cwd(), table)
    (spec,) = load_jobs_file(path, default_timezone="UTC", default_misfire_grace=settings().misfire_grace).jobs
    return spec


def spec_via_decorator(table: Mapping[str, Any], function: Callable[..., Any]) -> JobSpec:
    options = {key: value for key, value in table.items() if key not in ("id", "func", "schedule")}
    deck = JobDeck(settings())
    deck.job(table["id"], schedule=table["schedule"], **options)(function)
    (spec,) = deck.specs
    return spec


@pytest.mark.parametrize("changes", [pytest.param(case[1], id=case[0]) for case in VALID])
def test_a_valid_spec_is_the_same_job_on_every_path(changes: dict[str, Any], spec_jobs: ModuleType) -> None:
    table = changed(changes)
    specs = {
        via.__name__: via(table, spec_jobs.run)
        for via in (spec_via_model, spec_via_job_spec, spec_via_file, spec_via_decorator)
    }
    first = specs["spec_via_model"]
    assert all(spec == first for spec in specs.values()), specs
    assert specs["spec_via_file"].function is spec_jobs.run
    assert specs["spec_via_decorator"].function is spec_jobs.run


def test_the_every_option_spec_reads_as_written(spec_jobs: ModuleType) -> None:
    spec = job_spec(changed(dict(VALID[1][1])), defaults=defaults())
    assert (spec.id, spec.func, spec.timezone, spec.schedule.timezone) == (
        "good",
        "spec_jobs:run",
        "Asia/Shanghai",
        "Asia/Shanghai",
    )
    assert (spec.tags, dict(spec.kwargs), spec.overlap) == (
        ("daily", "db"),
        {"rows": 20, "force": True},
        OverlapPolicy.ALLOW,
    )
    assert (spec.misfire_grace, spec.timeout, spec.retry_backoff, spec.retry_backoff_max, spec.jitter) == (
        120.0,
        90.0,
        10.0,
        3600.0,
        1.5,
    )
    assert (spec.paused, spec.max_instances, spec.coalesce, spec.retries) == (True, 3, False, 2)


TARGETS: list[tuple[str, dict[str, Any]]] = [
    ("command", {"func": REMOVE, "command": "echo 'hi there'", "env": {"GREETING": "hi"}, "cwd": "."}),
    ("shell command", {"func": REMOVE, "command": "echo $HOME | wc -c", "shell": True}),
    (
        "http",
        {
            "func": REMOVE,
            "http": {
                "url": "https://example.com/hook",
                "method": "post",
                "json": {"rows": 20},
                "expect_status": [200, 201],
                "timeout": "5s",
            },
        },
    ),
]


@pytest.mark.parametrize("changes", [pytest.param(case[1], id=case[0]) for case in TARGETS])
def test_command_and_http_jobs_are_the_same_from_the_model_and_the_file(
    changes: dict[str, Any], spec_jobs: ModuleType
) -> None:
    table = changed(changes)
    specs = [via(table, spec_jobs.run) for via in (spec_via_model, spec_via_job_spec, spec_via_file)]
    assert specs[0] == specs[1] == specs[2]
    assert specs[0].target in ("echo 'hi there'", "echo $HOME | wc -c", "POST https://example.com/hook")
