"""A viewer sees no controls and cannot change anything; 简体中文 renders the same pages; live updates survive a
server restart and fall back to polling."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_helpers import screenshot, sign_in
from playwright.sync_api import expect

from dashboard_server import ADMIN_PASSWORD, VIEWER_PASSWORD, ServeProcess

pytestmark = pytest.mark.slow

CONTROL_NAMES = re.compile(r"^(Pause|Resume|Run now|Edit|Cancel run|Mark failed|Delete|Save schedule|Revert.*)$")


def assert_no_controls(page: Any) -> None:
    assert page.locator("form[data-action]").count() == 0
    assert page.locator("[data-control]").count() == 0
    assert page.locator("#schedule-editor").count() == 0
    assert page.get_by_role("button", name=CONTROL_NAMES).count() == 0


def test_a_viewer_sees_no_control_that_would_change_anything(viewer_page: Any, server: ServeProcess) -> None:
    page = viewer_page
    running = server.api("POST", "/api/scheduler/jobs/walker/trigger")
    done = server.api("POST", "/api/scheduler/jobs/quick/trigger")
    server.wait_execution(done["id"], lambda e: e["status"] != "running")
    try:
        expect(page.locator(".role-tag")).to_have_text("viewer")
        expect(page.locator("tr#job-walker")).to_be_visible()
        assert_no_controls(page)
        screenshot(page, "overview-viewer-en")
        for path in ["/jobs/walker", "/jobs/quick", "/executions", f"/executions/{running['id']}", "/audit"]:
            page.goto(f"{server.url}{path}")
            page.locator("#live-state[data-state=live]").wait_for()
            assert_no_controls(page)
        page.goto(f"{server.url}/executions?job=walker")
        expect(page.locator(f"tr#run-{running['id']} [role=progressbar]")).to_be_visible()
        assert_no_controls(page)
        screenshot(page, "executions-viewer-en")
    finally:
        server.api("POST", f"/api/scheduler/executions/{running['id']}/cancel")
        server.wait_execution(running["id"], lambda e: e["status"] != "running")


def test_a_forged_request_from_a_viewer_is_refused(viewer_page: Any, server: ServeProcess) -> None:
    page = viewer_page
    # The viewer's own page holds a valid anti-forgery token (the language switch has one): use it to forge.
    token = page.locator("form.lang-switch input[name=csrf_token]").get_attribute("value")
    answer = page.evaluate(
        """async ([url, token]) => {
            const body = new FormData();
            body.append("csrf_token", token);
            const response = await fetch(url, {method: "POST", body, headers: {"Accept": "application/json"}});
            return {status: response.status, body: await response.json()};
        }""",
        [f"{server.url}/-/jobs/quick/pause", token],
    )
    assert answer["status"] == 403
    assert answer["body"]["success"] is False
    cancel = page.evaluate(
        """async (url) => (await fetch(url, {method: "POST", headers: {"Accept": "application/json"}})).status""",
        f"{server.url}/-/executions/anything/cancel",
    )
    assert cancel == 403
    viewer_token = httpx.post(
        f"{server.url}/api/auth/login", json={"username": "viewer", "password": VIEWER_PASSWORD}
    ).json()["data"]["access_token"]
    api = httpx.post(
        f"{server.url}/api/scheduler/jobs/quick/pause", headers={"Authorization": f"Bearer {viewer_token}"}
    )
    assert api.status_code == 403
    assert server.api("GET", "/api/scheduler/jobs/quick")["paused"] is False


def test_the_chinese_version_renders_the_same_pages(browser: Any, server: ServeProcess) -> None:
    page = sign_in(browser, server, "admin", ADMIN_PASSWORD, language="zh")
    try:
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        expect(page.locator("h1")).to_have_text("任务")
        expect(page.locator("#live-state")).to_contain_text("实时")
        expect(page.locator("tr#job-quick")).to_contain_text("每 5 分钟，09:00–15:59，周一至周五")
        expect(page.locator("tr#job-quick [data-control=run]")).to_have_text("立即运行")
        expect(page.locator(".footer")).to_contain_text("UTC+08:00")
        screenshot(page, "overview-zh")
        run = server.api("POST", "/api/scheduler/jobs/walker/trigger")
        pages = [
            ("job-zh", "/jobs/walker", "调度"),
            ("executions-zh", "/executions", "执行记录"),
            ("execution-zh", f"/executions/{run['id']}", "字段"),
            ("audit-zh", "/audit", "审计记录"),
        ]
        for name, path, heading in pages:
            page.goto(f"{server.url}{path}")
            page.locator("#live-state[data-state=live]").wait_for()
            expect(page.locator("main")).to_contain_text(heading)
            screenshot(page, name)
        expect(page.locator("main")).not_to_contain_text("Invalid")
        page.goto(f"{server.url}/executions?job=walker")
        row = page.locator(f"tr#run-{run['id']}")
        expect(row.locator(".badge").first).to_have_text("执行中")
        row.get_by_role("button", name="取消执行").click()
        expect(page.locator("#confirm-title")).to_have_text("取消这次执行？")
        page.locator("#confirm-dialog [data-dialog-ok]").click()
        expect(row.locator(".badge").first).to_have_text("已取消")
        expect(page.locator(".toast").last).to_have_text("已请求取消")

        # The language is switchable, and the choice sticks (a cookie).
        page.get_by_role("button", name="English").click()
        expect(page.locator("h1")).to_have_text("Executions")
        page.goto(f"{server.url}/")
        expect(page.locator("h1")).to_have_text("Jobs")
        page.get_by_role("button", name="简体中文").click()
        expect(page.locator("h1")).to_have_text("任务")
        page.goto(f"{server.url}/login")
        assert not page.jd_errors, page.jd_errors
    finally:
        page.context.close()


def test_the_chinese_sign_in_page(browser: Any, server: ServeProcess) -> None:
    context = browser.new_context(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    page = context.new_page()
    page.goto(f"{server.url}/")
    expect(page.locator("h1")).to_have_text("登录 jobdeck")
    screenshot(page, "login-zh")
    context.close()


@pytest.fixture
def own_server(tmp_path: Path, browser: Any) -> Iterator[ServeProcess]:
    process = ServeProcess.with_jobs(tmp_path)
    process.start()
    yield process
    if process.proc is not None and process.proc.poll() is None:
        process.stop()


def test_live_updates_resume_after_a_server_restart(browser: Any, own_server: ServeProcess) -> None:
    server = own_server
    page = sign_in(browser, server, "admin", ADMIN_PASSWORD)
    try:
        page.evaluate("window.__jdNoReload = 'kept'")
        # An open event stream must not hold the server's graceful shutdown up.
        assert server.stop() < 10
        expect(page.locator("#live-state")).to_have_attribute("data-state", "polling")
        server.start()
        expect(page.locator("#live-state")).to_have_attribute("data-state", "live", timeout=15_000)
        server.api("POST", "/api/scheduler/jobs/pausable/pause")
        expect(page.locator("tr#job-pausable [data-job-state]")).to_have_text("Paused", timeout=2_000)
        assert page.evaluate("window.__jdNoReload") == "kept"
    finally:
        page.context.close()


def test_without_the_event_stream_the_page_polls(browser: Any, server: ServeProcess) -> None:
    page = sign_in(browser, server, "admin", ADMIN_PASSWORD)
    try:
        page.route("**/api/scheduler/events", lambda route: route.abort())
        page.reload()
        expect(page.locator("#live-state")).to_have_attribute("data-state", "polling")
        expect(page.locator("#live-state")).to_contain_text("Polling")
        server.api("POST", "/api/scheduler/jobs/pausable/pause")
        expect(page.locator("tr#job-pausable [data-job-state]")).to_have_text("Paused", timeout=8_000)
        server.api("POST", "/api/scheduler/jobs/pausable/resume")
        expect(page.locator("tr#job-pausable [data-job-state]")).to_have_text("Active", timeout=8_000)
    finally:
        page.context.close()
