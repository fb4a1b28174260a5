"""Playwright (Python) driving Debian's headless Chromium against a real `jobdeck serve` on loopback.

Never ``playwright install``: the browser is ``/usr/bin/chromium`` (``.ci/run`` installs it). Without it the tests
call ``unavailable("Chromium")`` (skip, or fail under ``JOBDECK_REQUIRE_ALL=1``). Screenshots of each page, desktop
(1280 px) and phone (375 px), are written under ``test-artifacts/screenshots/`` on every run.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from browser_helpers import sign_in

from dashboard_server import ADMIN_PASSWORD, VIEWER_PASSWORD, ServeProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.slow


def _load_root_conftest() -> ModuleType:
    # tests/conftest.py is not importable as "conftest" from here (this file has that module name too).
    path = Path(__file__).resolve().parent.parent / "conftest.py"
    spec = importlib.util.spec_from_file_location("_jobdeck_browser_root_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


unavailable: Callable[[str], None] = _load_root_conftest().unavailable


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module-scoped, not session-scoped: Playwright's sync API runs an event loop in this thread while it is
    # open, and the tests of other modules call asyncio.run().
    if not os.path.exists(CHROMIUM):
        unavailable("Chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[ServeProcess]:
    process = ServeProcess.with_jobs(tmp_path_factory.mktemp("serve"))
    process.start()
    yield process
    process.stop()


@pytest.fixture
def admin_page(browser: Any, server: ServeProcess) -> Iterator[Any]:
    page = sign_in(browser, server, "admin", ADMIN_PASSWORD)
    yield page
    assert not page.jd_errors, page.jd_errors
    page.context.close()


@pytest.fixture
def viewer_page(browser: Any, server: ServeProcess) -> Iterator[Any]:
    page = sign_in(browser, server, "viewer", VIEWER_PASSWORD)
    yield page
    assert not page.jd_errors, page.jd_errors
    page.context.close()
