"""A real `jobdeck serve` process: crash recovery after kill -9, restarts, long healthy runs, bad jobs files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from live_server import ServeProcess, free_port

pytestmark = pytest.mark.slow

ADMIN_PASSWORD = "e2e-admin-password"

JOBS_MODULE = """
import asyncio, time

async def long_walk(ctx, items: int = 600, delay: float = 0.1):
    for index in range(items):
        await ctx.progress(processed_items=index, total_items=items)
        await asyncio.sleep(delay)
    return items

async def silent_async(seconds: float = 3.0):
    await asyncio.sleep(seconds)
    return "slept"

def silent_sync(seconds: float = 3.0):
    time.sleep(seconds)
    return "slept"
"""

JOBS_FILE = """
[[jobs]]
id = "long_walk"
func = "e2e_jobs:long_walk"
schedule = "every 1d"

[[jobs]]
id = "silent_async"
func = "e2e_jobs:silent_async"
schedule = "every 1d"

[[jobs]]
id = "silent_sync"
func = "e2e_jobs:silent_sync"
schedule = "every 1d"
"""


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    (tmp_path / "e2e_jobs.py").write_text(textwrap.dedent(JOBS_MODULE))
    (tmp_path / "jobs.toml").write_text(JOBS_FILE)
    process = ServeProcess(
        tmp_path,
        {
            "JOBDECK_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "JOBDECK_HEARTBEAT_INTERVAL": "0.2",
            "JOBDECK_ZOMBIE_AFTER": "1",
            "JOBDECK_SHUTDOWN_GRACE": "2",
            "JOBDECK_TIMEZONE": "UTC",
        },
        admin_password=ADMIN_PASSWORD,
    )
    yield process
    if process.proc is not None and process.proc.poll() is None:
        process.stop(signal.SIGTERM)


def test_kill_9_during_a_run_then_restart_closes_the_run_as_failed_within_5s(serve: ServeProcess) -> None:
    serve.start()
    run = serve.api("POST", "/api/scheduler/jobs/long_walk/trigger")
    serve.wait_execution(run["id"], lambda e: (e["processed_items"] or 0) > 0)
    serve.stop(signal.SIGKILL)

    restarted_at = serve.start()
    closed = serve.wait_execution(run["id"], lambda e: e["status"] != "running", timeout=5)
    assert closed["status"] == "failed"
    assert "stopped while this run was going" in closed["error_message"]
    assert str(run["pid"]) in closed["error_message"]
    assert datetime.fromisoformat(closed["finished_at"]).timestamp() - restarted_at <= 5


def test_pause_survives_a_restart(serve: ServeProcess) -> None:
    serve.start()
    serve.api("POST", "/api/scheduler/jobs/silent_async/pause")
    serve.stop(signal.SIGTERM)
    serve.start()
    job = serve.api("GET", "/api/scheduler/jobs/silent_async")
    assert job["paused"] is True and job["next_run_time"] is None
    assert serve.api("GET", "/api/scheduler/jobs/silent_sync")["paused"] is False


@pytest.mark.parametrize("job_id", ["silent_async", "silent_sync"])
def test_a_healthy_job_running_past_the_zombie_threshold_is_never_marked_failed(
    serve: ServeProcess, job_id: str
) -> None:
    serve.start()  # zombie_after=1 s, heartbeat every 0.2 s; the job is silent for 3 s
    run = serve.api("POST", f"/api/scheduler/jobs/{job_id}/trigger")
    done = serve.wait_execution(run["id"], lambda e: e["status"] != "running", timeout=15)
    assert done["status"] == "success", done["error_message"]
    assert done["execution_time"] >= 3


def test_graceful_shutdown_closes_every_record_it_leaves(serve: ServeProcess) -> None:
    serve.start()
    run = serve.api("POST", "/api/scheduler/jobs/long_walk/trigger")
    serve.wait_execution(run["id"], lambda e: (e["processed_items"] or 0) > 0)
    serve.stop(signal.SIGTERM)
    serve.start()
    closed = serve.api("GET", f"/api/scheduler/executions/{run['id']}")
    assert closed["status"] == "cancelled" and "shutdown" in closed["error_message"]


BAD_FILES = [
    ('[[jobs]]\nid = "a"\nfunc = "e2e_jobs:long_walk"\nschedule = "61 * * * *"\n', ["'a'", "schedule", "61"]),
    ('[[jobs]]\nid = "b"\nfunc = "e2e_jobs:nope"\nschedule = "every 1m"\n', ["'b'", "func"]),
    (
        '[[jobs]]\nid = "c"\nfunc = "e2e_jobs:long_walk"\nschedule = "every 1m"\nmax_instances = "x"\n',
        ["'c'", "max_instances"],
    ),
]


@pytest.mark.parametrize(("content", "expected"), BAD_FILES)
@pytest.mark.parametrize("command", ["serve", "check"])
def test_a_malformed_jobs_file_exits_non_zero_naming_job_and_field(
    tmp_path: Path, content: str, expected: list[str], command: str
) -> None:
    (tmp_path / "e2e_jobs.py").write_text(textwrap.dedent(JOBS_MODULE))
    (tmp_path / "bad.toml").write_text(content)
    args = ["--config", "bad.toml", "--port", str(free_port())] if command == "serve" else ["bad.toml"]
    result = subprocess.run(
        [sys.executable, "-m", "jobdeck", command, *args],
        cwd=tmp_path,
        env={**os.environ, "JOBDECK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/bad.db"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "bad.toml" in result.stderr
    for fragment in expected:
        assert fragment in result.stderr
    assert not (tmp_path / "bad.db").exists(), "nothing may start before the jobs file is valid"
