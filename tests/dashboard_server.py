"""A real `jobdeck serve` subprocess on a loopback port, restartable on the same database (browser tests, SSE)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from live_server import ADMIN_PASSWORD, VIEWER_PASSWORD, create_users, free_port, wait_until

__all__ = ["ADMIN_PASSWORD", "JOBS_FILE", "JOBS_MODULE", "VIEWER_PASSWORD", "ServeProcess"]

JOBS_MODULE = """
import asyncio

async def walker(ctx, items: int = 400, delay: float = 0.1):
    # Progress every step; honours cancellation at each progress call.
    for index in range(items):
        await ctx.progress(processed_items=index, total_items=items, message=f"item {index}")
        await asyncio.sleep(delay)
    return items

async def stuck(seconds: float = 600):
    # Never reports progress: an operator has to mark it failed.
    await asyncio.sleep(seconds)

async def quick():
    await asyncio.sleep(0.05)
    return {"ok": True}

async def broken():
    raise RuntimeError("upstream answered 502")
"""

JOBS_FILE = """
[[jobs]]
id = "walker"
func = "browser_jobs:walker"
schedule = "0 3 * * *"
display_name = "Symbol walker"
description = "Walks 400 symbols with progress; cancellable"
tags = ["sync"]

[[jobs]]
id = "stuck"
func = "browser_jobs:stuck"
schedule = "@weekly"
display_name = "Stuck export"
description = "Hangs without progress"
tags = ["ops"]

[[jobs]]
id = "quick"
func = "browser_jobs:quick"
schedule = "*/5 9-15 * * 1-5"
display_name = "Quotes sync"
description = "Real-time quotes every 5 minutes in trading hours"
tags = ["quotes", "sync"]

[[jobs]]
id = "pausable"
func = "browser_jobs:quick"
schedule = "every 1h"
display_name = "Hourly status check"
tags = ["ops"]

[[jobs]]
id = "broken"
func = "browser_jobs:broken"
schedule = "18:00"
display_name = "Flaky import"
description = "Fails, to show failures"
tags = ["sync"]
"""


class ServeProcess:
    """`jobdeck serve` in a subprocess with the test users ``admin`` and ``viewer``."""

    def __init__(self, folder: Path, extra_env: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = f"sqlite+aiosqlite:///{folder}/serve.db"
        self.env = {
            **os.environ,
            "JOBDECK_DATABASE_URL": self.database_url,
            "JOBDECK_HEARTBEAT_INTERVAL": "0.5",
            "JOBDECK_CANCEL_GRACE": "2",
            "JOBDECK_SHUTDOWN_GRACE": "2",
            "JOBDECK_TIMEZONE": "Asia/Shanghai",
            **(extra_env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""

    @classmethod
    def with_jobs(cls, folder: Path, extra_env: dict[str, str] | None = None) -> ServeProcess:
        (folder / "browser_jobs.py").write_text(textwrap.dedent(JOBS_MODULE))
        (folder / "jobs.toml").write_text(JOBS_FILE)
        process = cls(folder, extra_env)
        # In a thread of its own: the caller may be running an event loop (Playwright's sync API does).
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(create_users, process.database_url).result()
        return process

    def start(self) -> None:
        """Start the server and wait until it answers."""
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jobdeck",
                "serve",
                "--config",
                str(self.folder / "jobs.toml"),
                "--port",
                str(self.port),
            ],
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.folder / "serve.log", "ab"),  # noqa: SIM115 - the child owns it
        )

        def answers() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log()
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answers, timeout=30, what="jobdeck serve to answer", interval=0.1)
        response = httpx.post(f"{self.url}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        self.token = response.json()["data"]["access_token"]

    def log(self) -> str:
        path = self.folder / "serve.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> float:
        """Signal the server and wait for it to exit; returns how long it took."""
        assert self.proc is not None
        began = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait(timeout=30)
                raise
        return time.monotonic() - began

    def api(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        response = httpx.request(
            method,
            f"{self.url}{path}",
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=10,
            **kwargs,
        )
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def wait_execution(self, execution_id: str, predicate: Any, timeout: float = 10) -> dict[str, Any]:
        def probe() -> Any:
            execution = self.api("GET", f"/api/scheduler/executions/{execution_id}")
            return execution if predicate(execution) else None

        return wait_until(probe, timeout=timeout, what=f"execution {execution_id}")  # type: ignore[no-any-return]
