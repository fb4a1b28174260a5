"""Huge intervals and bad saved state on a real `jobdeck serve`: refused before any write, never fatal at start.

Measured before the fix: ``PUT …/schedule`` with ``every 999999999d`` answered 500 and saved the override anyway;
the job's detail and dashboard page then answered 500 and the server no longer started (OverflowError); a viewer
got a 500 from the schedule preview; ``jobdeck check`` printed a traceback.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from live_server import VIEWER_PASSWORD, ServeProcess, create_users, on_store, wait_until

pytestmark = pytest.mark.slow

HUGE = "every 999999999d"

JOBS_MODULE = """
def tick():
    return "tick"
"""

JOBS_FILE = """
[[jobs]]
id = "tick"
func = "bad_jobs:tick"
schedule = "every 1s"
misfire_grace = "30s"
"""


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    (tmp_path / "bad_jobs.py").write_text(textwrap.dedent(JOBS_MODULE))
    (tmp_path / "jobs.toml").write_text(textwrap.dedent(JOBS_FILE))
    server = ServeProcess(tmp_path, {"JOBDECK_SHUTDOWN_GRACE": "1"})
    create_users(server.database_url)
    server.start()
    yield server
    server.stop()


def _viewer_token(server: ServeProcess) -> str:
    response = httpx.post(f"{server.url}/api/auth/login", json={"username": "viewer", "password": VIEWER_PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["access_token"])


def _ticks(server: ServeProcess) -> list[dict[str, Any]]:
    page = server.api("GET", "/api/scheduler/executions", params={"job_id": "tick", "limit": 200})
    return list(page["items"])


def _assert_ticks_every_second(server: ServeProcess, *, at_least: int) -> list[dict[str, Any]]:
    """Wait for ``at_least`` fires of ``tick`` by this server process and check them: one record per fire, one
    per second, no gap."""
    assert server.proc is not None

    def mine() -> list[dict[str, Any]]:
        # Runs of this process; the fires of the restart's gap are one `missed` record (with the span) at start.
        runs = [run for run in _ticks(server) if run["trigger"] == "schedule" and run["status"] != "missed"]
        return [run for run in runs if run["pid"] == server.proc.pid]

    runs = wait_until(lambda: len(mine()) >= at_least and mine(), timeout=20, what=f"{at_least} fires of tick")
    times = sorted(datetime.fromisoformat(run["scheduled_time"]).astimezone(UTC) for run in runs)
    assert len(set(times)) == len(times), "a fire was recorded twice"
    expected = round((times[-1] - times[0]).total_seconds()) + 1
    detail = [(run["scheduled_time"], run["status"], run["pid"]) for run in _ticks(server)]
    assert len(times) == expected, f"fires expected {expected}, rows {len(times)}: {detail}"
    return runs


def test_a_huge_interval_is_refused_before_anything_is_saved(serve: ServeProcess) -> None:
    response = httpx.put(
        f"{serve.url}/api/scheduler/jobs/tick/schedule",
        json={"schedule": HUGE},
        headers={"Authorization": f"Bearer {serve.token}"},
        timeout=10,
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["success"] is False and body["code"] == "invalid_schedule"
    assert [error["field"] for error in body["data"]["errors"]] == ["schedule"]
    assert "interval must be at most 36500 days" in body["message"]

    job = serve.api("GET", "/api/scheduler/jobs/tick")  # 200: the detail still renders
    assert job["schedule"] == "every 1s" and len(job["next_run_times"]) == 5
    page = httpx.get(f"{serve.url}/jobs/tick", cookies={"jobdeck_session": serve.token}, timeout=10)
    assert page.status_code == 200 and "every 1s" in page.text
    history = serve.api("GET", "/api/scheduler/jobs/tick/history")["history"]
    assert [(entry["action"], entry["status"]) for entry in history] == [("update_schedule", "failed")]
    # Nothing was saved: after a restart the job still fires every second.
    serve.stop()
    serve.start()
    assert serve.api("GET", "/api/scheduler/jobs/tick")["schedule"] == "every 1s"
    _assert_ticks_every_second(serve, at_least=3)


@pytest.mark.parametrize("expression", [HUGE, "9999-12-31T23:00-05:00", "0 0 30 2 *", "2020-01-01T00:00Z"])
def test_the_preview_answers_422_for_a_viewer(serve: ServeProcess, expression: str) -> None:
    response = httpx.get(
        f"{serve.url}/api/scheduler/schedules/preview",
        params={"schedule": expression},
        headers={"Authorization": f"Bearer {_viewer_token(serve)}"},
        timeout=10,
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "invalid_schedule" and body["data"]["errors"][0]["field"] == "schedule"


def test_a_bad_override_in_the_database_does_not_keep_the_server_from_starting(serve: ServeProcess) -> None:
    serve.stop()

    async def corrupt(store: Any) -> None:  # as an older version (or a hand-edit) could have saved it
        await store.set_schedule_override("tick", HUGE, at=datetime.now(UTC), actor="admin")

    on_store(serve.database_url, corrupt)
    serve.start()
    log = serve.log()
    assert f"job tick: the stored schedule override {HUGE!r} cannot be applied" in log
    assert "the configured schedule 'every 1s' applies" in log
    assert "Traceback" not in log
    job = serve.api("GET", "/api/scheduler/jobs/tick")
    assert job["schedule"] == "every 1s" and job["schedule_overridden"] is False
    page = httpx.get(f"{serve.url}/jobs/tick", cookies={"jobdeck_session": serve.token}, timeout=10)
    assert page.status_code == 200
    _assert_ticks_every_second(serve, at_least=4)


def test_jobdeck_check_prints_one_line_per_problem(tmp_path: Path) -> None:
    (tmp_path / "bad_jobs.py").write_text(textwrap.dedent(JOBS_MODULE))
    (tmp_path / "jobs.toml").write_text(
        textwrap.dedent(
            f"""
            [[jobs]]
            id = "huge"
            func = "bad_jobs:tick"
            schedule = "{HUGE}"

            [[jobs]]
            id = "far"
            func = "bad_jobs:tick"
            schedule = "9999-12-31T23:00-05:00"
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "jobdeck", "check", "jobs.toml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    problems = [line.strip() for line in result.stderr.splitlines() if "field 'schedule'" in line]
    assert len(problems) == 2, result.stderr
    assert "job 'huge'" in problems[0] and "interval must be at most 36500 days" in problems[0]
    assert "job 'far'" in problems[1] and "date out of range" in problems[1]


def test_jobdeck_check_refuses_fire_times_past_the_supported_range(tmp_path: Path) -> None:
    (tmp_path / "bad_jobs.py").write_text(textwrap.dedent(JOBS_MODULE))
    (tmp_path / "jobs.toml").write_text('[[jobs]]\nid = "century"\nfunc = "bad_jobs:tick"\nschedule = "every 36500d"\n')
    command = [sys.executable, "-m", "jobdeck", "check", "jobs.toml"]
    ok = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    far = subprocess.run([*command, "--count", "100"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert far.returncode != 0 and "Traceback" not in far.stderr
    assert "job 'century'" in far.stderr and "run past 9998-12-31" in far.stderr


def test_a_pause_until_past_the_supported_range_is_refused(serve: ServeProcess) -> None:
    # Saved, it would overflow when shown in any timezone east of UTC: refused before the write.
    response = httpx.post(
        f"{serve.url}/api/scheduler/jobs/tick/pause",
        params={"until": "9999-12-31T23:00:00+00:00"},
        headers={"Authorization": f"Bearer {serve.token}"},
        timeout=10,
    )
    assert response.status_code == 422, response.text
    assert response.json()["data"]["errors"][0]["field"] == "until"
    assert serve.api("GET", "/api/scheduler/jobs/tick")["paused"] is False
