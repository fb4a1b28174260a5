"""Secrets never leave, over real `jobdeck serve` processes: a command job's environment, the signing key's length,
and access tokens revoked at once by a password change, disabling, a role change and signing out."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from live_server import ADMIN_PASSWORD, VIEWER_PASSWORD, ServeProcess, create_users, wait_until

SECRET_KEY = "a-test-signing-key-that-is-long-enough-0123456789"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

JOBS = """
[[jobs]]
id = "printenv"
command = ["{python}", "-c", "import os; [print(f'{{k}}={{v}}') for k, v in sorted(os.environ.items())]"]
schedule = "every 1d"
env = {{ JOB_OWN = "from-the-jobs-file" }}
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServeProcess]:
    (tmp_path / "jobs.toml").write_text(textwrap.dedent(JOBS.format(python=sys.executable)))
    process = ServeProcess(
        tmp_path,
        {
            "JOBDECK_SECRET_KEY": SECRET_KEY,
            "JOBDECK_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "JOBDECK_COMMAND_ENV": "PATH,LANG,ALLOWED_*",
            "ALLOWED_VISIBLE": "yes-visible",
            "NOT_ALLOWED": "never-shown",
        },
    )
    create_users(process.database_url)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def login(server: ServeProcess, username: str, password: str) -> httpx.Response:
    return httpx.post(f"{server.url}/api/auth/login", json={"username": username, "password": password}, timeout=10)


def token_of(server: ServeProcess, username: str, password: str) -> str:
    response = login(server, username, password)
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["access_token"])


def me(server: ServeProcess, token: str) -> int:
    return httpx.get(f"{server.url}/api/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code


def cli(server: ServeProcess, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "jobdeck", "users", *args],
        env={**os.environ, "JOBDECK_DATABASE_URL": server.database_url, "JOBDECK_SECRET_KEY": SECRET_KEY},
        cwd=server.folder,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result


def refused_soon(server: ServeProcess, token: str) -> Any:
    # Another process changed the user: the server trusts what it read for at most a second.
    return wait_until(lambda: me(server, token) == 401, timeout=5, what="the old token to be refused")


def test_command_job_gets_no_jobdeck_secret_but_the_allowed_variables(server: ServeProcess) -> None:
    viewer = token_of(server, "viewer", VIEWER_PASSWORD)
    run = server.api("POST", "/api/scheduler/jobs/printenv/trigger", json={})
    done = server.wait_execution(run["id"], lambda e: e["status"] != "running", timeout=20)
    assert done["status"] == "success", done
    log = server.api("GET", f"/api/scheduler/executions/{run['id']}/log?limit=1000", token=viewer)
    text = "\n".join(line["message"] for line in log["lines"])
    assert "ALLOWED_VISIBLE=yes-visible" in text
    assert "JOB_OWN=from-the-jobs-file" in text
    assert f"JOBDECK_EXECUTION_ID={run['id']}" in text  # what jobdeck tells the run about itself stays
    for secret in (SECRET_KEY, ADMIN_PASSWORD, server.database_url, "never-shown"):
        assert secret not in text
    assert "JOBDECK_SECRET_KEY" not in text and "JOBDECK_DATABASE_URL" not in text


def test_a_short_signing_key_is_refused_at_start(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "jobdeck", "serve", "--port", "0"],
        env={**os.environ, "JOBDECK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db", "JOBDECK_SECRET_KEY": "k"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "JOBDECK_SECRET_KEY" in result.stderr and "at least 32 bytes" in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_password_change_revokes_tokens(server: ServeProcess) -> None:
    old = token_of(server, "viewer", VIEWER_PASSWORD)
    assert me(server, old) == 200
    cli(server, "set-password", "viewer", "--password", "a-new-password-2")
    refused_soon(server, old)
    assert login(server, "viewer", VIEWER_PASSWORD).status_code == 401
    assert me(server, token_of(server, "viewer", "a-new-password-2")) == 200


def test_disable_revokes_tokens_and_sign_in_until_enabled(server: ServeProcess) -> None:
    old = token_of(server, "viewer", VIEWER_PASSWORD)
    cli(server, "disable", "viewer")
    refused_soon(server, old)
    assert login(server, "viewer", VIEWER_PASSWORD).status_code == 401
    assert "disabled" in cli(server, "list").stdout
    cli(server, "enable", "viewer")
    assert me(server, old) == 401  # enabling does not bring old tokens back
    assert me(server, token_of(server, "viewer", VIEWER_PASSWORD)) == 200


def test_role_change_revokes_tokens_and_the_new_role_applies(server: ServeProcess) -> None:
    old = token_of(server, "viewer", VIEWER_PASSWORD)
    paused = httpx.post(
        f"{server.url}/api/scheduler/jobs/printenv/pause", headers={"Authorization": f"Bearer {old}"}, timeout=10
    )
    assert paused.status_code == 403
    cli(server, "set-role", "viewer", "admin")
    refused_soon(server, old)
    new = token_of(server, "viewer", VIEWER_PASSWORD)
    assert server.api("GET", "/api/auth/me", token=new)["role"] == "admin"
    server.api("POST", "/api/scheduler/jobs/printenv/pause", token=new)


def test_logout_revokes_the_token_at_once(server: ServeProcess) -> None:
    token = token_of(server, "viewer", VIEWER_PASSWORD)
    other_session = token_of(server, "viewer", VIEWER_PASSWORD)
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.post(f"{server.url}/api/auth/logout", headers=headers, timeout=10).status_code == 200
    assert me(server, token) == 401  # no waiting: the same process revoked it
    assert httpx.post(f"{server.url}/api/auth/logout", headers=headers, timeout=10).status_code == 401
    assert me(server, other_session) == 200  # the user's other sessions go on
    assert me(server, server.token) == 200


def test_dashboard_sign_out_revokes_the_session_token(server: ServeProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as browser:
        page = browser.get("/login")
        csrf = CSRF.findall(page.text)[0]
        signed_in = browser.post("/login", data={"username": "viewer", "password": VIEWER_PASSWORD, "csrf_token": csrf})
        assert signed_in.status_code == 303
        session = browser.cookies["jobdeck_session"]
        assert me(server, session) == 200  # the cookie holds an access token
        csrf = CSRF.findall(browser.get("/").text)[0]
        assert browser.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert me(server, session) == 401  # a copy of the cookie is worthless from now on


def test_a_flood_of_wrong_passwords_on_the_sign_in_form_meets_429(server: ServeProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as browser:
        csrf = CSRF.findall(browser.get("/login").text)[0]
        answers = [
            browser.post("/login", data={"username": "viewer", "password": "wrong-password", "csrf_token": csrf})
            for _ in range(6)
        ]
    assert [a.status_code for a in answers] == [401] * 5 + [429]
    assert int(answers[-1].headers["retry-after"]) >= 59
    # The limit is per (user, address) and per address: the API refuses this address for this user too …
    assert login(server, "viewer", VIEWER_PASSWORD).status_code == 429
    # … but not another user from it.
    assert login(server, "admin", ADMIN_PASSWORD).status_code == 200


def test_responses_say_nosniff_and_docs_load_nothing_from_outside(server: ServeProcess) -> None:
    for path in ("/docs", "/redoc", "/api/scheduler/jobs", "/healthz"):
        response = httpx.get(f"{server.url}{path}", headers={"Authorization": f"Bearer {server.token}"}, timeout=10)
        assert response.status_code == 200, path
        assert response.headers["x-content-type-options"] == "nosniff", path
    docs = httpx.get(f"{server.url}/docs", timeout=10).text
    assert "swagger-ui-bundle.js" in docs
    assert "http://" not in docs and "https://" not in docs and "//cdn" not in docs
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert httpx.get(f"{server.url}/docs-assets/{asset}", timeout=10).status_code == 200


def test_refused_changes_are_audited_rolled_up(server: ServeProcess) -> None:
    viewer = token_of(server, "viewer", VIEWER_PASSWORD)
    for _ in range(5):
        answer = httpx.post(
            f"{server.url}/api/scheduler/jobs/printenv/pause", headers={"Authorization": f"Bearer {viewer}"}, timeout=10
        )
        assert answer.status_code == 403
    for _ in range(3):
        assert httpx.post(f"{server.url}/api/scheduler/jobs/printenv/trigger", timeout=10).status_code == 401
    assert httpx.get(f"{server.url}/api/scheduler/jobs", timeout=10).status_code == 401  # a read: not audited

    def rolled_up() -> Any:
        history = server.api("GET", "/api/scheduler/history?action=access_denied&limit=50")["history"]
        counts = {entry["actor"]: entry["details"]["count"] for entry in history}
        return history if counts == {"viewer": 5, "anonymous": 3} else None

    history = wait_until(rolled_up, timeout=5, what="the refused changes rolled up")
    assert len(history) == 2
    by_actor = {entry["actor"]: entry for entry in history}
    assert by_actor["viewer"]["details"]["status"] == 403
    assert by_actor["anonymous"]["details"]["path"] == "/api/scheduler/jobs/printenv/trigger"
    assert by_actor["viewer"]["details"]["address"] == "127.0.0.1"
