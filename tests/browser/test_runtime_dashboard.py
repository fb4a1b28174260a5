"""The job runtime in the dashboard: the run-now dialog built from the parameters schema, a timed pause, the retry
chain and the live log tail of a running execution."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from browser_helpers import sign_in

from dashboard_server import ServeProcess
from live_server import ADMIN_PASSWORD, create_users, wait_until

MODULE = """
import asyncio
from datetime import date

async def typed(day: date, batch: int = 10, mode: str = "delta"):
    return f"{day.isoformat()} {batch} {mode}"

async def talker(lines: int = 40, delay: float = 0.1):
    import logging
    log = logging.getLogger("talker")
    log.setLevel(logging.INFO)
    for i in range(1, lines + 1):
        log.info("line %d", i)
        await asyncio.sleep(delay)

async def flaky():
    raise RuntimeError("upstream answered 502")
"""

JOBS = """
[[jobs]]
id = "typed"
func = "runtime_jobs:typed"
schedule = "@weekly"

[[jobs]]
id = "talker"
func = "runtime_jobs:talker"
schedule = "@weekly"

[[jobs]]
id = "flaky"
func = "runtime_jobs:flaky"
schedule = "@weekly"
retries = 1
retry_backoff = "0.3s"
"""


@pytest.fixture(scope="module")
def runtime_server(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[ServeProcess]:
    folder = tmp_path_factory.mktemp("runtime_serve")
    (folder / "runtime_jobs.py").write_text(textwrap.dedent(MODULE))
    (folder / "jobs.toml").write_text(JOBS)
    process = ServeProcess(folder)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(create_users, process.database_url).result()
    process.start()
    yield process
    process.stop()


@pytest.fixture
def admin(browser: Any, runtime_server: ServeProcess) -> Iterator[Any]:
    page = sign_in(browser, runtime_server, "admin", ADMIN_PASSWORD)
    yield page
    assert not page.jd_errors, page.jd_errors
    page.context.close()


def api(server: ServeProcess) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=10)


def executions(server: ServeProcess, job_id: str) -> list[dict[str, Any]]:
    with api(server) as client:
        return client.get(f"/api/scheduler/jobs/{job_id}/executions").json()["data"]["items"]  # type: ignore[no-any-return]


def test_run_now_dialog_is_generated_from_the_parameters_schema(admin: Any, runtime_server: ServeProcess) -> None:
    admin.goto(f"{runtime_server.url}/jobs/typed")
    admin.locator("[data-control=run]").click()
    dialog = admin.locator("#confirm-dialog")
    assert dialog.locator("input[name='kw.day']").get_attribute("type") == "date"
    assert dialog.locator("input[name='kw.batch']").input_value() == "10"
    dialog.locator("input[name='kw.day']").fill("2026-03-06")
    dialog.locator("input[name='kw.batch']").fill("25")
    dialog.locator("[data-dialog-ok]").click()
    runs = wait_until(
        lambda: [e for e in executions(runtime_server, "typed") if e["status"] == "success"],
        timeout=10,
        what="the run started from the dialog",
    )
    assert runs[0]["kwargs"] == {"day": "2026-03-06", "batch": 25, "mode": "delta"}
    assert runs[0]["return_value"] == "2026-03-06 25 delta"


def test_a_timed_pause_from_the_dashboard(admin: Any, runtime_server: ServeProcess) -> None:
    admin.goto(f"{runtime_server.url}/jobs/talker")
    admin.locator("[data-control=pause]").click()
    until = datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(hours=2)
    admin.locator("#confirm-dialog input[name=until]").fill(until.strftime("%Y-%m-%dT%H:%M"))
    admin.locator("#confirm-dialog [data-dialog-ok]").click()
    admin.locator("[data-paused-until]").wait_for()
    with api(runtime_server) as client:
        job = client.get("/api/scheduler/jobs/talker").json()["data"]
        client.post("/api/scheduler/jobs/talker/resume")
    assert job["paused"] is True
    assert job["paused_until"].startswith(until.strftime("%Y-%m-%dT%H:%M"))


def test_the_retry_chain_and_the_live_log_tail(admin: Any, runtime_server: ServeProcess) -> None:
    with api(runtime_server) as client:
        client.post("/api/scheduler/jobs/flaky/trigger")
        talk = client.post("/api/scheduler/jobs/talker/trigger").json()["data"]
    attempts = wait_until(
        lambda: (lambda runs: runs if len(runs) == 2 and runs[0]["status"] != "running" else None)(
            executions(runtime_server, "flaky")
        ),
        timeout=10,
        what="the retry",
    )
    admin.goto(f"{runtime_server.url}/executions/{attempts[0]['id']}")
    chain = admin.locator("[data-control=retry-chain] li")
    assert chain.count() == 2
    admin.goto(f"{runtime_server.url}/executions/{talk['id']}")
    admin.locator("[data-log-tail]").filter(has_text="talker: line 12").wait_for()  # arrives without a reload
