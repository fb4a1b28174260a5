"""The job runtime over HTTP: typed manual runs, idempotent triggers, the incremental log, timed pauses, HTTP jobs."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobdeck import JobContext, JobDeck, Settings, create_app
from jobdeck.models import HttpTarget, JobKind, JobSpec
from jobdeck.schedules import parse_schedule
from live_server import LiveServer, create_users, start_live_server, wait_until

pytestmark = pytest.mark.slow


class _Target(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        status = 200 if self.path.startswith("/ok") else 503
        reply = f"got {body.decode()} at {self.path}".encode()
        self.send_response(status)
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module", params=[False, True], ids=["host-loop", "engine-thread"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, target: str) -> Iterator[LiveServer]:
    """The same server with the engine on the host's loop and on a thread of its own (``engine_thread``)."""
    tmp: Path = tmp_path_factory.mktemp("runtime_api")
    settings = Settings(
        engine_thread=request.param,
        database_url=f"sqlite+aiosqlite:///{tmp}/api.db",
        timezone="Asia/Shanghai",
        heartbeat_interval=0.5,
        zombie_after=5,
        cancel_grace=1,
        shutdown_grace=2,
    )
    deck = JobDeck(settings)

    @deck.job("sync", schedule="every 1h")
    async def sync(ctx: JobContext, day: date, batch: int = 10, force: bool = False) -> str:
        return f"{day.isoformat()} x {batch}"

    @deck.job("talker", schedule="every 1h")
    async def talker(ctx: JobContext, lines: int = 5, delay: float = 0.05) -> None:
        for i in range(1, lines + 1):
            ctx.log(f"line {i}")
            await asyncio.sleep(delay)

    @deck.job("napper", schedule="every 1h")
    async def napper() -> None:
        return None

    for job_id, path in (("ping", "/ok"), ("ping_down", "/down")):
        deck.add_job(
            JobSpec(
                id=job_id,
                func="",
                kind=JobKind.HTTP,
                http=HttpTarget(url=target + path, method="POST", json={"hello": "world"}),
                schedule=parse_schedule("every 1h"),
            )
        )
    create_users(settings.database_url)
    server = start_live_server(create_app(deck=deck))
    yield server
    server.stop()


def data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()["data"]


def finished(live: LiveServer, execution_id: str) -> dict[str, Any]:
    with live.admin() as client:

        def probe() -> Any:
            execution = data(client.get(f"/api/scheduler/executions/{execution_id}"))
            return execution if execution["status"] != "running" else None

        return wait_until(probe, timeout=10, what=f"execution {execution_id} to finish")  # type: ignore[no-any-return]


def test_job_detail_shows_the_parameters_schema(live: LiveServer) -> None:
    with live.viewer() as client:
        detail = data(client.get("/api/scheduler/jobs/sync"))
        ping = data(client.get("/api/scheduler/jobs/ping"))
    schema = detail["parameters"]
    assert schema["required"] == ["day"]
    assert set(schema["properties"]) == {"day", "batch"}
    assert schema["properties"]["day"]["format"] == "date"
    assert (detail["overlap"], detail["target"]) == ("skip", detail["func"])
    assert (ping["kind"], ping["parameters"], ping["http"]["method"]) == ("http", None, "POST")


def test_trigger_with_wrong_kwargs_is_a_422_naming_the_parameter_and_starts_nothing(live: LiveServer) -> None:
    with live.admin() as client:
        before = data(client.get("/api/scheduler/jobs/sync/executions"))["total"]
        response = client.post("/api/scheduler/jobs/sync/trigger", json={"kwargs": {"day": "2026-03-06", "batch": "x"}})
        missing = client.post("/api/scheduler/jobs/sync/trigger", json={"kwargs": {"batch": 5}})
        after = data(client.get("/api/scheduler/jobs/sync/executions"))["total"]
    assert response.status_code == 422, response.text
    body = response.json()
    assert (body["success"], body["code"]) == (False, "invalid_kwargs")
    assert body["data"]["errors"][0]["field"] == "kwargs.batch"
    assert "batch" in body["message"]
    assert missing.status_code == 422 and missing.json()["data"]["errors"][0]["field"] == "kwargs.day"
    assert after == before


def test_typed_kwargs_run(live: LiveServer) -> None:
    with live.admin() as client:
        run = data(client.post("/api/scheduler/jobs/sync/trigger", json={"kwargs": {"day": "2026-03-06"}}))
    assert finished(live, run["id"])["return_value"] == "2026-03-06 x 10"


def test_the_same_idempotency_key_twice_gives_one_execution(live: LiveServer) -> None:
    headers = {"Idempotency-Key": "nightly-2026-03-06"}
    body = {"kwargs": {"day": "2026-03-06", "batch": 2}}
    with live.admin() as client:
        before = data(client.get("/api/scheduler/jobs/sync/executions"))["total"]
        first = client.post("/api/scheduler/jobs/sync/trigger", json=body, headers=headers)
        second = client.post("/api/scheduler/jobs/sync/trigger", json=body, headers=headers)
        other = client.post(
            "/api/scheduler/jobs/sync/trigger",
            params={"force": True},
            json=body,
            headers={"Idempotency-Key": "another"},
        )
        after = data(client.get("/api/scheduler/jobs/sync/executions"))["total"]
    assert data(first)["id"] == data(second)["id"] != data(other)["id"]
    assert "already triggered" in second.json()["message"]
    assert after == before + 2


def test_the_log_is_read_incrementally(live: LiveServer) -> None:
    with live.admin() as client:
        run = data(client.post("/api/scheduler/jobs/talker/trigger", json={"kwargs": {"lines": 8, "delay": 0.1}}))
        seen: list[str] = []
        after = 0
        status = "running"
        deadline = datetime.now(UTC) + timedelta(seconds=15)
        while status == "running" and datetime.now(UTC) < deadline:
            page = data(client.get(f"/api/scheduler/executions/{run['id']}/log", params={"after": after}))
            seen += [line["message"] for line in page["lines"]]
            assert page["last_seq"] >= after
            after, status = page["last_seq"], page["status"]
            threading.Event().wait(0.05)
        final = data(client.get(f"/api/scheduler/executions/{run['id']}/log", params={"after": after}))
        seen += [line["message"] for line in final["lines"]]
        missing = client.get("/api/scheduler/executions/nope/log")
    assert seen == [f"line {i}" for i in range(1, 9)]
    assert missing.status_code == 404


def test_a_timed_pause_resumes_by_itself_and_both_ends_are_audited(live: LiveServer) -> None:
    until = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
    with live.admin() as client:
        paused = data(client.post("/api/scheduler/jobs/napper/pause", params={"until": until}))
        assert paused["paused"] is True and paused["paused_until"] is not None
        past = client.post("/api/scheduler/jobs/napper/pause", params={"until": "2020-01-01T00:00:00+00:00"})
        assert past.status_code == 422 and past.json()["data"]["errors"][0]["field"] == "until"

        def resume_audited() -> Any:
            # The audit record is written as the resume's action ends, a moment after the job shows resumed.
            history = data(client.get("/api/scheduler/jobs/napper/history"))["history"]
            return history if any(entry["action"] == "resume" for entry in history) else None

        history = wait_until(resume_audited, timeout=10, what="the timed pause to end and be audited")
        job = data(client.get("/api/scheduler/jobs/napper"))
    assert job["paused"] is False and job["paused_until"] is None and job["next_run_time"] is not None
    actions = [(entry["action"], entry["actor"], entry["status"]) for entry in history]
    assert ("resume", "system", "success") in actions
    assert ("pause", "admin", "success") in actions
    resume = next(entry for entry in history if entry["action"] == "resume")
    assert resume["details"]["reason"] == "timed pause ended"


def test_http_jobs_record_the_status_and_body(live: LiveServer) -> None:
    with live.admin() as client:
        ok = data(client.post("/api/scheduler/jobs/ping/trigger"))
        down = data(client.post("/api/scheduler/jobs/ping_down/trigger"))
    good, bad = finished(live, ok["id"]), finished(live, down["id"])
    assert good["status"] == "success"
    assert good["return_value"] == '{"status": 200, "body": "got {\\"hello\\": \\"world\\"} at /ok"}'
    assert bad["status"] == "failed"
    assert bad["error_message"].startswith("HTTP 503 from POST ")
    assert "(expected 2xx)" in bad["error_message"]
    assert any("HTTP 503" in line["message"] for line in bad["log"])
