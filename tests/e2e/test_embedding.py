"""examples/embed_app.py: jobdeck inside a host FastAPI app, served over a real socket."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import FastAPI, Header

from jobdeck import JobDeck, Principal, Role, Settings
from jobdeck.errors import AuthError
from live_server import LiveServer, create_users, start_live_server, wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    url = f"sqlite+aiosqlite:///{tmp_path}/embed.db"
    monkeypatch.setenv("JOBDECK_DATABASE_URL", url)
    monkeypatch.syspath_prepend(str(ROOT))
    sys.modules.pop("examples.embed_app", None)
    module = importlib.import_module("examples.embed_app")
    create_users(url)
    server = start_live_server(module.app)
    yield server
    server.stop()


def test_the_host_app_and_jobdeck_routes_live_side_by_side(embedded: LiveServer) -> None:
    with embedded.anonymous() as client:
        assert client.get("/hello").json() == {"hello": "world"}
        assert client.get("/api/scheduler/jobs").status_code == 401
    with embedded.admin() as client:
        jobs = client.get("/api/scheduler/jobs").json()["data"]
        assert [job["id"] for job in jobs] == ["daily_report"]
        assert jobs[0]["display_name"] == "Daily report"
        run = client.post("/api/scheduler/jobs/daily_report/trigger", params={"force": True}).json()["data"]

        def finished() -> dict[str, object] | None:
            execution = client.get(f"/api/scheduler/executions/{run['id']}").json()["data"]
            return execution if execution["status"] != "running" else None

        done = wait_until(finished, timeout=10, what="the embedded job to finish")
    assert done["status"] == "success" and done["return_value"] == '{"rows": 20, "force": true}'


def test_jobdeck_errors_use_the_envelope_inside_the_host_app(embedded: LiveServer) -> None:
    with embedded.viewer() as client:
        body = client.post("/api/scheduler/jobs/daily_report/pause").json()
    assert body["success"] is False and body["code"] == "forbidden"
    with embedded.admin() as client:
        body = client.get("/api/scheduler/executions", params={"limit": 0}).json()
    assert body["code"] == "validation_error" and body["data"]["errors"][0]["field"] == "limit"


def test_a_host_app_can_bring_its_own_users(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/host.db"
    deck = JobDeck(Settings(database_url=url))

    @deck.job("hello", schedule="every 1h")
    def hello() -> str:
        return "hi"

    async def host_user(x_user: Annotated[str | None, Header()] = None) -> Principal:
        """The host's own notion of who is calling (here: a header its gateway sets)."""
        if not x_user:
            raise AuthError("the gateway sent no user")
        return Principal(username=x_user, role=Role.ADMIN if x_user == "boss" else Role.VIEWER, via="host")

    deck.use_auth(host_user)
    app = FastAPI(lifespan=deck.lifespan)
    app.include_router(deck.api_router)
    create_users(url)
    live = start_live_server(app)
    try:
        with live.anonymous() as client:
            assert client.get("/api/scheduler/jobs").status_code == 401
            assert client.get("/api/scheduler/jobs", headers={"X-User": "intern"}).status_code == 200
            refused = client.post("/api/scheduler/jobs/hello/pause", headers={"X-User": "intern"})
            assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
            assert client.post("/api/scheduler/jobs/hello/pause", headers={"X-User": "boss"}).status_code == 200
            me = client.get("/api/auth/me", headers={"X-User": "boss"}).json()["data"]
            assert me == {"username": "boss", "role": "admin", "via": "host"}
            history = client.get("/api/scheduler/jobs/hello/history", headers={"X-User": "boss"}).json()["data"]
            assert [(e["actor"], e["action"], e["status"]) for e in history["history"]] == [
                ("boss", "pause", "success")
            ]
    finally:
        live.stop()
