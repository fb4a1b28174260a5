"""`jobdeck jobs …` and `jobdeck runs …` against a real `jobdeck serve`: tables, --json, --wait, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from serve_process import ServeProcess
from typer.testing import CliRunner

from jobdeck.cli import app
from jobdeck.client import JobdeckClient
from live_server import free_port

pytestmark = pytest.mark.slow


def run(serve: ServeProcess, *args: str, token: str | None = None) -> tuple[int, str, str]:
    env = {"JOBDECK_URL": serve.url, "JOBDECK_TOKEN": serve.admin_token if token is None else token}
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def run_json(serve: ServeProcess, *args: str) -> Any:
    code, out, err = run(serve, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_jobs_list_prints_a_table_and_json(serve: ServeProcess) -> None:
    code, out, _ = run(serve, "jobs", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "SCHEDULE", "NEXT", "RUN", "STATE", "RUNNING"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"walker", "echo", "boom"}
    assert "paused" in rows["boom"] and "Walker" in rows["walker"]
    assert {job["id"] for job in run_json(serve, "jobs", "list")} == {"walker", "echo", "boom"}


def test_jobs_show(serve: ServeProcess) -> None:
    code, out, _ = run(serve, "jobs", "show", "echo")
    assert code == 0
    assert "function:      client_jobs:echo" in out and '"label": "configured"' in out and "next runs:" in out
    assert run_json(serve, "jobs", "show", "echo")["kwargs"] == {"label": "configured"}


def test_pause_and_resume(serve: ServeProcess) -> None:
    code, out, _ = run(serve, "jobs", "pause", "echo")
    assert code == 0 and out.strip() == "Job echo paused"
    assert run_json(serve, "jobs", "show", "echo")["paused"] is True
    code, out, _ = run(serve, "jobs", "resume", "echo")
    assert code == 0 and out.startswith("Job echo resumed")
    assert run_json(serve, "jobs", "resume", "echo")["paused"] is False


def test_pause_until_a_time(serve: ServeProcess) -> None:
    code, out, _ = run(serve, "jobs", "pause", "echo", "--until", "2099-01-01T00:00:00+00:00")
    assert code == 0 and out.strip() == "Job echo paused until 2099-01-01 08:00:00"
    assert run_json(serve, "jobs", "resume", "echo")["paused_until"] is None


def test_trigger_wait_follows_the_run_to_success(serve: ServeProcess) -> None:
    code, out, err = run(serve, "jobs", "trigger", "walker", "--wait", "--kwargs", '{"items": 4, "delay": 0.05}')
    assert code == 0, err
    assert out.startswith("Started run ") and "succeeded in" in out and 'returned: {"walked": 4}' in out
    assert "100%" in err  # the progress bar, on stderr


def test_trigger_wait_exits_non_zero_when_the_run_fails(serve: ServeProcess) -> None:
    code, _, err = run(serve, "jobs", "trigger", "boom", "--wait")
    assert code == 1
    assert "failed: " in err and "boom on purpose" in err


def test_trigger_without_wait_and_with_json(serve: ServeProcess) -> None:
    code, out, _ = run(serve, "jobs", "trigger", "echo")
    assert code == 0 and out.startswith("Started run ")
    done = run_json(serve, "jobs", "trigger", "echo", "--wait", "--force", "--kwargs", '{"label": "cli"}')
    assert done["status"] == "success" and done["return_value"] == '{"label": "cli", "force": true}'


def test_trigger_409_without_force_is_the_servers_message(serve: ServeProcess) -> None:
    with JobdeckClient(serve.url, token=serve.admin_token) as client:
        first = client.trigger_job("walker", kwargs={"items": 400, "delay": 0.05})
        try:
            code, _, err = run(serve, "jobs", "trigger", "walker")
            assert code == 1 and "already has 1 running execution" in err and "force" in err
            code, out, _ = run(serve, "runs", "cancel", first["id"])
            assert code == 0 and out.strip() == f"Cancellation of run {first['id']} requested"
            done = client.wait_for_execution(first["id"], timeout=10, interval=0.1)
        finally:
            client.get_execution(first["id"])
    assert done["status"] == "cancelled"
    code, _, err = run(serve, "runs", "cancel", first["id"])
    assert code == 1 and "is not running" in err


def test_runs_list_show_and_tail(serve: ServeProcess) -> None:
    done = run_json(serve, "jobs", "trigger", "walker", "--wait", "--kwargs", '{"items": 3, "delay": 0.01}')
    code, out, _ = run(serve, "runs", "list", "--job", "walker", "--status", "success", "--limit", "50")
    assert code == 0
    assert out.splitlines()[0].split()[:4] == ["ID", "JOB", "STATUS", "TRIGGER"]
    assert any(line.startswith(done["id"]) and " success " in line for line in out.splitlines())
    page = run_json(serve, "runs", "list", "--job", "walker", "--manual")
    assert all(item["is_manual"] for item in page["items"]) and page["total"] >= 1
    code, out, _ = run(serve, "runs", "show", done["id"])
    assert code == 0 and f"id:              {done['id']}" in out and "step 2" in out
    assert run_json(serve, "runs", "show", done["id"])["log"][0]["message"] == "step 0"
    code, out, _ = run(serve, "runs", "tail", done["id"])
    assert code == 0
    assert [line.split()[-2:] for line in out.splitlines() if "step" in line] == [
        ["step", "0"],
        ["step", "1"],
        ["step", "2"],
    ]
    assert "progress 100% (3/3) item 2" in out and "succeeded" in out


def test_runs_tail_follows_a_running_run_until_it_ends(serve: ServeProcess) -> None:
    with JobdeckClient(serve.url, token=serve.admin_token) as client:
        run_ = client.trigger_job("walker", force=True, kwargs={"items": 10, "delay": 0.05})
    code, out, _ = run(serve, "runs", "tail", run_["id"], "--interval", "0.1")
    assert code == 0
    assert sum(1 for line in out.splitlines() if "step" in line) == 10 and "succeeded" in out


def test_unknown_job_and_run_print_the_404_message(serve: ServeProcess) -> None:
    code, out, err = run(serve, "jobs", "show", "nope")
    assert code == 1 and out == "" and err.strip() == "error: Job 'nope' does not exist"
    code, _, err = run(serve, "runs", "show", "01NOPE")
    assert code == 1 and err.strip() == "error: Execution '01NOPE' does not exist"


def test_bad_token_is_one_clear_line_and_exit_1(serve: ServeProcess) -> None:
    code, out, err = run(serve, "jobs", "list", token="not-a-token")
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: {serve.url} refused the token: ")


def test_missing_token_and_viewer_limits(serve: ServeProcess) -> None:
    code, _, err = run(serve, "jobs", "list", token="")
    assert code == 1 and "JOBDECK_TOKEN" in err
    code, _, err = run(serve, "jobs", "pause", "echo", token=serve.viewer_token)
    assert code == 1 and "needs the admin role" in err
    code, out, _ = run(serve, "jobs", "list", token=serve.viewer_token)
    assert code == 0 and "walker" in out


def test_no_server_is_a_clear_error() -> None:
    result = CliRunner().invoke(app, ["jobs", "list", "--url", f"http://127.0.0.1:{free_port()}", "--token", "t"])
    assert result.exit_code == 1 and "cannot reach jobdeck at" in result.stderr


def test_the_installed_command_uses_url_and_token_options(serve: ServeProcess) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("JOBDECK_")}
    args = ["--url", serve.url, "--token", serve.admin_token, "--json"]
    result = subprocess.run(
        [sys.executable, "-m", "jobdeck", "jobs", "list", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert {job["id"] for job in json.loads(result.stdout)} == {"walker", "echo", "boom"}
    bad = subprocess.run(
        [sys.executable, "-m", "jobdeck", "jobs", "show", "nope", "--url", serve.url, "--token", "bad"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "refused the token" in bad.stderr
