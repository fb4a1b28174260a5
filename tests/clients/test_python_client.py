"""jobdeck.client against a real `jobdeck serve`: every method's data, and the server's own error classes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_type_hints

import httpx
import pytest
from serve_process import ServeProcess

from jobdeck.client import AsyncJobdeckClient, JobdeckClient, ServerUnreachable, parse_time
from jobdeck.client import _types as wire
from jobdeck.errors import (
    AuthError,
    ExecutionNotFound,
    ExecutionNotRunning,
    ExecutionStillRunning,
    Forbidden,
    InvalidCredentials,
    InvalidInput,
    InvalidSchedule,
    JobAlreadyRunning,
    JobdeckError,
    JobNotFound,
    NotFound,
    error_classes,
)
from live_server import ADMIN_PASSWORD, free_port

pytestmark = pytest.mark.slow

SPEC = json.loads((Path(__file__).resolve().parents[2] / "clients" / "typescript" / "openapi.json").read_text())


@pytest.fixture
def admin(serve: ServeProcess) -> Iterator[JobdeckClient]:
    with JobdeckClient(serve.url, token=serve.admin_token) as client:
        yield client


@pytest.fixture
def viewer(serve: ServeProcess) -> Iterator[JobdeckClient]:
    with JobdeckClient(serve.url, token=serve.viewer_token) as client:
        yield client


# -- reads -----------------------------------------------------------------------------------------------------------


def test_jobs_list_and_detail(admin: JobdeckClient) -> None:
    jobs = {job["id"]: job for job in admin.get_jobs()}
    assert set(jobs) == {"walker", "echo", "boom"}
    assert jobs["walker"]["display_name"] == "Walker" and jobs["boom"]["paused"] is True
    detail = admin.get_job_detail("echo")
    assert detail["kwargs"] == {"label": "configured"} and detail["tags"] == ["probe"]
    assert len(detail["next_run_times"]) == 5
    assert parse_time(detail["next_run_times"][0]).utcoffset() is not None


def test_stats_health_me_and_healthz(viewer: JobdeckClient) -> None:
    stats = viewer.get_scheduler_stats()
    assert stats["total_jobs"] == 3 and stats["paused_jobs"] >= 1 and stats["scheduler_running"] is True
    assert (stats["scheduler_state"], stats["scheduler_state_name"]) == (1, "running")  # APScheduler's number
    health = viewer.get_scheduler_health()
    assert health["status"] == "healthy" and health["store"]["ok"] is True
    assert (health["state"], health["state_name"]) == (1, "running")
    assert viewer.get_me() == {"username": "viewer", "role": "viewer", "via": "password"}
    assert viewer.healthz() == {"status": "healthy"}


# -- a run's life --------------------------------------------------------------------------------------------------


def test_trigger_follow_and_query_a_run(admin: JobdeckClient) -> None:
    run = admin.trigger_job("walker", kwargs={"items": 3, "delay": 0.05})
    assert run["status"] == "running" and run["_id"] == run["id"] and run["is_manual"] is True
    done = admin.wait_for_execution(run["id"], timeout=15, interval=0.1)
    assert done["status"] == "success" and done["return_value"] == '{"walked": 3}'
    assert [line["message"] for line in done["log"]] == ["step 0", "step 1", "step 2"]
    page = admin.get_job_executions(job_id="walker", status="success", is_manual=True, limit=5)
    assert run["id"] in [e["id"] for e in page["items"]] and page["limit"] == 5
    single = admin.get_single_job_executions("walker", is_manual=True, since=parse_time(run["started_at"]))
    assert [e["id"] for e in single["items"]] == [run["id"]]
    stats = admin.get_job_execution_stats("walker")
    assert stats["success"] >= 1 and stats["last_execution"] is not None
    history = admin.get_job_history("walker", limit=5)
    assert history["history"][0]["action"] == "trigger" and history["limit"] == 5
    everything = admin.get_all_history(job_id="walker", action="trigger", status="success")
    assert everything["total"] >= 1
    admin.delete_execution(run["id"])
    with pytest.raises(ExecutionNotFound) as caught:
        admin.get_execution(run["id"])
    assert caught.value.http_status == 404 and caught.value.code == "execution_not_found"


def test_incremental_log_idempotent_trigger_and_timed_pause(admin: JobdeckClient) -> None:
    key = "python-client-test-key"
    run = admin.trigger_job("walker", kwargs={"items": 4, "delay": 0.01}, idempotency_key=key)
    again = admin.trigger_job("walker", kwargs={"items": 4, "delay": 0.01}, idempotency_key=key)
    assert again["id"] == run["id"]
    admin.wait_for_execution(run["id"], timeout=10, interval=0.1)
    first = admin.get_execution_log(run["id"], after=0, limit=2)
    assert [line["message"] for line in first["lines"]] == ["step 2", "step 3"]
    rest = admin.get_execution_log(run["id"], after=first["last_seq"])
    assert rest["lines"] == [] and rest["status"] == "success"
    everything = admin.get_execution_log(run["id"], after=0, limit=1000)
    assert [line["message"] for line in everything["lines"]] == ["step 0", "step 1", "step 2", "step 3"]
    until = datetime.now(UTC) + timedelta(hours=1)
    paused = admin.pause_job("echo", until=until)
    assert paused["paused"] is True and paused["paused_until"] is not None
    assert abs(parse_time(paused["paused_until"]) - until) < timedelta(seconds=1)
    assert admin.resume_job("echo")["paused_until"] is None


def test_force_kwargs_and_409_without_force(admin: JobdeckClient) -> None:
    first = admin.trigger_job("walker", kwargs={"items": 400, "delay": 0.05})
    try:
        with pytest.raises(JobAlreadyRunning) as caught:
            admin.trigger_job("walker")
        assert caught.value.http_status == 409 and "force" in caught.value.message
        assert caught.value.request_id
        forced = admin.trigger_job("walker", force=True, kwargs={"items": 1, "delay": 0})
        assert forced["force"] is True
    finally:
        cancelled = admin.cancel_execution(first["id"])
    assert cancelled["cancel_requested"] is True
    assert admin.wait_for_execution(first["id"], timeout=10, interval=0.1)["status"] == "cancelled"
    with pytest.raises(ExecutionNotRunning):
        admin.cancel_execution(first["id"])


def test_mark_failed_and_delete_refused_while_running(admin: JobdeckClient) -> None:
    run = admin.trigger_job("walker", force=True, kwargs={"items": 400, "delay": 0.05})
    with pytest.raises(ExecutionStillRunning):
        admin.delete_execution(run["id"])
    failed = admin.mark_execution_failed(run["id"], reason="stuck")
    assert failed["status"] == "failed" and failed["error_message"] == "stuck"


def test_pause_resume_metadata_and_schedule(admin: JobdeckClient) -> None:
    assert admin.pause_job("echo")["paused"] is True
    assert admin.resume_job("echo")["paused"] is False
    job = admin.update_job_metadata("echo", display_name="Echo", description="")
    assert job["display_name"] == "Echo" and job["description"] == ""
    assert admin.update_job_metadata("echo")["display_name"] == "Echo"
    overridden = admin.update_job_schedule("echo", "30 6 * * *")
    assert overridden["schedule_overridden"] is True and overridden["schedule"] == "30 6 * * *"
    reverted = admin.reset_job_schedule("echo")
    assert reverted["schedule"] == reverted["configured_schedule"] == "every 1d"
    with pytest.raises(InvalidSchedule) as caught:
        admin.update_job_schedule("echo", "61 * * * *")
    assert caught.value.http_status == 422 and caught.value.data["errors"][0]["field"] == "schedule"


def test_a_failing_job_ends_failed_with_its_error(admin: JobdeckClient) -> None:
    run = admin.trigger_job("boom")
    done = admin.wait_for_execution(run["id"], timeout=10, interval=0.1)
    assert done["status"] == "failed" and "boom on purpose" in (done["error_message"] or "")
    assert admin.get_job_detail("boom")["paused"] is True


def test_preview_schedule_and_the_event_stream(admin: JobdeckClient) -> None:
    preview = admin.preview_schedule("every 5m", timezone="UTC", count=3)
    assert preview["kind"] == "interval" and len(preview["next_run_times"]) == 3
    with pytest.raises(InvalidInput) as caught:
        admin.preview_schedule("61 * * * *")
    assert caught.value.data["errors"][0]["field"] == "schedule"
    events = admin.stream_events()
    hello = next(events)
    assert hello.event == "hello" and hello.retry is not None
    # Listen on the stream opened before the trigger: a stream opened afterwards could miss a run that ends fast.
    run = admin.trigger_job("echo")
    for event in events:
        if event.event == "change" and isinstance(event.json, dict) and run["id"] in event.json["execution_ids"]:
            assert event.json["kind"] == "execution"
            break
    events.close()


# -- errors ----------------------------------------------------------------------------------------------------------


def test_unknown_job_raises_job_not_found_with_the_servers_message(admin: JobdeckClient) -> None:
    with pytest.raises(JobNotFound) as caught:
        admin.get_job_detail("nope")
    assert isinstance(caught.value, NotFound) and isinstance(caught.value, LookupError)
    assert caught.value.message == "Job 'nope' does not exist" and caught.value.http_status == 404


def test_bad_token_raises_auth_error(serve: ServeProcess) -> None:
    with JobdeckClient(serve.url, token="not-a-token") as client, pytest.raises(AuthError) as caught:
        client.get_jobs()
    assert caught.value.http_status == 401
    with JobdeckClient(serve.url) as client, pytest.raises(AuthError):
        client.get_me()


def test_viewer_gets_forbidden_for_changes(viewer: JobdeckClient) -> None:
    with pytest.raises(Forbidden) as caught:
        viewer.pause_job("echo")
    assert caught.value.http_status == 403 and "admin" in caught.value.message


def test_login_sets_the_token_and_wrong_password_is_invalid_credentials(serve: ServeProcess) -> None:
    with JobdeckClient(serve.url) as client:
        with pytest.raises(InvalidCredentials):
            client.login("admin", "wrong-password")
        token = client.login("admin", ADMIN_PASSWORD)
        assert token["token_type"] == "bearer" and client.token == token["access_token"]
        assert client.get_me()["role"] == "admin"


def test_validation_errors_are_invalid_input_with_field_errors(admin: JobdeckClient) -> None:
    with pytest.raises(InvalidInput) as caught:
        admin.get_job_executions(limit=0)
    assert caught.value.code == "validation_error"
    assert [e["field"] for e in caught.value.data["errors"]] == ["limit"]


def test_no_server_raises_server_unreachable() -> None:
    client = JobdeckClient(f"http://127.0.0.1:{free_port()}", token="t", timeout=2)
    with client, pytest.raises(ServerUnreachable) as caught:
        client.get_jobs()
    assert isinstance(caught.value, JobdeckError) and "cannot reach" in caught.value.message


def test_a_non_envelope_answer_is_a_jobdeck_error() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(502, text="<html>bad gateway</html>"))
    with JobdeckClient("http://proxy", token="t", transport=transport) as client, pytest.raises(JobdeckError) as caught:
        client.get_jobs()
    assert caught.value.http_status == 502 and "bad gateway" in caught.value.message


# -- async twin ------------------------------------------------------------------------------------------------------


async def test_async_client_runs_a_job_and_raises_the_same_errors(serve: ServeProcess) -> None:
    async with AsyncJobdeckClient(serve.url, token=serve.admin_token) as client:
        assert {job["id"] for job in await client.get_jobs()} == {"walker", "echo", "boom"}
        run = await client.trigger_job("echo", kwargs={"label": "async"})
        done = await client.wait_for_execution(run["id"], timeout=10, interval=0.1)
        assert done["return_value"] == '{"label": "async", "force": false}'
        with pytest.raises(JobNotFound):
            await client.pause_job("nope")
        assert (await client.get_me())["username"] == "admin"


def test_sync_and_async_clients_have_the_same_methods() -> None:
    def public(cls: type) -> set[str]:
        return {name for name in vars(cls) if not name.startswith("_")}

    assert public(JobdeckClient) - {"close"} == public(AsyncJobdeckClient) - {"aclose"}


# -- the types stay the server's --------------------------------------------------------------------------------------

TYPED_DICTS: dict[str, Any] = {
    "JobOut": wire.Job,
    "JobDetailOut": wire.JobDetail,
    "ExecutionOut": wire.Execution,
    "ExecutionDetailOut": wire.ExecutionDetail,
    "LogLineOut": wire.LogLine,
    "ExecutionPage": wire.ExecutionPage,
    "AuditOut": wire.AuditEntry,
    "AuditPage": wire.AuditPage,
    "ExecutionStatsOut": wire.ExecutionStats,
    "LastExecutionOut": wire.LastExecution,
    "StatsOut": wire.SchedulerStats,
    "HealthOut": wire.SchedulerHealth,
    "StoreHealthOut": wire.StoreHealth,
    "TokenOut": wire.Token,
    "UserOut": wire.User,
    "HealthzOut": wire.Healthz,
    "SchedulePreviewOut": wire.SchedulePreview,
    "LogPageOut": wire.LogPage,
    "RetryLinkOut": wire.RetryLink,
}


@pytest.mark.parametrize("schema_name", sorted(TYPED_DICTS))
def test_typed_dicts_have_the_fields_of_the_openapi_schemas(schema_name: str) -> None:
    schema = SPEC["components"]["schemas"][schema_name]
    assert set(get_type_hints(TYPED_DICTS[schema_name])) == set(schema["properties"])


def test_every_error_code_maps_to_its_class_and_unknown_statuses_fall_back_like_the_server() -> None:
    from jobdeck.api.envelope import STATUS_BY_ERROR
    from jobdeck.client._calls import _BY_STATUS

    assert error_classes()["job_not_found"] is JobNotFound
    assert error_classes()["validation_error"] is InvalidInput
    assert {status: cls for cls, status in STATUS_BY_ERROR.items()} == _BY_STATUS
