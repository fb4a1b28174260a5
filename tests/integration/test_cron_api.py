"""The cron syntax over HTTP: a step past its field answers 422 naming the schedule, the new items (``L``, ``#``,
seconds) are saved, previewed and described."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from jobdeck import JobDeck, Settings, create_app
from live_server import LiveServer, create_users, start_live_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("cron")
    deck = JobDeck(Settings(database_url=f"sqlite+aiosqlite:///{tmp}/cron.db", timezone="Asia/Shanghai"))

    @deck.job("report", schedule="every 1h")
    def report() -> str:
        return "ran"

    create_users(deck.settings.database_url)
    server = start_live_server(create_app(deck=deck))
    yield server
    server.stop()


def rejected(response: httpx.Response) -> str:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["success"] is False and body["code"] == "invalid_schedule"
    assert [error["field"] for error in body["data"]["errors"]] == ["schedule"]
    return str(body["message"])


@pytest.mark.parametrize(
    ("expression", "reason"),
    [("*/61 * * * *", "minute step 61 out of range 1-60"), ("0 0 * * 1#6", "the week number after '#' must be 1-5")],
)
def test_a_bad_cron_is_refused_naming_the_field(live: LiveServer, expression: str, reason: str) -> None:
    with live.admin() as client:
        assert reason in rejected(client.put("/api/scheduler/jobs/report/schedule", json={"schedule": expression}))
        assert reason in rejected(client.get("/api/scheduler/schedules/preview", params={"schedule": expression}))
        assert client.get("/api/scheduler/jobs/report").json()["data"]["schedule"] == "every 1h"


def test_the_last_day_of_the_month_is_saved_and_listed(live: LiveServer) -> None:
    with live.admin() as client:
        response = client.put("/api/scheduler/jobs/report/schedule", json={"schedule": "0 18 L * *"})
        assert response.status_code == 200, response.text
        job = response.json()["data"]
        assert job["schedule"] == "0 18 L * *" and len(job["next_run_times"]) == 5
        for text in job["next_run_times"]:
            fire = datetime.fromisoformat(text)
            assert fire.strftime("%H:%M %z") == "18:00 +0800"
            assert (fire + timedelta(days=1)).day == 1  # the last day of its month
        assert client.delete("/api/scheduler/jobs/report/schedule").status_code == 200


@pytest.mark.parametrize(
    ("expression", "description"),
    [
        ("0 18 L * *", "at 18:00 on the last day of every month"),
        ("0 17 * * 5L", "at 17:00 on the last Friday of the month"),
        ("*/10 * * * * *", "every 10 seconds"),
    ],
)
def test_the_preview_describes_the_new_items(live: LiveServer, expression: str, description: str) -> None:
    with live.viewer() as client:
        response = client.get("/api/scheduler/schedules/preview", params={"schedule": expression})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["valid"] is True and data["description"] == description and len(data["next_run_times"]) == 5
