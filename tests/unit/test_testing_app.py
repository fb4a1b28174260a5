"""jobdeck.testing used the way a user's own tests would: a whole app on the in-memory store, driven over HTTP."""

from __future__ import annotations

import pytest

from jobdeck import JobContext
from jobdeck.errors import ConfigError
from jobdeck.models import ExecutionStatus
from jobdeck.testing import app_client, memory_app, memory_deck, memory_settings, wait_for_execution


async def test_a_job_triggered_over_the_api_runs_to_its_end_on_the_memory_store() -> None:
    deck = memory_deck()

    @deck.job("greet", schedule="every 1h")
    async def greet(ctx: JobContext, name: str = "world") -> str:
        ctx.progress(50, "halfway")
        return f"hello {name}"

    async with app_client(memory_app(deck)) as client:
        answer = await client.post("/api/scheduler/jobs/greet/trigger", json={"kwargs": {"name": "memory"}})
        assert answer.status_code == 200, answer.text
        run_id = answer.json()["data"]["id"]
        done = await wait_for_execution(deck.runtime.store, run_id, lambda e: e.status.is_terminal, timeout=5)
        assert done.status is ExecutionStatus.SUCCESS
        assert done.return_value == "hello memory"
        listed = (await client.get("/api/scheduler/executions", params={"job_id": "greet"})).json()["data"]
        assert [item["id"] for item in listed["items"]] == [run_id]
        assert (await client.get("/")).status_code in (200, 302, 303, 307)  # the dashboard, or its sign-in


async def test_the_memory_app_refuses_a_wrong_password_and_an_unsigned_request() -> None:
    with pytest.raises(AssertionError, match="refused"):
        async with app_client(memory_app(), password="not-the-password"):
            pass
    async with app_client(memory_app(), username=None) as client:
        assert (await client.get("/api/scheduler/jobs")).status_code == 401


async def test_each_memory_app_has_a_store_of_its_own() -> None:
    first, second = memory_deck(), memory_deck()
    async with app_client(memory_app(first)), app_client(memory_app(second)):
        await first.runtime.store.set_paused("only-here", True, at=first.runtime.clock.now(), actor="t")
        assert "only-here" in await first.runtime.store.job_states()
        assert "only-here" not in await second.runtime.store.job_states()


def test_memory_settings_select_the_memory_store_and_refuse_the_engine_thread() -> None:
    settings = memory_settings(retention_days=7)
    assert (settings.database_url, settings.retention_days, settings.engine_thread) == ("memory://", 7, False)


async def test_the_engine_thread_cannot_run_on_the_memory_store() -> None:
    with pytest.raises(ConfigError, match="engine_thread"):
        async with app_client(memory_app(settings=memory_settings(engine_thread=True))):
            pass
