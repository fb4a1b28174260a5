"""The API on PostgreSQL, and what it says when the database goes away: 503 in the envelope, never an empty 200."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from jobdeck import JobDeck, Settings, create_app
from live_server import create_users, start_live_server, wait_until

pytestmark = pytest.mark.slow


def test_a_database_outage_is_503_and_healthz_says_so(
    blank_postgres_url: str, postgres_admin: Callable[..., Awaitable[None]], tmp_path: Path
) -> None:
    def admin_execute_sync(statement: str) -> None:
        asyncio.run(postgres_admin(statement))

    deck = JobDeck(Settings(database_url=blank_postgres_url, timezone="UTC"))

    @deck.job("hello", schedule="every 1h")
    async def hello() -> str:
        await asyncio.sleep(0)
        return "hi"

    create_users(blank_postgres_url)
    live = start_live_server(create_app(deck=deck))
    try:
        with live.admin() as client:
            run = client.post("/api/scheduler/jobs/hello/trigger").json()["data"]

            def finished() -> bool:
                execution = client.get(f"/api/scheduler/executions/{run['id']}").json()["data"]
                return bool(execution["status"] == "success")

            wait_until(finished, timeout=10, what="the run on PostgreSQL to finish")
            assert client.get("/api/scheduler/executions").json()["data"]["total"] == 1

            name = make_url(blank_postgres_url).database
            admin_execute_sync(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin_execute_sync(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )
            for path in ("/api/scheduler/executions", "/api/scheduler/jobs", "/api/scheduler/stats"):
                response = client.get(path)
                assert response.status_code == 503, (path, response.text)
                body = response.json()
                assert body["success"] is False and body["code"] == "store_unavailable"
                assert "password" not in body["message"]
            health = client.get("/api/scheduler/health")
            assert health.status_code == 200 and health.json()["data"]["status"] == "degraded"
            assert client.get("/healthz").status_code == 503

            admin_execute_sync(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            back = wait_until(
                lambda: client.get("/api/scheduler/executions").status_code == 200,
                timeout=15,
                what="the API to recover once the database is back",
            )
            assert back
            assert client.get("/api/scheduler/executions").json()["data"]["total"] == 1
    finally:
        live.stop()
