"""Settings from the environment, the jobs file loader, and metadata files: values, and errors that say where."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from jobdeck.config import (
    ConfigErrors,
    JobsFile,
    Settings,
    detect_local_timezone,
    load_jobs_file,
    resolve_callable,
)
from jobdeck.errors import ConfigError
from jobdeck.metadata_file import load_metadata_file
from jobdeck.models import JobKind, ScheduleKind


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No JOBDECK_* variables, no .env from the repo, and job modules forgotten after each test."""
    for name in list(os.environ):
        if name.startswith("JOBDECK_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("TZ", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --- Settings ------------------------------------------------------------------------------------------------------


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    settings = Settings()
    assert settings.database_url == "sqlite+aiosqlite:///./jobdeck.db"
    assert settings.timezone == "Europe/Berlin"
    assert (settings.secret_key, settings.admin_password, settings.jobs_file) == (None, None, None)
    assert (settings.heartbeat_interval, settings.zombie_after, settings.cancel_grace) == (10.0, 60.0, 10.0)
    assert (settings.misfire_grace, settings.shutdown_grace, settings.token_ttl) == (60.0, 30.0, 43200.0)
    assert settings.retention_days == 90
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "DATABASE_URL": "postgresql+asyncpg://jd@db/jobdeck",
        "TIMEZONE": "Asia/Shanghai",
        "SECRET_KEY": "s3cret-s3cret-s3cret-s3cret-s3cret!",
        "ADMIN_PASSWORD": "hunter2",
        "HEARTBEAT_INTERVAL": "15",
        "ZOMBIE_AFTER": "2m",
        "CANCEL_GRACE": "2.5",
        "MISFIRE_GRACE": "90s",
        "SHUTDOWN_GRACE": "1m30s",
        "RETENTION_DAYS": "30",
        "TOKEN_TTL": "1d",
        "JOBS_FILE": "jobs.toml",
        "HOST": "0.0.0.0",
        "PORT": "9000",
    }.items():
        monkeypatch.setenv(f"JOBDECK_{name}", value)
    settings = Settings()
    assert settings.database_url == "postgresql+asyncpg://jd@db/jobdeck"
    assert settings.timezone == "Asia/Shanghai"
    assert (settings.secret_key, settings.admin_password) == ("s3cret-s3cret-s3cret-s3cret-s3cret!", "hunter2")
    assert (settings.heartbeat_interval, settings.zombie_after, settings.cancel_grace) == (15.0, 120.0, 2.5)
    assert (settings.misfire_grace, settings.shutdown_grace, settings.token_ttl) == (90.0, 90.0, 86400.0)
    assert settings.retention_days == 30
    assert settings.jobs_file == Path("jobs.toml")
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)


def test_settings_read_dotenv_and_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write(tmp_path, ".env", "JOBDECK_PORT=9100\nJOBDECK_ZOMBIE_AFTER=5m\nOTHER_APP_SETTING=1\n")
    monkeypatch.setenv("JOBDECK_ZOMBIE_AFTER", "3m")
    settings = Settings()
    assert (settings.port, settings.zombie_after) == (9100, 180.0)


def test_empty_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBDECK_SECRET_KEY", "")
    monkeypatch.setenv("JOBDECK_PORT", "")
    settings = Settings()
    assert (settings.secret_key, settings.port) == (None, 8000)


def test_keyword_arguments_accept_duration_strings() -> None:
    settings = Settings(heartbeat_interval="5s", zombie_after=30, timezone="UTC")
    assert (settings.heartbeat_interval, settings.zombie_after) == (5.0, 30.0)


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("JOBDECK_ZOMBIE_AFTER", "soon", "invalid duration 'soon'"),
        ("JOBDECK_ZOMBIE_AFTER", "5x", "unknown duration unit 'x'"),
        ("JOBDECK_CANCEL_GRACE", "-1s", "must not be negative"),
        ("JOBDECK_HEARTBEAT_INTERVAL", "0", "must be greater than zero"),
        ("JOBDECK_TOKEN_TTL", "0s", "must be greater than zero"),
        ("JOBDECK_PORT", "http", "valid integer"),
        ("JOBDECK_PORT", "70000", "less than or equal to 65535"),
        ("JOBDECK_RETENTION_DAYS", "0", "greater than or equal to 1"),
        ("JOBDECK_TIMEZONE", "Mars/Olympus", "unknown timezone 'Mars/Olympus'"),
    ],
)
def test_bad_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        Settings()
    assert str(caught.value).startswith(f"{variable}: ")
    assert problem in str(caught.value)


def test_zombie_after_must_exceed_the_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBDECK_HEARTBEAT_INTERVAL", "30s")
    monkeypatch.setenv("JOBDECK_ZOMBIE_AFTER", "30s")
    with pytest.raises(ConfigError, match=r"^JOBDECK_ZOMBIE_AFTER: must be greater than heartbeat_interval \(30 s\)"):
        Settings()


def test_every_bad_variable_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBDECK_PORT", "http")
    monkeypatch.setenv("JOBDECK_MISFIRE_GRACE", "later")
    with pytest.raises(ConfigErrors) as caught:
        Settings()
    assert len(caught.value.errors) == 2
    lines = str(caught.value).splitlines()
    assert any(line.strip().startswith("JOBDECK_PORT: ") for line in lines)
    assert any(line.strip().startswith("JOBDECK_MISFIRE_GRACE: ") for line in lines)


def test_secrets_are_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBDECK_ADMIN_PASSWORD", "hunter2")
    assert "hunter2" not in repr(Settings())
    with pytest.raises(ConfigError) as caught:
        Settings(database_url=["postgresql://jd:hunter2@db/x"])
    assert "hunter2" not in str(caught.value)


def test_settings_are_frozen() -> None:
    settings = Settings(timezone="UTC")
    with pytest.raises(ValidationError):
        settings.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("tz_variable", "etc_timezone", "localtime_link", "expected"),
    [
        ("Asia/Tokyo", "Europe/Paris", None, "Asia/Tokyo"),
        (":Asia/Tokyo", None, None, "Asia/Tokyo"),
        ("/usr/share/zoneinfo/Asia/Tokyo", None, None, "Asia/Tokyo"),
        ("CET-1CEST", "Europe/Paris\n", None, "Europe/Paris"),  # a POSIX TZ string is no IANA name: next source
        (None, None, "/usr/share/zoneinfo/America/New_York", "America/New_York"),
        (None, "Not/AZone", "../usr/share/zoneinfo/posix/Europe/Berlin", "Europe/Berlin"),
        (None, None, None, "UTC"),
    ],
)
def test_detect_local_timezone(
    tmp_path: Path, tz_variable: str | None, etc_timezone: str | None, localtime_link: str | None, expected: str
) -> None:
    (tmp_path / "etc").mkdir()
    if etc_timezone is not None:
        (tmp_path / "etc" / "timezone").write_text(etc_timezone, encoding="utf-8")
    if localtime_link is not None:
        (tmp_path / "etc" / "localtime").symlink_to(localtime_link)
    environ = {"TZ": tz_variable} if tz_variable is not None else {}
    assert detect_local_timezone(environ, root=tmp_path) == expected


def test_with_overrides_applies_the_scheduler_table() -> None:
    base = Settings(timezone="UTC")
    settings = base.with_overrides({"timezone": "Asia/Shanghai", "zombie_after": "5m", "port": 9001})
    assert (settings.timezone, settings.zombie_after, settings.port) == ("Asia/Shanghai", 300.0, 9001)
    assert settings.heartbeat_interval == base.heartbeat_interval
    assert (base.timezone, base.port) == ("UTC", 8000)  # the original is untouched
    assert base.with_overrides({}) is base


def test_with_overrides_rejects_unknown_keys() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings(timezone="UTC").with_overrides({"zombie_afer": "5m"}, source="jobs.toml")
    assert caught.value.field == "scheduler.zombie_afer"
    assert str(caught.value) == (
        "jobs.toml: field 'scheduler.zombie_afer': unknown setting 'zombie_afer' (did you mean 'zombie_after'?)"
    )


def test_with_overrides_names_the_bad_key() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings(timezone="UTC").with_overrides({"heartbeat_interval": "2m"}, source="jobs.toml")
    assert caught.value.file == "jobs.toml"
    assert caught.value.field == "scheduler.zombie_after"
    assert "must be greater than heartbeat_interval (120 s)" in str(caught.value)


# --- jobs file: the happy path -------------------------------------------------------------------------------------

VALID = """
    [scheduler]
    timezone = "Asia/Shanghai"
    misfire_grace = "2m"

    [[jobs]]
    id = "quotes_sync"
    func = "config_test_jobs:sync_quotes"
    schedule = "*/5 9-15 * * 1-5"
    display_name = "Quotes sync"
    description = "Real-time quotes every 5 minutes in trading hours"
    kwargs = { batch = 100, source = "sse" }
    tags = ["quotes", "market"]
    max_instances = 2
    coalesce = false
    timeout = "10m"
    retries = 3
    retry_backoff = "1m"
    jitter = 5
    paused = true

    [[jobs]]
    id = "nightly.report-v2"
    func = "config_test_jobs:Reports.nightly"
    schedule = "23:30"
    timezone = "Europe/Berlin"
    misfire_grace = 15

    [[jobs]]
    id = "retired"
    func = "not_installed_anywhere:run"
    schedule = "@daily"
    enabled = false
"""

DEMO_JOBS = """
    def sync_quotes(batch: int = 10, source: str = "x") -> int:
        return batch

    class Reports:
        @staticmethod
        def nightly() -> str:
            return "ok"
"""


def test_valid_jobs_file(tmp_path: Path) -> None:
    write(tmp_path, "config_test_jobs.py", DEMO_JOBS)
    path = write(tmp_path, "jobs.toml", VALID)
    loaded = load_jobs_file(path, default_timezone="UTC")
    assert isinstance(loaded, JobsFile)
    assert loaded.path == path
    assert dict(loaded.scheduler) == {"timezone": "Asia/Shanghai", "misfire_grace": "2m"}
    assert [job.id for job in loaded.jobs] == ["quotes_sync", "nightly.report-v2"]  # the disabled job is left out

    quotes, nightly = loaded.jobs
    config_test_jobs = sys.modules["config_test_jobs"]
    assert quotes.function is config_test_jobs.sync_quotes
    assert quotes.func == "config_test_jobs:sync_quotes"
    assert quotes.kind is JobKind.PYTHON
    assert quotes.schedule.kind is ScheduleKind.CRON
    assert quotes.timezone == quotes.schedule.timezone == "Asia/Shanghai"  # from [scheduler]
    assert quotes.kwargs == {"batch": 100, "source": "sse"}
    assert quotes.tags == ("quotes", "market")
    assert (quotes.display_name, quotes.description) == (
        "Quotes sync",
        "Real-time quotes every 5 minutes in trading hours",
    )
    assert (quotes.max_instances, quotes.coalesce, quotes.paused, quotes.enabled) == (2, False, True, True)
    assert (quotes.misfire_grace, quotes.timeout, quotes.retries, quotes.retry_backoff, quotes.jitter) == (
        120.0,
        600.0,
        3,
        60.0,
        5.0,
    )

    assert nightly.function is config_test_jobs.Reports.nightly
    assert nightly.timezone == nightly.schedule.timezone == "Europe/Berlin"
    assert nightly.schedule.kind is ScheduleKind.DAILY
    assert nightly.misfire_grace == 15.0
    assert (nightly.max_instances, nightly.coalesce, nightly.timeout, nightly.retries) == (1, True, None, 0)


def test_jobs_default_to_the_callers_timezone_and_misfire_grace(tmp_path: Path) -> None:
    write(tmp_path, "plain_jobs.py", "def run() -> None: ...\n")
    path = write(
        tmp_path,
        "jobs.toml",
        """
        [[jobs]]
        id = "plain"
        func = "plain_jobs:run"
        schedule = "every 5m"
    """,
    )
    (job,) = load_jobs_file(path, default_timezone="America/New_York", default_misfire_grace=5.0).jobs
    assert (job.timezone, job.schedule.timezone, job.misfire_grace) == ("America/New_York", "America/New_York", 5.0)


def test_func_modules_are_found_beside_the_jobs_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "deploy", "beside_jobs.py", "def run() -> str:\n    return 'beside'\n")
    path = write(
        tmp_path / "deploy",
        "jobs.toml",
        """
        [[jobs]]
        id = "beside"
        func = "beside_jobs:run"
        schedule = "@hourly"
    """,
    )
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    (job,) = load_jobs_file(path, default_timezone="UTC").jobs
    assert job.function is not None
    assert job.function() == "beside"


def test_func_modules_are_found_in_the_working_directory(tmp_path: Path) -> None:
    write(tmp_path, "cwd_jobs.py", "def run() -> str:\n    return 'cwd'\n")
    path = write(
        tmp_path / "config",
        "jobs.toml",
        """
        [[jobs]]
        id = "from-cwd"
        func = "cwd_jobs:run"
        schedule = "@hourly"
    """,
    )
    (job,) = load_jobs_file(path, default_timezone="UTC").jobs
    assert job.function is not None
    assert job.function() == "cwd"


def test_a_file_without_jobs_is_valid(tmp_path: Path) -> None:
    loaded = load_jobs_file(write(tmp_path, "jobs.toml", "[scheduler]\nzombie_after = 120\n"), default_timezone="UTC")
    assert loaded.jobs == ()
    assert dict(loaded.scheduler) == {"zombie_after": 120}


def test_scheduler_table_feeds_with_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "jobs.toml", '[scheduler]\ntimezone = "Asia/Shanghai"\nheartbeat_interval = "20s"\n')
    loaded = load_jobs_file(path, default_timezone="UTC")
    settings = Settings(timezone="UTC").with_overrides(loaded.scheduler, source=loaded.path)
    assert (settings.timezone, settings.heartbeat_interval) == ("Asia/Shanghai", 20.0)


# --- jobs file: errors name the file, the job and the field --------------------------------------------------------

GOOD_MODULE = """
    VALUE = 42

    def run() -> None: ...
"""


def job_toml(**fields: str) -> str:
    """One [[jobs]] table from TOML value snippets; a good job unless a field says otherwise."""
    values = {"id": '"broken"', "func": '"good_jobs:run"', "schedule": '"@daily"', **fields}
    return "[[jobs]]\n" + "".join(f"{key} = {value}\n" for key, value in values.items() if value)


JOB_ERRORS = [
    ({"schedule": '"61 * * * *"'}, "broken", "schedule", "invalid schedule '61 * * * *': minute value 61 out of range"),
    ({"schedule": '"every 0s"'}, "broken", "schedule", "interval must be greater than zero"),
    ({"schedule": ""}, "broken", "schedule", "missing required key 'schedule'"),
    ({"schedule": "5"}, "broken", "schedule", "expected a string, got integer 5"),
    ({"func": ""}, "broken", "func", "missing 'func'"),
    ({"func": '"good_jobs.run"'}, "broken", "func", "expected 'module:function', got 'good_jobs.run'"),
    ({"func": '"no_such_module_xyz:run"'}, "broken", "func", "cannot import 'no_such_module_xyz'"),
    ({"func": '"good_jobs:missing"'}, "broken", "func", "module 'good_jobs' has no attribute 'missing'"),
    ({"func": '"good_jobs:VALUE"'}, "broken", "func", "'good_jobs:VALUE' is not callable (it is int 42)"),
    (
        {"func": '"exploding_jobs:run"'},
        "broken",
        "func",
        "importing 'exploding_jobs' failed: ZeroDivisionError: division by zero",
    ),
    ({"func": "", "command": "[]"}, "broken", "command", "expected a non-empty array of strings or a command line"),
    (
        {"func": "", "http": '{ url = "ftp://example.com" }'},
        "broken",
        "http.url",
        "expected an http:// or https:// URL",
    ),
    ({"command": '["true"]'}, "broken", "command", "give only one of 'func', 'command', 'http'"),
    ({"schedul": '"@daily"'}, "broken", "schedul", "unknown key 'schedul' (did you mean 'schedule'?)"),
    ({"id": '"Quotes Sync"'}, "Quotes Sync", "id", "invalid id 'Quotes Sync'"),
    ({"id": '"' + "x" * 65 + '"'}, "x" * 65, "id", "invalid id"),
    ({"id": ""}, "#1", "id", "missing required key 'id'"),
    ({"timezone": '"Mars/Olympus"'}, "broken", "timezone", "unknown timezone 'Mars/Olympus'"),
    ({"max_instances": "0"}, "broken", "max_instances", "must be at least 1, got 0"),
    ({"retries": "-1"}, "broken", "retries", "must be at least 0, got -1"),
    ({"retries": "true"}, "broken", "retries", "expected an integer ≥ 0, got boolean True"),
    ({"coalesce": '"yes"'}, "broken", "coalesce", "expected true or false, got string 'yes'"),
    ({"misfire_grace": '"soon"'}, "broken", "misfire_grace", "invalid duration 'soon'"),
    ({"timeout": '"0s"'}, "broken", "timeout", "must be greater than zero"),
    ({"jitter": '"-5s"'}, "broken", "jitter", "must not be negative"),
    ({"tags": '["a", 1]'}, "broken", "tags", "expected an array of strings"),
    ({"kwargs": '"batch=1"'}, "broken", "kwargs", "expected a table of keyword arguments"),
]


@pytest.mark.parametrize(("fields", "job_id", "field", "reason"), JOB_ERRORS)
def test_job_error_names_file_job_and_field(
    tmp_path: Path, fields: dict[str, str], job_id: str, field: str, reason: str
) -> None:
    write(tmp_path, "good_jobs.py", GOOD_MODULE)
    write(tmp_path, "exploding_jobs.py", "1 / 0\n")
    path = write(tmp_path, "jobs.toml", job_toml(**fields))
    with pytest.raises(ConfigError) as caught:
        load_jobs_file(path, default_timezone="UTC")
    error = caught.value
    assert (error.file, error.job_id, error.field) == (str(path), job_id, field)
    assert reason in error.reason
    assert str(error).startswith(f"{path}: job {job_id!r}: field {field!r}: ")


def test_duplicate_ids_are_rejected(tmp_path: Path) -> None:
    write(tmp_path, "good_jobs.py", GOOD_MODULE)
    path = write(tmp_path, "jobs.toml", job_toml(id='"twice"') + job_toml(id='"twice"'))
    with pytest.raises(ConfigError) as caught:
        load_jobs_file(path, default_timezone="UTC")
    assert (caught.value.job_id, caught.value.field) == ("twice", "id")
    assert "duplicate id 'twice': job #1 already uses it" in str(caught.value)


def test_toml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "jobs.toml", '[[jobs]]\nid = "a"\nschedule = \n')
    with pytest.raises(ConfigError) as caught:
        load_jobs_file(path, default_timezone="UTC")
    assert caught.value.file == str(path)
    assert "invalid TOML" in str(caught.value)
    assert "line 3, column" in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: file not found"):
        load_jobs_file(tmp_path / "nope.toml", default_timezone="UTC")


def test_every_problem_of_a_file_is_reported_together(tmp_path: Path) -> None:
    write(tmp_path, "good_jobs.py", GOOD_MODULE)
    path = write(
        tmp_path,
        "jobs.toml",
        '[scheduler]\nzombie_aftr = "2m"\n\n'
        + job_toml(id='"one"', schedule='"61 * * * *"')
        + job_toml(id='"two"', func='"good_jobs:missing"')
        + job_toml(id='"three"', schedul='"@daily"', max_instances="0"),
    )
    with pytest.raises(ConfigErrors) as caught:
        load_jobs_file(path, default_timezone="UTC")
    located = [(error.job_id, error.field) for error in caught.value.errors]
    assert located == [
        (None, "scheduler.zombie_aftr"),
        ("one", "schedule"),
        ("two", "func"),
        ("three", "schedul"),
        ("three", "max_instances"),
    ]
    message = str(caught.value)
    assert message.splitlines()[0] == f"{path}: 5 problems:"
    assert len(message.splitlines()) == 6
    assert all(str(path) in line for line in message.splitlines())


@pytest.mark.parametrize(
    ("scheduler", "field", "reason"),
    [
        ("bogus = 1", "scheduler.bogus", "unknown setting 'bogus'"),
        ('timezone = "Mars/Olympus"', "scheduler.timezone", "unknown timezone 'Mars/Olympus'"),
        ('zombie_after = "soon"', "scheduler.zombie_after", "invalid duration 'soon'"),
        ('heartbeat_interval = "5s"\nzombie_after = "5s"', "scheduler.zombie_after", "must be greater than"),
    ],
)
def test_scheduler_table_errors(tmp_path: Path, scheduler: str, field: str, reason: str) -> None:
    path = write(tmp_path, "jobs.toml", f"[scheduler]\n{scheduler}\n")
    with pytest.raises(ConfigError) as caught:
        load_jobs_file(path, default_timezone="UTC")
    assert (caught.value.file, caught.value.field) == (str(path), field)
    assert reason in str(caught.value)


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, "jobs.toml", '[[job]]\nid = "a"\n')
    with pytest.raises(ConfigError, match=r"unknown top-level key 'job' \(did you mean 'jobs'\?\)"):
        load_jobs_file(path, default_timezone="UTC")


def test_a_disabled_job_need_not_import(tmp_path: Path) -> None:
    path = write(tmp_path, "jobs.toml", job_toml(func='"not_installed_anywhere:run"', enabled="false"))
    assert load_jobs_file(path, default_timezone="UTC").jobs == ()


def test_resolve_callable() -> None:
    assert resolve_callable("os.path:join") is os.path.join
    assert resolve_callable("pathlib:Path.home") == Path.home
    with pytest.raises(ConfigError, match="expected 'module:function'") as caught:
        resolve_callable("os.path.join")
    assert caught.value.field == "func"


# --- metadata files ------------------------------------------------------------------------------------------------

EXPECTED_METADATA = [("quotes_sync", "Quotes sync", "Every 5 minutes"), ("daily_report", "Daily report", None)]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "meta.json",
            '{"jobs": [{"job_id": "quotes_sync", "display_name": "Quotes sync", "description": "Every 5 '
            'minutes"}, {"id": "daily_report", "display_name": "Daily report", "description": null}]}',
        ),
        (
            "meta.json",
            '[{"job_id": "quotes_sync", "display_name": "Quotes sync", "description": "Every 5 minutes"},'
            ' {"job_id": "daily_report", "display_name": "Daily report"}]',
        ),
        (
            "meta.json",
            '{"quotes_sync": {"display_name": "Quotes sync", "description": "Every 5 minutes"},'
            ' "daily_report": "Daily report"}',
        ),
        (
            "meta.toml",
            '[[jobs]]\njob_id = "quotes_sync"\ndisplay_name = "Quotes sync"\ndescription = "Every 5 '
            'minutes"\n\n[[jobs]]\nid = "daily_report"\ndisplay_name = "Daily report"\n',
        ),
        (
            "meta.toml",
            '[quotes_sync]\ndisplay_name = "Quotes sync"\ndescription = "Every 5 minutes"\n\n'
            '[daily_report]\ndisplay_name = "Daily report"\n',
        ),
        (
            "metadata",
            '[{"job_id": "quotes_sync", "display_name": "Quotes sync", "description": "Every 5 minutes",'
            ' "updated_at": "2026-03-06T10:00:00Z", "updated_by": "alice"},'
            ' {"job_id": "daily_report", "display_name": "Daily report"}]',
        ),  # no suffix: sniffed as JSON
    ],
)
def test_metadata_file_formats(tmp_path: Path, name: str, text: str) -> None:
    assert load_metadata_file(write(tmp_path, name, text)) == EXPECTED_METADATA


def test_metadata_empty_string_clears(tmp_path: Path) -> None:
    path = write(tmp_path, "meta.json", '[{"job_id": "a", "display_name": "", "description": null}]')
    assert load_metadata_file(path) == [("a", "", None)]


@pytest.mark.parametrize(
    ("text", "job_id", "field", "reason"),
    [
        ('[{"display_name": "x"}]', "#1", "job_id", "missing 'job_id'"),
        ('[{"job_id": "Bad Id"}]', "#1", "job_id", "invalid job id 'Bad Id'"),
        ('[{"job_id": "a"}, {"job_id": "a"}]', "a", "job_id", "duplicate job id 'a'"),
        ('[{"job_id": "a", "id": "b"}]', "#1", "job_id", "conflicting job ids"),
        ('[{"job_id": 7}]', "#1", "job_id", "expected a string, got integer 7"),
        ('[{"job_id": "a", "display_nme": "x"}]', "a", "display_nme", "did you mean 'display_name'?"),
        ('[{"job_id": "a", "description": 3}]', "a", "description", "expected a string or null, got integer"),
        ('["a"]', "#1", None, "expected an object"),
    ],
)
def test_metadata_errors(tmp_path: Path, text: str, job_id: str, field: str | None, reason: str) -> None:
    path = write(tmp_path, "meta.json", text)
    with pytest.raises(ConfigError) as caught:
        load_metadata_file(path)
    assert (caught.value.file, caught.value.job_id, caught.value.field) == (str(path), job_id, field)
    assert reason in str(caught.value)


def test_metadata_invalid_json_gives_line(tmp_path: Path) -> None:
    path = write(tmp_path, "meta.json", '{"jobs": [\n  {"job_id": "a",}\n]}')
    with pytest.raises(ConfigError, match=r"invalid JSON: .* \(at line 2, column \d+\)"):
        load_metadata_file(path)


def test_metadata_of_the_wrong_shape(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected"):
        load_metadata_file(write(tmp_path, "meta.json", "42"))
