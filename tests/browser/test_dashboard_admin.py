"""An admin steers jobs from the dashboard in a real browser; every change shows without reloading the page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from browser_helpers import screenshot
from playwright.sync_api import expect

from dashboard_server import ServeProcess

pytestmark = pytest.mark.slow


def mark_page(page: Any) -> None:
    """Leave a marker in the page's JS state: if it is still there later, the page was not reloaded."""
    page.evaluate("window.__jdNoReload = 'kept'")


def assert_not_reloaded(page: Any) -> None:
    assert page.evaluate("window.__jdNoReload") == "kept", "the page was reloaded"


def confirm(page: Any) -> None:
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("[data-dialog-ok]").click()
    expect(dialog).to_be_hidden()


def test_sign_in_shows_the_jobs_and_sign_out_ends_the_session(admin_page: Any, server: ServeProcess) -> None:
    page = admin_page
    expect(page.locator("h1")).to_have_text("Jobs")
    expect(page.locator("tr#job-walker")).to_contain_text("Symbol walker")
    expect(page.locator("tr#job-quick")).to_contain_text("every 5 minutes, 09:00–15:59, Mon–Fri")
    expect(page.locator("tr#job-quick")).to_contain_text(re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} \+08:00"))
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login"))
    page.goto(f"{server.url}/executions")
    page.wait_for_url(re.compile(r"/login\?next=/executions"))


def test_a_wrong_password_is_refused_with_a_message(browser: Any, server: ServeProcess) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/login")
    screenshot(page, "login-en")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not-the-password")
    page.locator("form.login button[type=submit]").click()
    expect(page.get_by_role("alert")).to_have_text("Invalid username or password.")
    context.close()


def test_pause_and_resume_a_job_and_see_its_state_change(admin_page: Any, server: ServeProcess) -> None:
    page = admin_page
    mark_page(page)
    row = page.locator("tr#job-pausable")
    expect(row.locator("[data-job-state]")).to_have_text("Active")
    row.locator("[data-control=pause]").click()
    expect(page.locator("#confirm-title")).to_have_text("Pause job?")
    confirm(page)
    expect(row.locator("[data-job-state]")).to_have_text("Paused")
    expect(page.locator(".toast").last).to_contain_text("Job pausable paused")
    expect(page.locator("[data-figure=paused]")).to_have_text("1")
    assert server.api("GET", "/api/scheduler/jobs/pausable")["paused"] is True

    row.locator("[data-control=resume]").click()
    confirm(page)
    expect(row.locator("[data-job-state]")).to_have_text("Active")
    expect(page.locator("[data-figure=paused]")).to_have_text("0")
    assert server.api("GET", "/api/scheduler/jobs/pausable")["paused"] is False
    assert_not_reloaded(page)


def test_cancelling_the_confirmation_changes_nothing(admin_page: Any, server: ServeProcess) -> None:
    page = admin_page
    page.locator("tr#job-pausable [data-control=pause]").click()
    page.locator("#confirm-dialog [data-dialog-cancel]").click()
    expect(page.locator("#confirm-dialog")).to_be_hidden()
    expect(page.locator("tr#job-pausable [data-job-state]")).to_have_text("Active")
    assert server.api("GET", "/api/scheduler/jobs/pausable")["paused"] is False


def test_run_now_shows_the_new_execution_and_its_progress_moves_without_reloading(
    admin_page: Any, server: ServeProcess
) -> None:
    page = admin_page
    page.goto(f"{server.url}/jobs/walker")
    page.locator("#live-state[data-state=live]").wait_for()
    mark_page(page)
    before = page.locator("tr[data-execution]").count()
    page.locator("[data-control=run]").click()
    expect(page.locator("#confirm-dialog")).to_contain_text("Force")
    confirm(page)
    running = page.locator("tr[data-execution][data-status=running]")
    expect(running).to_have_count(1)
    assert page.locator("tr[data-execution]").count() == before + 1
    bar = running.locator("[role=progressbar]")
    expect(bar).to_have_attribute("aria-valuenow", re.compile(r"\d+"))
    first = int(bar.get_attribute("aria-valuenow") or 0)
    expect(bar).not_to_have_attribute("aria-valuenow", str(first))
    expect(running.locator(".items")).to_contain_text("/ 400")
    expect(running.locator(".progress-message")).to_contain_text("item")
    assert int(bar.get_attribute("aria-valuenow") or 0) > first
    # Running time counts from the start, ticking in the browser.
    elapsed = running.locator(".elapsed")
    shown = elapsed.inner_text()
    expect(elapsed).not_to_have_text(shown)
    assert_not_reloaded(page)
    screenshot(page, "job-en")
    # Leave nothing running for the next tests.
    execution_id = running.get_attribute("data-execution")
    server.api("POST", f"/api/scheduler/executions/{execution_id}/cancel")
    server.wait_execution(str(execution_id), lambda e: e["status"] != "running")


def test_cancel_a_running_job_and_see_it_end_cancelled(admin_page: Any, server: ServeProcess) -> None:
    page = admin_page
    page.goto(f"{server.url}/executions?job=walker")
    page.locator("#live-state[data-state=live]").wait_for()
    mark_page(page)
    run = server.api("POST", "/api/scheduler/jobs/walker/trigger")
    row = page.locator(f"tr#run-{run['id']}")
    expect(row).to_have_attribute("data-status", "running")
    expect(row.locator("[role=progressbar]")).to_be_visible()
    expect(row.get_by_role("button", name="Delete")).to_have_count(0)
    screenshot(page, "executions-en")
    row.get_by_role("button", name="Cancel run").click()
    expect(page.locator("#confirm-title")).to_have_text("Cancel this run?")
    confirm(page)
    expect(row).to_have_attribute("data-status", "cancelled")
    expect(row.locator(".badge")).to_have_text("cancelled")
    # A finished run offers delete only; cancel and mark-failed are gone.
    expect(row.get_by_role("button", name="Cancel run")).to_have_count(0)
    expect(row.get_by_role("button", name="Mark failed")).to_have_count(0)
    expect(row.get_by_role("button", name="Delete")).to_be_visible()
    assert_not_reloaded(page)


def test_mark_a_stuck_run_failed_with_a_reason(admin_page: Any, server: ServeProcess) -> None:
    page = admin_page
    run = server.api("POST", "/api/scheduler/jobs/stuck/trigger")
    page.goto(f"{server.url}/executions/{run['id']}")
    screenshot(page, "execution-running-en")
    page.get_by_role("button", name="Mark failed").click()
    page.locator("#confirm-dialog").get_by_label("Reason").fill("stuck on the upstream API")
    confirm(page)
    expect(page.locator(".page-head .badge").first).to_have_text("failed")
    expect(page.locator(".error-card")).to_contain_text("stuck on the upstream API")
    assert server.api("GET", f"/api/scheduler/executions/{run['id']}")["status"] == "failed"
    screenshot(page, "execution-failed-en")


def test_delete_a_finished_run(admin_page: Any, server: ServeProcess) -> None:
    page = admin_page
    run = server.api("POST", "/api/scheduler/jobs/quick/trigger")
    server.wait_execution(run["id"], lambda e: e["status"] == "success")
    page.goto(f"{server.url}/executions?job=quick")
    row = page.locator(f"tr#run-{run['id']}")
    row.get_by_role("button", name="Delete").click()
    confirm(page)
    expect(row).to_have_count(0)


def test_edit_display_name_and_clear_the_description(admin_page: Any, server: ServeProcess) -> None:
    page = admin_page
    row = page.locator("tr#job-broken")
    row.locator("[data-control=edit]").click()
    dialog = page.locator("#confirm-dialog")
    dialog.get_by_label("Display name").fill("Nightly import")
    dialog.get_by_label("Description").fill("")
    confirm(page)
    expect(row.locator(".job-link")).to_have_text("Nightly import")
    expect(row.locator(".description")).to_have_count(0)
    job = server.api("GET", "/api/scheduler/jobs/broken")
    assert job["display_name"] == "Nightly import"
    assert not job["description"]


def test_run_now_while_running_is_refused_with_a_clear_message_unless_forced(
    admin_page: Any, server: ServeProcess
) -> None:
    page = admin_page
    run = server.api("POST", "/api/scheduler/jobs/stuck/trigger")
    page.reload()
    row = page.locator("tr#job-stuck")
    row.locator("[data-control=run]").click()
    confirm(page)
    expect(page.locator(".toast.error").last).to_contain_text("already running")
    row.locator("[data-control=run]").click()
    page.locator("#confirm-dialog").get_by_label(re.compile("Force")).check()
    confirm(page)
    expect(page.locator(".toast.ok").last).to_contain_text("Job stuck started")
    for execution in server.api("GET", "/api/scheduler/executions?job_id=stuck&status=running")["items"]:
        server.api("POST", f"/api/scheduler/executions/{execution['id']}/mark-failed")
    del run


def test_the_schedule_editor_rejects_61_and_previews_a_valid_schedule(admin_page: Any, server: ServeProcess) -> None:
    page = admin_page
    page.goto(f"{server.url}/jobs/quick")
    editor = page.locator("#schedule-editor")
    field = editor.get_by_label("Override schedule")
    save = editor.locator("[data-control=save-schedule]")
    field.fill("61 * * * *")
    feedback = editor.locator(".schedule-feedback")
    expect(feedback).to_contain_text("minute value 61 out of range 0-59")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(save).to_be_disabled()

    field.fill("*/10 * * * *")
    expect(feedback).to_contain_text("every 10 minutes")
    expect(feedback.locator("li")).to_have_count(5)
    expect(feedback.locator("li").first).to_have_text(re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d0 \+08:00$"))
    expect(field).to_have_attribute("aria-invalid", "false")
    expect(save).to_be_enabled()
    screenshot(page, "job-schedule-editor-en")

    save.click()
    confirm(page)
    expect(page.locator(".facts code.schedule").first).to_have_text("*/10 * * * *")
    assert server.api("GET", "/api/scheduler/jobs/quick")["schedule"] == "*/10 * * * *"
    page.locator("[data-control=revert-schedule]").click()
    confirm(page)
    expect(page.locator(".facts code.schedule").first).to_have_text("*/5 9-15 * * 1-5")
    assert server.api("GET", "/api/scheduler/jobs/quick")["schedule_overridden"] is False


def test_filters_search_and_sorting_narrow_the_jobs_table(admin_page: Any, server: ServeProcess) -> None:
    page = admin_page
    page.get_by_label("Search").fill("quotes")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr").first).to_have_id("job-quick")
    assert "q=quotes" in page.url
    page.get_by_label("Search").fill("")
    page.get_by_label("Tag").select_option("ops")
    expect(page.locator("tbody tr")).to_have_count(2)
    page.get_by_label("Tag").select_option("")
    page.get_by_label("Sort by").select_option("id")
    page.get_by_label("Order").select_option("desc")
    expect(page.locator("tbody tr").first).to_have_id("job-walker")


def test_every_page_is_screenshotted_on_desktop_and_phone(admin_page: Any, server: ServeProcess) -> None:
    page = admin_page
    server.api("POST", "/api/scheduler/jobs/broken/trigger")
    for name, path in [("overview-en", "/"), ("audit-en", "/audit"), ("executions-all-en", "/executions")]:
        page.goto(f"{server.url}{path}")
        page.locator("#live-state[data-state=live]").wait_for()
        screenshot(page, name)
    page.goto(f"{server.url}/jobs/broken")
    expect(page.locator(".chart svg rect.bar-failed").first).to_be_visible()
    screenshot(page, "job-failures-en")
    page.goto(f"{server.url}/audit?action=pause")
    expect(page.locator("tbody tr").first).to_contain_text("Pause")
