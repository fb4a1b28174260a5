"""Helpers of the browser tests: signing in through the page, screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dashboard_server import ServeProcess

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}


def sign_in(browser: Any, server: ServeProcess, username: str, password: str, language: str = "en") -> Any:
    """A fresh browser context signed in through the sign-in page; returns its page (on the jobs overview)."""
    accept = "zh-CN,zh;q=0.9,en;q=0.5" if language == "zh" else "en-US,en;q=0.9"
    context = browser.new_context(
        viewport=DESKTOP,
        locale="zh-CN" if language == "zh" else "en-US",
        extra_http_headers={"Accept-Language": accept},
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.jd_errors = errors
    page.goto(f"{server.url}/")
    page.get_by_label("Username" if language == "en" else "用户名").fill(username)
    page.get_by_label("Password" if language == "en" else "密码").fill(password)
    page.locator("form.login button[type=submit]").click()
    page.wait_for_url(f"{server.url}/")
    page.locator("#live-state[data-state=live]").wait_for()
    return page


def screenshot(page: Any, name: str) -> None:
    """Write ``<name>-desktop.png`` (1280 px) and ``<name>-phone.png`` (375 px) of the whole page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    page.screenshot(path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size(DESKTOP)
    assert overflow <= 0, f"{name}: the page is {overflow}px wider than a 375-px phone"
