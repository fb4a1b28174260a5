"""The REST API over a real loopback socket: auth per route, the envelope, the run lifecycle, bad input."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobdeck import JobContext, JobDeck, Settings, create_app
from jobdeck.auth import Authenticator
from jobdeck.clock import SystemClock
from jobdeck.models import Role
from live_server import LiveServer, create_users, on_store, start_live_server, wait_until

pytestmark = pytest.mark.slow


def build_deck(tmp: Path, *, engine_thread: bool = False) -> JobDeck:
    settings = Settings(
        engine_thread=engine_thread,
        database_url=f"sqlite+aiosqlite:///{tmp}/api.db",
        timezone="Asia/Shanghai",
        heartbeat_interval=0.5,
        zombie_after=5,
        cancel_grace=1,
        shutdown_grace=2,
    )
    deck = JobDeck(settings)

    @deck.job("walker", schedule="every 1h", display_name="Walker", description="Walks items with progress")
    async def walker(ctx: JobContext, items: int = 5, delay: float = 0.05) -> dict[str, int]:
        for index in range(items):
            await ctx.progress(processed_items=index, total_items=items, message=f"item {index}")
            await asyncio.sleep(delay)
        return {"walked": items}

    @deck.job("probe", schedule="every 1h", kwargs={"label": "configured"})
    async def probe(label: str, force: bool = False) -> dict[str, Any]:
        return {"force": force, "label": label}

    @deck.job("sleepy", schedule="every 1h", paused=True, display_name="Starts paused")
    def sleepy() -> str:
        return "ran"

    @deck.job("ticker", schedule="every 1s", tags=["fast"])
    async def ticker() -> int:
        await asyncio.sleep(0.01)
        return 1

    return deck


@pytest.fixture(scope="module", params=[False, True], ids=["host-loop", "engine-thread"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The server with the engine on the host's loop and on a thread of its own (``engine_thread``)."""
    tmp = tmp_path_factory.mktemp("api")
    deck = build_deck(tmp, engine_thread=request.param)
    create_users(deck.settings.database_url)
    server = start_live_server(create_app(deck=deck))
    yield server
    server.stop()


def data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is (status < 400)
    assert {"data", "message", "timestamp", "request_id"} <= body.keys()
    return body["data"]


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["detail"] == body["message"] and body["message"]
    assert body["code"]
    return body  # type: ignore[no-any-return]


def wait_execution(live: LiveServer, execution_id: str, predicate: Any, *, timeout: float = 10) -> dict[str, Any]:
    with live.admin() as client:

        def probe() -> Any:
            execution = data(client.get(f"/api/scheduler/executions/{execution_id}"))
            return execution if predicate(execution) else None

        return wait_until(probe, timeout=timeout, what=f"execution {execution_id}")  # type: ignore[no-any-return]


def trigger(
    live: LiveServer, job_id: str, *, force: bool = False, kwargs: dict[str, Any] | None = None
) -> dict[str, Any]:
    with live.admin() as client:
        body = {"kwargs": kwargs} if kwargs is not None else None
        return data(  # type: ignore[no-any-return]
            client.post(f"/api/scheduler/jobs/{job_id}/trigger", params={"force": force}, json=body)
        )


# -- every route: no token, viewer, admin -------------------------------------------------------------------------

READS = [
    ("GET", "/api/scheduler/jobs"),
    ("GET", "/api/scheduler/jobs/walker"),
    ("GET", "/api/scheduler/jobs/walker/history"),
    ("GET", "/api/scheduler/history"),
    ("GET", "/api/scheduler/executions"),
    ("GET", "/api/scheduler/jobs/walker/executions"),
    ("GET", "/api/scheduler/jobs/walker/execution-stats"),
    ("GET", "/api/scheduler/stats"),
    ("GET", "/api/scheduler/health"),
    ("GET", "/api/auth/me"),
]


@pytest.mark.parametrize(("method", "path"), READS)
def test_reads_need_a_signed_in_user_of_any_role(live: LiveServer, method: str, path: str) -> None:
    with live.anonymous() as client:
        error(client.request(method, path), 401)
    with live.client("not-a-token") as client:
        error(client.request(method, path), 401)
    with live.viewer() as client:
        data(client.request(method, path))
    with live.admin() as client:
        data(client.request(method, path))


def _changes(live: LiveServer) -> list[tuple[str, str, dict[str, Any] | None]]:
    finished = trigger(live, "walker", kwargs={"items": 1, "delay": 0})
    wait_execution(live, finished["id"], lambda e: e["status"] == "success")
    running_a = trigger(live, "walker", kwargs={"items": 200, "delay": 0.1})
    running_b = trigger(live, "walker", force=True, kwargs={"items": 200, "delay": 0.1})
    return [
        ("POST", "/api/scheduler/jobs/probe/pause", None),
        ("POST", "/api/scheduler/jobs/probe/resume", None),
        ("POST", "/api/scheduler/jobs/probe/trigger", None),
        ("PUT", "/api/scheduler/jobs/probe/metadata", {"display_name": "Probe"}),
        ("PUT", "/api/scheduler/jobs/probe/schedule", {"schedule": "every 2h"}),
        ("DELETE", "/api/scheduler/jobs/probe/schedule", None),
        ("POST", f"/api/scheduler/executions/{running_a['id']}/cancel", None),
        ("POST", f"/api/scheduler/executions/{running_b['id']}/mark-failed", None),
        ("DELETE", f"/api/scheduler/executions/{finished['id']}", None),
    ]


def test_every_change_needs_an_admin(live: LiveServer) -> None:
    for method, path, body in _changes(live):
        with live.anonymous() as client:
            error(client.request(method, path, json=body), 401)
        with live.viewer() as client:
            assert error(client.request(method, path, json=body), 403)["code"] == "forbidden"
        with live.admin() as client:
            data(client.request(method, path, json=body))


def test_a_refused_viewer_action_changes_nothing_and_is_not_run(live: LiveServer) -> None:
    with live.admin() as client:
        before = data(client.get("/api/scheduler/jobs/probe/executions"))["total"]
    with live.viewer() as client:
        error(client.post("/api/scheduler/jobs/probe/trigger"), 403)
        error(client.post("/api/scheduler/jobs/probe/pause"), 403)
    with live.admin() as client:
        assert data(client.get("/api/scheduler/jobs/probe/executions"))["total"] == before
        assert data(client.get("/api/scheduler/jobs/probe"))["paused"] is False


# -- runs ----------------------------------------------------------------------------------------------------------


def test_manual_run_gives_one_record_from_running_to_success(live: LiveServer) -> None:
    started = trigger(live, "walker", kwargs={"items": 3, "delay": 0.05})
    assert started["status"] == "running" and started["is_manual"] is True and started["trigger"] == "manual"
    assert started["_id"] == started["id"]
    done = wait_execution(live, started["id"], lambda e: e["status"] != "running")
    assert done["status"] == "success"
    assert done["return_value"] == '{"walked": 3}'
    elapsed = datetime.fromisoformat(done["finished_at"]) - datetime.fromisoformat(done["started_at"])
    assert done["execution_time"] == pytest.approx(elapsed.total_seconds(), abs=1e-3)
    with live.admin() as client:
        records = data(client.get("/api/scheduler/executions", params={"job_id": "walker", "is_manual": True}))
    assert [e["id"] for e in records["items"]].count(started["id"]) == 1


def test_scheduled_runs_are_recorded_once_per_fire(live: LiveServer) -> None:
    with live.admin() as client:

        def two_finished() -> Any:
            page = data(client.get("/api/scheduler/jobs/ticker/executions", params={"status": "success"}))
            return page["items"] if page["total"] >= 2 else None

        runs = wait_until(two_finished, timeout=10, what="two scheduled ticker runs")
    assert all(run["trigger"] == "schedule" and run["is_manual"] is False for run in runs)
    fire_times = [run["scheduled_time"] for run in runs]
    assert len(fire_times) == len(set(fire_times))
    for run in runs:
        elapsed = datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(run["started_at"])
        assert run["execution_time"] == pytest.approx(elapsed.total_seconds(), abs=1e-3)


def test_trigger_leaves_a_paused_job_paused(live: LiveServer) -> None:
    with live.admin() as client:
        assert data(client.get("/api/scheduler/jobs/sleepy"))["paused"] is True
    run = trigger(live, "sleepy")
    done = wait_execution(live, run["id"], lambda e: e["status"] != "running")
    assert done["status"] == "success" and done["return_value"] == "ran"
    with live.admin() as client:
        job = data(client.get("/api/scheduler/jobs/sleepy"))
        assert job["paused"] is True and job["next_run_time"] is None
        assert data(client.get("/api/scheduler/jobs/sleepy/executions"))["total"] == 1


def test_force_reaches_the_job_and_changes_nothing_about_it(live: LiveServer) -> None:
    with live.admin() as client:
        before = data(client.get("/api/scheduler/jobs/probe"))
    run = trigger(live, "probe", force=True)
    assert run["force"] is True
    done = wait_execution(live, run["id"], lambda e: e["status"] != "running")
    assert done["return_value"] == '{"force": true, "label": "configured"}'
    with live.admin() as client:
        after = data(client.get("/api/scheduler/jobs/probe"))
    assert after["kwargs"] == before["kwargs"] == {"label": "configured"}
    assert after["paused"] == before["paused"] and after["schedule"] == before["schedule"]
    plain = trigger(live, "probe", kwargs={"label": "this run"})
    assert wait_execution(live, plain["id"], lambda e: e["status"] == "success")["return_value"] == (
        '{"force": false, "label": "this run"}'
    )


def test_trigger_answers_409_while_max_instances_run_unless_forced(live: LiveServer) -> None:
    first = trigger(live, "walker", kwargs={"items": 100, "delay": 0.1})
    with live.admin() as client:
        body = error(client.post("/api/scheduler/jobs/walker/trigger"), 409)
        assert body["code"] == "job_already_running"
        forced = data(
            client.post("/api/scheduler/jobs/walker/trigger", params={"force": True}, json={"kwargs": {"items": 1}})
        )
        for execution_id in (first["id"], forced["id"]):
            client.post(f"/api/scheduler/executions/{execution_id}/cancel")
    wait_execution(live, first["id"], lambda e: e["status"] == "cancelled")


def test_progress_is_visible_while_running_and_cancel_stops_at_next_progress(live: LiveServer) -> None:
    run = trigger(live, "walker", kwargs={"items": 500, "delay": 0.05})
    moving = wait_execution(live, run["id"], lambda e: (e["processed_items"] or 0) >= 3)
    assert moving["status"] == "running" and moving["total_items"] == 500 and 0 < moving["progress"] < 100
    assert moving["progress_message"].startswith("item ")
    with live.admin() as client:
        listed = data(client.get("/api/scheduler/executions", params={"job_id": "walker", "status": "running"}))
        assert any(e["id"] == run["id"] and e["processed_items"] for e in listed["items"])
        cancelled = data(client.post(f"/api/scheduler/executions/{run['id']}/cancel"))
        assert cancelled["cancel_requested"] is True
    done = wait_execution(live, run["id"], lambda e: e["status"] != "running", timeout=5)
    assert done["status"] == "cancelled"
    assert done["processed_items"] < 500


def test_finished_runs_refuse_cancel_and_mark_failed_and_running_ones_refuse_delete(live: LiveServer) -> None:
    finished = trigger(live, "walker", kwargs={"items": 1, "delay": 0})
    wait_execution(live, finished["id"], lambda e: e["status"] == "success")
    running = trigger(live, "walker", force=True, kwargs={"items": 300, "delay": 0.1})
    with live.admin() as client:
        assert error(client.post(f"/api/scheduler/executions/{finished['id']}/cancel"), 409)["code"] == (
            "execution_not_running"
        )
        error(client.post(f"/api/scheduler/executions/{finished['id']}/mark-failed"), 409)
        assert error(client.delete(f"/api/scheduler/executions/{running['id']}"), 409)["code"] == "execution_running"
        failed = data(client.post(f"/api/scheduler/executions/{running['id']}/mark-failed", params={"reason": "stuck"}))
        assert failed["status"] == "failed" and failed["error_message"] == "stuck"
        assert data(client.get(f"/api/scheduler/executions/{finished['id']}"))["status"] == "success"
        history = data(client.get("/api/scheduler/history", params={"action": "cancel", "status": "failed"}))
        assert any(entry["execution_id"] == finished["id"] for entry in history["history"])


def test_metadata_edit_clears_with_empty_string_and_leaves_with_null(live: LiveServer) -> None:
    with live.admin() as client:
        data(client.put("/api/scheduler/jobs/walker/metadata", json={"display_name": "Renamed", "description": "New"}))
        job = data(client.put("/api/scheduler/jobs/walker/metadata", json={"description": ""}))
        assert job["display_name"] == "Renamed" and job["description"] == ""
        job = data(client.put("/api/scheduler/jobs/walker/metadata", json={"display_name": None}))
        assert job["display_name"] == "Renamed"
        listed = {j["id"]: j for j in data(client.get("/api/scheduler/jobs"))}
        assert listed["walker"]["display_name"] == "Renamed"
        entries = data(client.get("/api/scheduler/jobs/walker/history"))["history"]
        assert entries[0]["action"] == "update_metadata" and entries[0]["actor"] == "admin"


def test_schedule_override_is_validated_applied_and_reverted(live: LiveServer) -> None:
    with live.admin() as client:
        body = error(client.put("/api/scheduler/jobs/probe/schedule", json={"schedule": "61 * * * *"}), 422)
        assert body["data"]["errors"][0]["field"] == "schedule" and "61" in body["message"]
        job = data(client.put("/api/scheduler/jobs/probe/schedule", json={"schedule": "30 6 * * *"}))
        assert job["schedule"] == "30 6 * * *" and job["schedule_overridden"] is True
        assert all(datetime.fromisoformat(t).strftime("%H:%M") == "06:30" for t in job["next_run_times"])
        job = data(client.delete("/api/scheduler/jobs/probe/schedule"))
        assert job["schedule"] == job["configured_schedule"] == "every 1h" and job["schedule_overridden"] is False


def test_the_job_list_shows_every_change_as_soon_as_it_is_answered(live: LiveServer) -> None:
    """The list is served from what the last request read while nothing changed; each change must show at once."""
    with live.admin() as client:

        def listed() -> dict[str, Any]:
            return {job["id"]: job for job in data(client.get("/api/scheduler/jobs"))}

        wait_until(lambda: listed()["walker"]["running"] == 0, timeout=10, what="no walker run going")
        run = trigger(live, "walker", kwargs={"items": 300, "delay": 0.1})
        assert listed()["walker"]["running"] == 1
        data(client.post("/api/scheduler/executions/" + run["id"] + "/cancel"))
        wait_execution(live, run["id"], lambda e: e["status"] != "running")
        assert listed()["walker"]["running"] == 0

        data(client.post("/api/scheduler/jobs/walker/pause"))
        walker = listed()["walker"]
        assert walker["paused"] is True and walker["next_run_time"] is None
        data(client.post("/api/scheduler/jobs/walker/resume"))
        walker = listed()["walker"]
        assert walker["paused"] is False and walker["next_run_time"] is not None

        data(client.put("/api/scheduler/jobs/probe/schedule", json={"schedule": "45 7 * * *"}))
        assert listed()["probe"]["schedule"] == "45 7 * * *"
        data(client.delete("/api/scheduler/jobs/probe/schedule"))
        assert listed()["probe"]["schedule"] == "every 1h"

        data(client.put("/api/scheduler/jobs/probe/metadata", json={"description": "Listed at once"}))
        assert listed()["probe"]["description"] == "Listed at once"

        # A fire moves the job's next run time: once the fire's record is visible, so is the new next run.
        due = listed()["ticker"]["next_run_time"]

        def fired() -> bool:
            page = data(client.get("/api/scheduler/jobs/ticker/executions", params={"limit": 5}))
            return any(
                datetime.fromisoformat(e["scheduled_time"]) >= datetime.fromisoformat(due) for e in page["items"]
            )

        wait_until(fired, timeout=10, what=f"the ticker fire due at {due}")
        assert datetime.fromisoformat(listed()["ticker"]["next_run_time"]) > datetime.fromisoformat(due)


def test_stats_health_and_execution_stats_have_the_documented_shape(live: LiveServer) -> None:
    with live.viewer() as client:
        stats = data(client.get("/api/scheduler/stats"))
        assert stats["total_jobs"] == 4 and stats["paused_jobs"] + stats["running_jobs"] == 4
        assert stats["scheduler_running"] is True and set(stats["executions_24h"]) >= {"success", "failed"}
        health = data(client.get("/api/scheduler/health"))
        assert health["status"] == "healthy" and health["store"]["ok"] is True
        job_stats = data(client.get("/api/scheduler/jobs/ticker/execution-stats"))
        assert job_stats["total"] >= job_stats["success"] >= 1
        assert 0 <= job_stats["success_rate"] <= 100 and job_stats["last_execution"]["status"]


# -- bad input ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/scheduler/executions?limit=0", "limit"),
        ("/api/scheduler/executions?limit=-1", "limit"),
        ("/api/scheduler/executions?limit=1000000000", "limit"),
        ("/api/scheduler/executions?limit=abc", "limit"),
        ("/api/scheduler/executions?offset=-5", "offset"),
        ("/api/scheduler/executions?status=exploded", "status"),
        ("/api/scheduler/executions?is_manual=perhaps", "is_manual"),
        ("/api/scheduler/executions?since=2026-01-01T00:00:00", "since"),
        ("/api/scheduler/executions?since=yesterday", "since"),
        ("/api/scheduler/history?limit=201", "limit"),
        ("/api/scheduler/jobs/walker/history?limit=101", "limit"),
        ("/api/scheduler/history?status=maybe", "status"),
    ],
)
def test_bad_query_parameters_are_422_naming_the_field(live: LiveServer, path: str, field: str) -> None:
    with live.viewer() as client:
        body = error(client.get(path), 422)
    assert body["code"] == "validation_error"
    assert [e["field"] for e in body["data"]["errors"]] == [field]
    assert field in body["message"]


@pytest.mark.parametrize(
    ("method", "path", "content", "field"),
    [
        ("POST", "/api/scheduler/jobs/probe/trigger", b"{not json", "body"),
        ("POST", "/api/scheduler/jobs/probe/trigger", b'{"kwargs": [1, 2]}', "kwargs"),
        ("POST", "/api/scheduler/jobs/probe/trigger?force=sure", b"", "force"),
        ("PUT", "/api/scheduler/jobs/probe/metadata", b'{"display_name": 5}', "display_name"),
        ("PUT", "/api/scheduler/jobs/probe/metadata", b"[]", "body"),
        ("PUT", "/api/scheduler/jobs/probe/schedule", b"{}", "schedule"),
        ("POST", "/api/auth/login", b'{"username": "admin"}', "password"),
    ],
)
def test_malformed_bodies_are_422_naming_the_field(
    live: LiveServer, method: str, path: str, content: bytes, field: str
) -> None:
    with live.admin() as client:
        response = client.request(method, path, content=content, headers={"content-type": "application/json"})
    body = error(response, 422)
    assert field in [e["field"] for e in body["data"]["errors"]]
    with live.admin() as client:
        assert data(client.get("/api/scheduler/jobs/probe"))["display_name"] != 5


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", "/api/scheduler/jobs/nope", "job_not_found"),
        ("POST", "/api/scheduler/jobs/nope/pause", "job_not_found"),
        ("POST", "/api/scheduler/jobs/nope/trigger", "job_not_found"),
        ("GET", "/api/scheduler/jobs/nope/execution-stats", "job_not_found"),
        ("GET", "/api/scheduler/jobs/nope/executions", "job_not_found"),
        ("GET", "/api/scheduler/executions/01NOPE", "execution_not_found"),
        ("POST", "/api/scheduler/executions/01NOPE/cancel", "execution_not_found"),
        ("DELETE", "/api/scheduler/executions/01NOPE", "execution_not_found"),
        ("GET", "/api/scheduler/no-such-route", "not_found"),
    ],
)
def test_unknown_ids_are_404_in_the_envelope(live: LiveServer, method: str, path: str, code: str) -> None:
    with live.admin() as client:
        assert error(client.request(method, path), 404)["code"] == code


def test_failed_operator_actions_are_audited(live: LiveServer) -> None:
    with live.admin() as client:
        error(client.post("/api/scheduler/jobs/ghost/pause"), 404)
        entries = data(client.get("/api/scheduler/history", params={"job_id": "ghost"}))["history"]
    assert entries[0]["action"] == "pause" and entries[0]["status"] == "failed"
    assert "ghost" in entries[0]["error_message"] and entries[0]["actor"] == "admin"


# -- auth and time ------------------------------------------------------------------------------------------------


def test_login_me_and_wrong_password(live: LiveServer) -> None:
    with live.anonymous() as client:
        body = error(client.post("/api/auth/login", json={"username": "admin", "password": "wrong-password"}), 401)
        assert body["code"] == "invalid_credentials"
        token = data(client.post("/api/auth/login", json={"username": "viewer", "password": "viewer-password-1"}))
        assert token["token_type"] == "bearer" and token["expires_in"] > 0
    with live.client(token["access_token"]) as client:
        assert data(client.get("/api/auth/me")) == {"username": "viewer", "role": "viewer", "via": "password"}


def test_api_token_authenticates_and_revoked_token_is_refused(live: LiveServer) -> None:
    runtime = live.app.state.jobdeck
    url = runtime.settings.database_url
    token, secret = on_store(
        url,
        lambda store: Authenticator(store, secret_key="-", token_ttl=60, clock=SystemClock()).create_token(
            "ci", Role.ADMIN, created_by="test"
        ),
    )
    with live.client(secret) as client:
        assert data(client.get("/api/auth/me")) == {"username": "token:ci", "role": "admin", "via": "token"}
        data(client.post("/api/scheduler/jobs/probe/pause"))
        data(client.post("/api/scheduler/jobs/probe/resume"))
    on_store(url, lambda store: store.revoke_token(token.id, at=datetime.now(UTC)))
    with live.client(secret) as client:
        assert "revoked" in error(client.get("/api/auth/me"), 401)["message"]


OFFSET = re.compile(r"[+-]\d\d:\d\d$")
TIME_FIELDS = {
    "scheduled_time",
    "timestamp",
    "started_at",
    "finished_at",
    "updated_at",
    "heartbeat_at",
    "next_run_time",
}


def _times(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in TIME_FIELDS and isinstance(item, str):
                yield item
            else:
                yield from _times(item)
    elif isinstance(value, list):
        for item in value:
            yield from _times(item)


def test_every_datetime_in_a_response_carries_the_display_offset(live: LiveServer) -> None:
    run = trigger(live, "walker", kwargs={"items": 1, "delay": 0})
    wait_execution(live, run["id"], lambda e: e["status"] == "success")
    seen = 0
    with live.admin() as client:
        paths = ["/api/scheduler/jobs", "/api/scheduler/jobs/walker", "/api/scheduler/executions"]
        paths += [f"/api/scheduler/executions/{run['id']}", "/api/scheduler/history", "/api/scheduler/health"]
        for path in paths:
            body = client.get(path).json()
            assert OFFSET.search(body["timestamp"]) or body["timestamp"].endswith("Z")
            for value in _times(body["data"]):
                assert OFFSET.search(value), f"{path}: {value}"
                assert value.endswith("+08:00"), f"{path}: {value} is not in Asia/Shanghai"
                seen += 1
    assert seen > 10


def test_healthz_needs_no_token(live: LiveServer) -> None:
    with live.anonymous() as client:
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "healthy"}
