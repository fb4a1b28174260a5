"""``jobdeck jobs …`` and ``jobdeck runs …``: steer a running jobdeck server over its API (``jobdeck.client``).

Every command takes ``--url`` and ``--token`` (or ``JOBDECK_URL`` / ``JOBDECK_TOKEN``), prints a table by default and
JSON with ``--json``. An error is one line on stderr and exit status 1; ``trigger --wait`` and ``runs tail`` exit 1
too when the run ends in anything but success.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, TypeVar

import typer

from jobdeck.client import TERMINAL_STATUSES, ExecutionDetail, ExecutionStatus, JobdeckClient
from jobdeck.errors import AuthError, JobdeckError

__all__ = ["jobs_app", "runs_app"]

T = TypeVar("T")

jobs_app = typer.Typer(help="Jobs of a running server: list, show, pause, resume, trigger.", no_args_is_help=True)
runs_app = typer.Typer(help="Runs (executions) of a running server: list, show, cancel, tail.", no_args_is_help=True)

UrlOption = Annotated[str, typer.Option("--url", envvar="JOBDECK_URL", help="The server's URL.")]
TokenOption = Annotated[
    str | None, typer.Option("--token", envvar="JOBDECK_TOKEN", help="An API token (jd_…) or access token.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
JobArg = Annotated[str, typer.Argument(help="The job's id")]
RunArg = Annotated[str, typer.Argument(help="The run's (execution's) id")]
DEFAULT_URL = "http://127.0.0.1:8000"


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(1)


@contextmanager
def _client(url: str, token: str | None) -> Iterator[JobdeckClient]:
    """A client; any jobdeck error inside becomes one line on stderr and exit status 1."""
    if not token:
        raise _fail("no token: pass --token or set JOBDECK_TOKEN (create one with `jobdeck tokens create`)")
    client = JobdeckClient(url, token=token)
    try:
        yield client
    except AuthError as exc:
        raise _fail(f"{url} refused the token: {exc.message}") from None
    except JobdeckError as exc:
        raise _fail(exc.message) from None
    finally:
        client.close()


def _call(url: str, token: str | None, action: Callable[[JobdeckClient], T]) -> T:
    with _client(url, token) as client:
        return action(client)


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _time(value: str | None) -> str:
    return "-" if not value else value.replace("T", " ")[:19]


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    for row in [list(headers), *cells]:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


# -- jobs ----------------------------------------------------------------------------------------------------------


@jobs_app.command("list")
def jobs_list(url: UrlOption = DEFAULT_URL, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """List the jobs with their schedule, next run and state."""
    jobs = _call(url, token, lambda c: c.get_jobs())
    if as_json:
        _print_json(jobs)
        return
    rows = [
        (
            job["id"],
            job["display_name"] or job["name"],
            job["schedule"],
            _time(job["next_run_time"]),
            "paused" if job["paused"] else "active",
            job["running"],
        )
        for job in jobs
    ]
    _table(["ID", "NAME", "SCHEDULE", "NEXT RUN", "STATE", "RUNNING"], rows)


@jobs_app.command("show")
def jobs_show(
    job_id: JobArg, url: UrlOption = DEFAULT_URL, token: TokenOption = None, as_json: JsonOption = False
) -> None:
    """One job: its configuration, state and next fire times."""
    job = _call(url, token, lambda c: c.get_job_detail(job_id))
    if as_json:
        _print_json(job)
        return
    schedule = job["schedule"] + (f"  (overrides {job['configured_schedule']!r})" if job["schedule_overridden"] else "")
    fields = [
        ("id", job["id"]),
        ("name", job["display_name"] or job["name"]),
        ("description", job["description"] or "-"),
        ("function", job["func"]),
        ("schedule", f"{schedule}  [{job['timezone']}]"),
        ("state", "paused" if job["paused"] else "active"),
        ("running", job["running"]),
        ("kwargs", json.dumps(job["kwargs"], ensure_ascii=False)),
        ("max_instances", job["max_instances"]),
        ("timeout", _seconds(job["timeout"])),
        ("retries", job["retries"]),
        ("tags", ", ".join(job["tags"]) or "-"),
    ]
    for name, value in fields:
        typer.echo(f"{name + ':':<15}{value}")
    typer.echo("next runs:")
    for fire in job["next_run_times"] or []:
        typer.echo(f"  {_time(fire)}")


@jobs_app.command("pause")
def jobs_pause(
    job_id: JobArg,
    until: Annotated[
        datetime | None,
        typer.Option(help="Resume by itself at this time (ISO 8601; without an offset: this machine's local time)."),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Pause a job (persisted; idempotent), for good or until a time."""
    if until is not None and until.tzinfo is None:
        until = until.astimezone()
    job = _call(url, token, lambda c: c.pause_job(job_id, until=until))
    if as_json:
        _print_json(job)
    else:
        typer.echo(f"Job {job_id} paused" + (f" until {_time(job['paused_until'])}" if job["paused_until"] else ""))


@jobs_app.command("resume")
def jobs_resume(
    job_id: JobArg, url: UrlOption = DEFAULT_URL, token: TokenOption = None, as_json: JsonOption = False
) -> None:
    """Resume a paused job."""
    job = _call(url, token, lambda c: c.resume_job(job_id))
    _print_json(job) if as_json else typer.echo(f"Job {job_id} resumed; next run {_time(job['next_run_time'])}")


@jobs_app.command("trigger")
def jobs_trigger(
    job_id: JobArg,
    force: Annotated[bool, typer.Option("--force", help="Start even while max_instances runs are going.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the run to its end; exit 1 unless it succeeds.")] = False,
    kwargs: Annotated[
        str | None, typer.Option("--kwargs", help="Arguments for this run, as JSON: '{\"n\": 1}'")
    ] = None,
    timeout: Annotated[float, typer.Option(help="With --wait: give up (exit 1) after this many seconds.")] = 3600,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a job once now (paused or not)."""
    run_kwargs = _parse_kwargs(kwargs)
    with _client(url, token) as client:
        run = client.trigger_job(job_id, force=force, kwargs=run_kwargs)
        if not wait:
            _print_json(run) if as_json else typer.echo(f"Started run {run['id']} of {job_id}")
            return
        if not as_json:
            typer.echo(f"Started run {run['id']} of {job_id}")
        done = _follow_with_progress(client, run["id"], timeout=timeout)
    _finish(done, as_json)


def _parse_kwargs(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise _fail(f"--kwargs is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise _fail("--kwargs must be a JSON object")
    return value


def _follow_with_progress(client: JobdeckClient, execution_id: str, *, timeout: float) -> ExecutionDetail:
    """Follow a run to its end with a progress bar on stderr."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    deadline = time.monotonic() + timeout
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(execution_id, total=100)
        for execution in client.follow_execution(execution_id, interval=0.3):
            message = execution["progress_message"] or execution["current_item"] or execution["status"]
            done, total = execution["processed_items"], execution["total_items"]
            counts = f" {done}/{total}" if done is not None and total else ""
            bar.update(task, completed=execution["progress"] or 0, description=f"{message}{counts}")
            if execution["status"] in TERMINAL_STATUSES:
                if execution["status"] == "success":
                    bar.update(task, completed=100)
                return execution
            if time.monotonic() > deadline:
                raise _fail(f"run {execution_id} still running after {timeout:g}s")
    raise AssertionError("follow_execution ends with a terminal execution")


def _finish(execution: ExecutionDetail, as_json: bool) -> None:
    """Report a finished run; exit 1 unless it succeeded."""
    status = execution["status"]
    if as_json:
        _print_json(execution)
    elif status == "success":
        typer.echo(f"Run {execution['id']} succeeded in {_seconds(execution['execution_time'])}")
        if execution["return_value"] is not None:
            typer.echo(f"returned: {execution['return_value']}")
    else:
        reason = f": {execution['error_message']}" if execution["error_message"] else ""
        typer.secho(f"Run {execution['id']} {status}{reason}", fg=typer.colors.RED, err=True)
    if status != "success":
        raise typer.Exit(1)


# -- runs ----------------------------------------------------------------------------------------------------------


@runs_app.command("list")
def runs_list(
    job: Annotated[str | None, typer.Option("--job", help="Only this job's runs.")] = None,
    status: Annotated[ExecutionStatus | None, typer.Option(help="Only runs in this status.")] = None,
    manual: Annotated[
        bool | None, typer.Option("--manual/--scheduled", help="Only manual (or only scheduled) runs.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List runs, newest first."""
    page = _call(
        url,
        token,
        lambda c: c.get_job_executions(job_id=job, status=status, is_manual=manual, limit=limit, offset=offset),
    )
    if as_json:
        _print_json(page)
        return
    rows = [
        (
            e["id"],
            e["job_id"],
            e["status"],
            e["trigger"],
            _time(e["started_at"]),
            _seconds(e["execution_time"]),
            "-" if e["progress"] is None else f"{e['progress']:.0f}%",
        )
        for e in page["items"]
    ]
    _table(["ID", "JOB", "STATUS", "TRIGGER", "STARTED", "TOOK", "PROGRESS"], rows)
    typer.echo(f"{len(rows)} of {page['total']} run(s)")


@runs_app.command("show")
def runs_show(
    run_id: RunArg, url: UrlOption = DEFAULT_URL, token: TokenOption = None, as_json: JsonOption = False
) -> None:
    """One run with every field and the tail of its log."""
    run = _call(url, token, lambda c: c.get_execution(run_id))
    if as_json:
        _print_json(run)
        return
    names = ["id", "job_id", "status", "trigger", "triggered_by", "attempt", "scheduled_time", "started_at"]
    names += ["finished_at", "execution_time", "progress", "progress_message", "return_value", "error_message"]
    for name in names:
        value = run[name]  # type: ignore[literal-required]
        typer.echo(f"{name + ':':<17}{'-' if value is None else value}")
    if run["traceback"]:
        typer.echo(f"traceback:\n{run['traceback']}")
    if run["log"]:
        typer.echo("log:")
        for line in run["log"]:
            typer.echo(f"  {_time(line['at'])} {line['level']:<7} {line['message']}")


@runs_app.command("cancel")
def runs_cancel(
    run_id: RunArg, url: UrlOption = DEFAULT_URL, token: TokenOption = None, as_json: JsonOption = False
) -> None:
    """Ask a running run to stop (it stops at its next progress report or cancel check)."""
    run = _call(url, token, lambda c: c.cancel_execution(run_id))
    _print_json(run) if as_json else typer.echo(f"Cancellation of run {run_id} requested")


@runs_app.command("tail")
def runs_tail(
    run_id: RunArg,
    follow: Annotated[bool, typer.Option("--follow/--no-follow", help="Keep printing until the run ends.")] = True,
    lines: Annotated[int, typer.Option("--lines", "-n", min=1, max=1000, help="Start with this many last lines.")] = 50,
    interval: Annotated[float, typer.Option(help="Seconds between polls.", min=0.05)] = 0.5,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Print a run's log lines and progress as they come; exit 1 if it ends in anything but success."""
    pause = threading.Event()
    last_progress: tuple[object, ...] | None = None
    with _client(url, token) as client:
        page = client.get_execution_log(run_id, after=0, limit=lines)
        while True:
            for line in page["lines"]:
                typer.echo(f"{_time(line['at'])} {line['level']:<7} {line['message']}")
            run = client.get_execution(run_id)
            progress = (run["progress"], run["progress_message"], run["processed_items"], run["total_items"])
            if run["progress"] is not None and progress != last_progress:
                last_progress = progress
                counts = f" ({run['processed_items']}/{run['total_items']})" if run["total_items"] else ""
                typer.echo(f"progress {run['progress']:.0f}%{counts} {run['progress_message'] or ''}".rstrip())
            if run["status"] in TERMINAL_STATUSES or not follow:
                break
            pause.wait(interval)
            page = client.get_execution_log(run_id, after=page["last_seq"], limit=1000)
        if run["status"] in TERMINAL_STATUSES:
            # Lines written between the last poll and the end.
            for line in client.get_execution_log(run_id, after=page["last_seq"], limit=1000)["lines"]:
                typer.echo(f"{_time(line['at'])} {line['level']:<7} {line['message']}")
    if run["status"] in TERMINAL_STATUSES:
        _finish(run, as_json=False)
