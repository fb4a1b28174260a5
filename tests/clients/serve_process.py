"""A real `jobdeck serve` subprocess with test jobs, an admin and a viewer, for the client tests."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from live_server import ADMIN_PASSWORD, VIEWER_PASSWORD, create_users, free_port, wait_until


def _root_unavailable() -> Callable[[str], None]:
    # tests/conftest.py is not importable as "conftest" from here: load a copy by path for unavailable().
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("_jobdeck_clients_root_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.unavailable  # type: ignore[no-any-return]


unavailable = _root_unavailable()
"""Skip the calling test because the named tool is missing, or fail it under JOBDECK_REQUIRE_ALL=1."""

JOBS_MODULE = """
import asyncio

async def walker(ctx, items: int = 5, delay: float = 0.05):
    for index in range(items):
        ctx.log(f"step {index}")
        await ctx.progress(processed_items=index + 1, total_items=items, message=f"item {index}")
        await asyncio.sleep(delay)
    return {"walked": items}

async def echo(label: str = "configured", force: bool = False):
    return {"label": label, "force": force}

def boom():
    raise RuntimeError("boom on purpose")
"""

JOBS_FILE = """
[[jobs]]
id = "walker"
func = "client_jobs:walker"
schedule = "every 1d"
display_name = "Walker"
description = "Walks items with progress"

[[jobs]]
id = "echo"
func = "client_jobs:echo"
schedule = "every 1d"
kwargs = { label = "configured" }
tags = ["probe"]

[[jobs]]
id = "boom"
func = "client_jobs:boom"
schedule = "every 1d"
paused = true
"""


@dataclass
class ServeProcess:
    """`jobdeck serve` on a free port; ``admin_token`` and ``viewer_token`` are signed in."""

    folder: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    admin_token: str = ""
    viewer_token: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.folder}/serve.db"

    def start(self) -> None:
        (self.folder / "client_jobs.py").write_text(textwrap.dedent(JOBS_MODULE))
        (self.folder / "jobs.toml").write_text(JOBS_FILE)
        create_users(self.database_url)
        env = {
            **os.environ,
            "JOBDECK_DATABASE_URL": self.database_url,
            "JOBDECK_TIMEZONE": "Asia/Shanghai",
            "JOBDECK_HEARTBEAT_INTERVAL": "0.5",
            "JOBDECK_CANCEL_GRACE": "1",
            "JOBDECK_SHUTDOWN_GRACE": "1",
        }
        env.pop("JOBDECK_ADMIN_PASSWORD", None)
        log = open(self.folder / "serve.log", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jobdeck", "serve", "--config", "jobs.toml", "--port", str(self.port)],
            cwd=self.folder,
            env=env,
            stdout=log,
            stderr=log,
        )
        wait_until(self._answers, timeout=30, what="jobdeck serve to answer", interval=0.1)
        self.admin_token = self._login("admin", ADMIN_PASSWORD)
        self.viewer_token = self._login("viewer", VIEWER_PASSWORD)

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"jobdeck serve exited: {(self.folder / 'serve.log').read_text()}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def _login(self, username: str, password: str) -> str:
        response = httpx.post(f"{self.url}/api/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return str(response.json()["data"]["access_token"])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
