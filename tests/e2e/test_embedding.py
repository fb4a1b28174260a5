"""examples/embed_app.py: jobdeck inside a host FastAPI app, served over a real socket."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

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
