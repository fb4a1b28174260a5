"""The original client's types over a real socket: numeric scheduler states, ``str(result)`` return values, and
paths with a trailing slash answering as without (no undeclared redirect)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobdeck import JobDeck, Settings, create_app
from live_server import LiveServer, create_users, start_live_server, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("contract")
    deck = JobDeck(Settings(database_url=f"sqlite+aiosqlite:///{tmp}/contract.db", timezone="UTC"))

    @deck.job("says_hello", schedule="every 1h")
    def says_hello() -> str:
        return "hello"

    @deck.job("says_quoted", schedule="every 1h")
    def says_quoted() -> str:
        return '"already quoted"'

    @deck.job("counts", schedule="every 1h")
    def counts() -> dict[str, Any]:
        return {"rows": 3, "names": ["a", "b"]}

    @deck.job("gives_number", schedule="every 1h")
    def gives_number() -> int:
        return 42

    @deck.job("gives_date", schedule="every 1h")
    def gives_date() -> date:
        return date(2026, 3, 6)

    create_users(deck.settings.database_url)
    server = start_live_server(create_app(deck=deck))
    yield server
    server.stop()


def data(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()["data"]


def run_to_end(live: LiveServer, job_id: str) -> dict[str, Any]:
    with live.admin() as client:
        run = data(client.post(f"/api/scheduler/jobs/{job_id}/trigger"))

        def finished() -> Any:
            execution = data(client.get(f"/api/scheduler/executions/{run['id']}"))
            return execution if execution["status"] != "running" else None

        return wait_until(finished, timeout=10, what=f"the run of {job_id}")  # type: ignore[no-any-return]


def test_stats_scheduler_state_is_apschedulers_number(live: LiveServer) -> None:
    with live.viewer() as client:
        stats = data(client.get("/api/scheduler/stats"))
    assert stats["scheduler_state"] == 1 and type(stats["scheduler_state"]) is int
    assert stats["scheduler_state_name"] == "running"
    assert stats["scheduler_running"] is True


def test_health_state_is_apschedulers_number(live: LiveServer) -> None:
    with live.viewer() as client:
        health = data(client.get("/api/scheduler/health"))
    assert health["state"] == 1 and type(health["state"]) is int
    assert health["state_name"] == "running"


@pytest.mark.parametrize(
    ("job_id", "stored"),
    [
        ("says_hello", "hello"),  # str(result), as the original recorded it — not '"hello"'
        ("says_quoted", '"already quoted"'),
        ("counts", '{"rows": 3, "names": ["a", "b"]}'),
        ("gives_number", "42"),
        ("gives_date", "datetime.date(2026, 3, 6)"),  # not JSON-serialisable: its repr
    ],
)
def test_return_value_is_the_string_itself_or_json_text(live: LiveServer, job_id: str, stored: str) -> None:
    run = run_to_end(live, job_id)
    assert run["status"] == "success"
    assert run["return_value"] == stored


@pytest.mark.parametrize(
    "path",
    ["/api/scheduler/jobs", "/api/scheduler/stats", "/api/scheduler/jobs/says_hello", "/api/scheduler/executions"],
)
def test_a_trailing_slash_answers_the_same_without_a_redirect(live: LiveServer, path: str) -> None:
    with live.viewer() as client:
        plain = client.get(path)
        slashed = client.get(path + "/")
    assert plain.status_code == slashed.status_code == 200, slashed.text
    assert not slashed.history  # no redirect was followed (httpx does not follow by default either)
    assert shape(slashed.json()["data"]) == shape(plain.json()["data"])


def shape(value: Any) -> Any:
    """What two answers moments apart share: a dict's keys, a list's length."""
    return sorted(value) if isinstance(value, dict) else len(value)


def test_a_trailing_slash_works_for_changes_and_errors_too(live: LiveServer) -> None:
    with live.admin() as client:
        paused = client.post("/api/scheduler/jobs/counts/pause/")
        resumed = client.post("/api/scheduler/jobs/counts/resume/")
        missing = client.get("/api/scheduler/jobs/no_such_job/")
    assert (paused.status_code, paused.json()["data"]["paused"]) == (200, True)
    assert (resumed.status_code, resumed.json()["data"]["paused"]) == (200, False)
    assert missing.status_code == 404 and missing.json()["code"] == "job_not_found"
    with live.anonymous() as client:
        assert client.get("/api/scheduler/jobs/").status_code == 401


def test_slash_twins_stay_out_of_the_openapi_document(live: LiveServer) -> None:
    with live.anonymous() as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert "/api/scheduler/jobs" in paths
    assert not [path for path in paths if path.endswith("/") and path != "/"]
