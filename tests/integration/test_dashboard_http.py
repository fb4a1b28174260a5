"""The dashboard over HTTP: sessions, cookies, CSRF on every form and action, roles, the schedule preview, and the
dashboard mounted in a host app."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from dashboard_server import ServeProcess
from live_server import ADMIN_PASSWORD, VIEWER_PASSWORD, LiveServer, create_users, start_live_server

pytestmark = pytest.mark.slow

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    process = ServeProcess.with_jobs(tmp_path_factory.mktemp("dashboard-http"))
    process.start()
    yield process
    process.stop()


def browser_session(base: str, username: str, password: str, prefix: str = "") -> tuple[httpx.Client, str]:
    """A cookie-keeping client signed in through the sign-in form, and the anti-forgery token of its pages."""
    client = httpx.Client(base_url=base, timeout=10)
    page = client.get(f"{prefix}/login")
    response = client.post(
        f"{prefix}/login",
        data={"username": username, "password": password, "csrf_token": TOKEN.findall(page.text)[0]},
    )
    assert response.status_code == 303, response.text
    token = TOKEN.findall(client.get(f"{prefix}/").text)[0]
    return client, token


def test_signing_in_sets_an_httponly_samesite_session_cookie(serve: ServeProcess) -> None:
    with httpx.Client(base_url=serve.url) as client:
        page = client.get("/login")
        assert "HttpOnly" in page.headers["set-cookie"] and "SameSite=strict" in page.headers["set-cookie"]
        token = TOKEN.findall(page.text)[0]
        response = client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": token})
    assert response.status_code == 303
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("jobdeck_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie  # plain http on loopback
    assert response.headers["content-security-policy"].startswith("default-src 'self'")


def test_sign_in_without_the_token_is_refused(serve: ServeProcess) -> None:
    with httpx.Client(base_url=serve.url) as client:
        client.get("/login")
        response = client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 403
    assert "jobdeck_session" not in response.headers.get("set-cookie", "")


def test_an_action_without_the_token_is_refused_and_changes_nothing(serve: ServeProcess) -> None:
    client, _ = browser_session(serve.url, "admin", ADMIN_PASSWORD)
    with closing(client):
        for path in ["/-/jobs/pausable/pause", "/-/jobs/quick/trigger", "/-/jobs/quick/metadata", "/logout"]:
            response = client.post(path, headers={"Accept": "application/json"})
            assert response.status_code == 403, path
        assert client.post("/-/jobs/pausable/pause", data={"csrf_token": "forged"}).status_code == 403
    assert serve.api("GET", "/api/scheduler/jobs/pausable")["paused"] is False
    assert serve.api("GET", "/api/scheduler/executions?job_id=quick")["total"] == 0


def test_a_token_from_another_session_is_refused(serve: ServeProcess) -> None:
    first, first_token = browser_session(serve.url, "admin", ADMIN_PASSWORD)
    second, second_token = browser_session(serve.url, "admin", ADMIN_PASSWORD)
    with closing(first), closing(second):
        assert first_token != second_token
        refused = second.post("/-/jobs/pausable/pause", data={"csrf_token": first_token}, headers={"Accept": "json"})
        assert refused.status_code == 403
        accepted = second.post(
            "/-/jobs/pausable/pause", data={"csrf_token": second_token}, headers={"Accept": "application/json"}
        )
        assert accepted.status_code == 200 and accepted.json()["success"] is True
        second.post("/-/jobs/pausable/resume", data={"csrf_token": second_token})
    assert serve.api("GET", "/api/scheduler/jobs/pausable")["paused"] is False


def test_a_viewer_with_a_valid_token_is_still_refused(serve: ServeProcess) -> None:
    client, token = browser_session(serve.url, "viewer", VIEWER_PASSWORD)
    with closing(client):
        page = client.get("/")
        assert "data-control" not in page.text and "data-action" not in page.text
        for path in ["/-/jobs/pausable/pause", "/-/jobs/quick/trigger", "/-/executions/x/cancel"]:
            response = client.post(path, data={"csrf_token": token}, headers={"Accept": "application/json"})
            assert response.status_code == 403, path
    assert serve.api("GET", "/api/scheduler/jobs/pausable")["paused"] is False


def test_pages_need_a_session(serve: ServeProcess) -> None:
    for path in ["/", "/jobs/quick", "/executions", "/audit"]:
        response = httpx.get(f"{serve.url}{path}")
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")


def test_an_unknown_job_page_is_a_404_page(serve: ServeProcess) -> None:
    client, _ = browser_session(serve.url, "admin", ADMIN_PASSWORD)
    with closing(client):
        response = client.get("/jobs/nope")
    assert response.status_code == 404 and "job_not_found" in response.text


def test_the_schedule_preview_names_the_field_of_an_invalid_schedule(serve: ServeProcess) -> None:
    headers = {"Authorization": f"Bearer {serve.token}"}
    bad = httpx.get(f"{serve.url}/api/scheduler/schedules/preview", params={"schedule": "61 * * * *"}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["data"]["errors"][0]["field"] == "schedule"
    assert "61" in bad.json()["data"]["errors"][0]["message"]
    good = httpx.get(
        f"{serve.url}/api/scheduler/schedules/preview",
        params={"schedule": "*/5 9-15 * * 1-5", "timezone": "Asia/Shanghai"},
        headers=headers,
    )
    data = good.json()["data"]
    assert data["valid"] is True and data["description"] == "every 5 minutes, 09:00–15:59, Mon–Fri"
    assert len(data["next_run_times"]) == 5 and all(t.endswith("+08:00") for t in data["next_run_times"])
    zone = httpx.get(
        f"{serve.url}/api/scheduler/schedules/preview", params={"schedule": "@daily", "timezone": "Mars/Base"},
        headers=headers,
    )  # fmt: skip
    assert zone.status_code == 422 and zone.json()["data"]["errors"][0]["field"] == "timezone"


def test_the_dashboard_mounted_in_a_host_app(tmp_path: Path) -> None:
    from jobdeck import JobDeck, Settings

    database_url = f"sqlite+aiosqlite:///{tmp_path}/host.db"
    create_users(database_url)
    deck = JobDeck(Settings(database_url=database_url, timezone="UTC"))

    @deck.job("host_job", schedule="every 1h", display_name="Host job")
    async def host_job() -> None:
        return None

    app = FastAPI(lifespan=deck.lifespan)
    app.include_router(deck.api_router)
    app.mount("/scheduler", deck.dashboard)
    live: LiveServer = start_live_server(app)
    try:
        assert httpx.get(f"{live.url}/scheduler/").headers["location"] == "/scheduler/login?next=/scheduler/"
        client, token = browser_session(live.url, "admin", ADMIN_PASSWORD, prefix="/scheduler")
        with closing(client):
            cookie = client.cookies.jar
            assert all(c.path == "/scheduler" for c in cookie)
            page = client.get("/scheduler/")
            assert page.status_code == 200 and "Host job" in page.text
            assert 'href="/scheduler/static/app.css"' in page.text
            assert client.get("/scheduler/static/app.js").status_code == 200
            response = client.post(
                "/scheduler/-/jobs/host_job/pause", data={"csrf_token": token}, headers={"Accept": "application/json"}
            )
            assert response.status_code == 200
            with client.stream("GET", "/scheduler/api/scheduler/events") as stream:
                assert stream.status_code == 200
                assert next(stream.iter_lines()).startswith("retry:")
        with live.admin() as api:
            assert api.get("/api/scheduler/jobs/host_job").json()["data"]["paused"] is True
    finally:
        live.stop()
