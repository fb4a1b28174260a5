"""The demo that `make run` serves: every demo job runs for real and behaves as its description promises."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobdeck import JobDeck, Settings, create_app
from live_server import LiveServer, create_users, start_live_server, wait_until

pytestmark = pytest.mark.slow

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.toml"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('demo')}/demo.db"
    deck = JobDeck(Settings(database_url=url, heartbeat_interval=0.5))
    deck.load_jobs_file(DEMO)
    create_users(url)
    server = start_live_server(create_app(deck=deck))
    yield server
    server.stop()


def run_to_end(demo: LiveServer, job_id: str, *, force: bool = False, **kwargs: Any) -> dict[str, Any]:
    with demo.admin() as client:
        started = client.post(
            f"/api/scheduler/jobs/{job_id}/trigger", params={"force": force}, json={"kwargs": kwargs}
        ).json()["data"]

        def finished() -> Any:
            execution = client.get(f"/api/scheduler/executions/{started['id']}").json()["data"]
            return execution if execution["status"] != "running" else None

        return wait_until(finished, timeout=20, what=f"the demo job {job_id}")  # type: ignore[no-any-return]


def test_the_demo_has_the_four_jobs_of_the_original_in_its_timezone(demo: LiveServer) -> None:
    with demo.viewer() as client:
        jobs = {job["id"]: job for job in client.get("/api/scheduler/jobs").json()["data"]}
    assert set(jobs) == {"quotes_sync", "daily_analysis", "status_check", "flaky_import"}
    assert jobs["quotes_sync"]["schedule"] == "*/5 9-15 * * 1-5"
    assert jobs["quotes_sync"]["next_run_time"].endswith("+08:00")


def test_quotes_sync_walks_every_symbol_and_reports_force(demo: LiveServer) -> None:
    done = run_to_end(demo, "quotes_sync", force=True, batch=5, delay=0)
    assert done["status"] == "success"
    assert done["return_value"] == '{"synced": 5, "force": true}'
    assert done["processed_items"] == done["total_items"] == 5


def test_quotes_sync_stops_when_cancelled(demo: LiveServer) -> None:
    with demo.admin() as client:
        run = client.post("/api/scheduler/jobs/quotes_sync/trigger", json={"kwargs": {"delay": 0.2}}).json()["data"]

        def moving() -> bool:
            execution = client.get(f"/api/scheduler/executions/{run['id']}").json()["data"]
            return bool(execution["processed_items"])

        wait_until(moving, timeout=10, what="the sync to make progress")
        client.post(f"/api/scheduler/executions/{run['id']}/cancel")

        def ended() -> Any:
            execution = client.get(f"/api/scheduler/executions/{run['id']}").json()["data"]
            return execution if execution["status"] != "running" else None

        done = wait_until(ended, timeout=5, what="the sync to stop")
    assert done["status"] == "cancelled" and done["processed_items"] < done["total_items"]


def test_the_report_the_status_check_and_the_flaky_import(demo: LiveServer) -> None:
    report = run_to_end(demo, "daily_analysis", delay=0)
    assert report["status"] == "success" and '"symbols": 30' in report["return_value"]
    assert run_to_end(demo, "status_check")["status"] == "success"
    assert run_to_end(demo, "flaky_import", failure_rate=0)["return_value"] == "imported 42 rows"
    failed = run_to_end(demo, "flaky_import", failure_rate=1)
    assert failed["status"] == "failed" and "ConnectionError" in failed["error_message"]
    assert "Traceback" in failed["traceback"]
