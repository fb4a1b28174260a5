"""A process that talks: a real `jobdeck serve` says in its output what it loaded and what its runs do.

Each test reads the server's stderr (``serve.log``) and counts lines against the records the API shows: one start
and one end line per run, one line per failure, per missed fire, per run the zombie sweep closed; warnings logged
after start-up (by a job's library code, by jobdeck itself) reach the output; ``JOBDECK_LOG_FORMAT=json`` writes
nothing but JSON objects, one per line.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import secrets
import signal
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import make_url

from jobdeck.ids import new_id
from jobdeck.models import Execution, ExecutionStatus
from live_server import ServeProcess, on_store, wait_until

pytestmark = pytest.mark.slow

ADMIN_PASSWORD = "process-log-admin-password"

JOBS_MODULE = """
import logging

def hello():
    return "hello"

def boom():
    raise ValueError("the input file is empty\\nsecond line of the message")

def vendor_call():
    # Library code logging the way libraries do: a module logger, no handler of its own.
    logging.getLogger("vendor.storage").warning("disk nearly full on /data")
    return 1

def tick():
    return None
"""

JOBS_FILE = """
[[jobs]]
id = "hello"
func = "talk_jobs:hello"
schedule = "every 1d"

[[jobs]]
id = "boom"
func = "talk_jobs:boom"
schedule = "every 1d"

[[jobs]]
id = "vendor_call"
func = "talk_jobs:vendor_call"
schedule = "every 1d"
"""

TICKER_FILE = """
[[jobs]]
id = "tick"
func = "talk_jobs:tick"
schedule = "every 1s"
misfire_grace = "1s"
coalesce = false
"""


def _root_conftest() -> Any:
    # tests/conftest.py cannot be imported as "conftest" beside another conftest.py: load it by path.
    spec = importlib.util.spec_from_file_location("_talk_root_conftest", Path(__file__).parents[1] / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _on_postgres(*statements: str) -> None:
    """Run statements on the server's admin database (outside a transaction)."""
    url = make_url(_root_conftest().POSTGRES_URL).set(drivername="postgresql")

    async def run() -> None:
        conn = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=5)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture
def postgres_database() -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL database: (name, jobdeck URL); dropped afterwards."""
    root = _root_conftest()
    name = f"jobdeck_talk_{secrets.token_hex(5)}"
    try:
        _on_postgres(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        root.unavailable("PostgreSQL")
    yield name, make_url(root.POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    _on_postgres(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true', f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _serve(folder: Path, jobs_file: str, **env: str) -> ServeProcess:
    (folder / "talk_jobs.py").write_text(textwrap.dedent(JOBS_MODULE))
    (folder / "jobs.toml").write_text(jobs_file)
    return ServeProcess(
        folder,
        {
            "JOBDECK_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "JOBDECK_HEARTBEAT_INTERVAL": "0.2",
            "JOBDECK_ZOMBIE_AFTER": "1",
            "JOBDECK_SHUTDOWN_GRACE": "2",
            "JOBDECK_TIMEZONE": "UTC",
            **env,
        },
        admin_password=ADMIN_PASSWORD,
    )


def output(serve: ServeProcess) -> str:
    """Everything the server wrote to stderr so far."""
    return (serve.folder / "serve.log").read_text(errors="replace")


def lines_with(serve: ServeProcess, *parts: str) -> list[str]:
    return [line for line in output(serve).splitlines() if all(part in line for part in parts)]


def wait_for_line(serve: ServeProcess, *parts: str, count: int = 1, timeout: float = 10) -> list[str]:
    return wait_until(  # type: ignore[no-any-return]
        lambda: (found := lines_with(serve, *parts)) and len(found) >= count and found,
        timeout=timeout,
        what=f"{count} line(s) with {parts} in the server's output:\n{output(serve)[-3000:]}",
    )


def trigger(serve: ServeProcess, job_id: str) -> dict[str, Any]:
    run = serve.api("POST", f"/api/scheduler/jobs/{job_id}/trigger")
    return serve.wait_execution(run["id"], lambda e: e["status"] != "running")


def executions(serve: ServeProcess, job_id: str, status: str | None = None) -> list[dict[str, Any]]:
    query = {"job_id": job_id, "limit": 200, **({"status": status} if status else {})}
    return serve.api("GET", "/api/scheduler/executions", params=query)["items"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    process = _serve(tmp_path_factory.mktemp("talk"), JOBS_FILE)
    process.start()
    yield process
    process.stop(signal.SIGTERM)


def test_startup_line_names_the_jobs_the_database_the_address_and_the_role(serve: ServeProcess) -> None:
    (line,) = wait_for_line(serve, "jobdeck started:")
    assert "3 job(s) loaded (hello, boom, vendor_call)" in line
    assert f"database sqlite+aiosqlite:///{serve.folder}/serve.db" in line
    assert f"listening on {serve.url}" in line
    assert "role scheduler" in line


def test_each_run_has_a_start_line_and_an_end_line_with_status_and_duration(serve: ServeProcess) -> None:
    runs = [trigger(serve, "hello") for _ in range(3)]
    assert [run["status"] for run in runs] == ["success"] * 3
    for run in runs:
        (started,) = wait_for_line(serve, "run started: job hello", run["id"])
        assert "manual" in started
        (ended,) = wait_for_line(serve, "run success: job hello", run["id"])
        assert re.search(r" in \d+(\.\d+)? (ms|s) ", ended), ended
    # As many lines as records: one start and one end per run, no more.
    recorded = len(executions(serve, "hello"))
    assert len(lines_with(serve, "run started: job hello")) == recorded
    assert len(lines_with(serve, "run success: job hello")) == recorded


def test_a_failing_job_writes_its_error_first_line(serve: ServeProcess) -> None:
    run = trigger(serve, "boom")
    assert run["status"] == "failed"
    (line,) = wait_for_line(serve, "run failed: job boom", run["id"])
    assert "WARNING" in line
    assert "ValueError: the input file is empty" in line
    assert "second line" not in output(serve)  # the first line only; the traceback stays in the record
    assert len(lines_with(serve, "run failed: job boom")) == len(executions(serve, "boom", "failed")) == 1


def test_a_warning_logged_after_start_up_reaches_the_output(serve: ServeProcess) -> None:
    run = trigger(serve, "vendor_call")
    assert run["status"] == "success"
    (line,) = wait_for_line(serve, "vendor.storage", "disk nearly full on /data")
    assert "WARNING" in line
    # ... and it is still in the run's own log.
    detail = serve.api("GET", f"/api/scheduler/executions/{run['id']}")
    assert "disk nearly full on /data" in json.dumps(detail)


def test_a_zombie_closed_by_the_sweep_is_a_line(serve: ServeProcess) -> None:
    now = datetime.now(UTC)
    zombie = Execution(
        id=new_id(now),
        job_id="hello",
        job_name="hello",
        status=ExecutionStatus.RUNNING,
        scheduled_time=now - timedelta(seconds=30),
        started_at=now - timedelta(seconds=30),
        updated_at=now - timedelta(seconds=30),
        heartbeat_at=now - timedelta(seconds=30),
        host="a-host-that-died",
        pid=4242,
    )
    on_store(serve.database_url, lambda store: store.insert_execution(zombie))
    (line,) = wait_for_line(serve, "closed as failed by jobdeck", zombie.id)
    assert "no heartbeat for" in line and "a-host-that-died" in line
    closed = serve.wait_execution(zombie.id, lambda e: e["status"] != "running")
    assert closed["status"] == "failed"
    # jobdeck's own warning about the sweep reaches the output too (it used to be muted).
    wait_for_line(serve, "jobdeck: closed 1 execution(s) whose process stopped heartbeating")


def test_fires_missed_during_a_stall_are_one_line_each(tmp_path: Path) -> None:
    serve = _serve(tmp_path, TICKER_FILE)
    serve.start()
    try:
        wait_for_line(serve, "run success: job tick")
        assert serve.proc is not None
        serve.proc.send_signal(signal.SIGSTOP)
        time.sleep(3.5)  # the stall itself is the scenario: no fire can be handed over meanwhile
        serve.proc.send_signal(signal.SIGCONT)
        missed = wait_until(lambda: executions(serve, "tick", "missed"), timeout=10, what="a missed record")
        wait_for_line(serve, "fire missed: job tick", count=len(missed))
        missed = executions(serve, "tick", "missed")
        assert len(lines_with(serve, "fire missed: job tick")) == len(missed) >= 1
        for record in missed:
            assert lines_with(serve, "fire missed: job tick", record["id"])
    finally:
        serve.stop(signal.SIGTERM)


def test_json_format_writes_one_json_object_per_line(tmp_path: Path) -> None:
    serve = _serve(tmp_path, JOBS_FILE, JOBDECK_LOG_FORMAT="json")
    serve.start()
    try:
        ok, failed = trigger(serve, "hello"), trigger(serve, "boom")
        trigger(serve, "vendor_call")
        wait_for_line(serve, '"run_finished"', failed["id"])
        wait_for_line(serve, "disk nearly full")
    finally:
        serve.stop(signal.SIGTERM)
    records = [json.loads(line) for line in output(serve).splitlines() if line.strip()]
    assert records and all({"ts", "level", "logger", "message"} <= record.keys() for record in records)
    (startup,) = [r for r in records if r.get("event") == "startup"]
    assert (startup["jobs"], startup["role"], startup["address"]) == (3, "scheduler", serve.url)
    finished = {r["execution_id"]: r for r in records if r.get("event") == "run_finished"}
    assert finished[ok["id"]]["status"] == "success" and finished[ok["id"]]["duration_s"] >= 0
    assert finished[failed["id"]]["error"] == "ValueError: the input file is empty"
    assert finished[failed["id"]]["level"] == "WARNING"
    assert [r["logger"] for r in records if "disk nearly full" in r["message"]] == ["vendor.storage"]


def test_a_database_outage_is_one_line_and_so_is_its_end(tmp_path: Path, postgres_database: tuple[str, str]) -> None:
    name, url = postgres_database
    serve = _serve(tmp_path, JOBS_FILE, JOBDECK_DATABASE_URL=url)
    serve.database_url = url
    serve.start()
    try:
        wait_for_line(serve, "jobdeck started:", "database postgresql+asyncpg://")
        # The database refuses every connection, the server's included: health probes fail.
        _on_postgres(
            f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false',
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
        )
        (problem,) = wait_for_line(serve, "database problem:", timeout=20)
        assert "ERROR" in problem and "(health degraded)" in problem
        _on_postgres(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        wait_for_line(serve, "database answers again", timeout=20)
        assert serve.api("GET", "/api/scheduler/health")["status"] == "healthy"
        # One line when it broke and one when it came back, not one per probe.
        assert len(lines_with(serve, "database problem:")) == 1
        assert len(lines_with(serve, "database answers again")) == 1
    finally:
        serve.stop(signal.SIGTERM)
