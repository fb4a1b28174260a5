"""A real `jobdeck serve` subprocess with test jobs, an admin and a viewer, for the client tests."""

from __future__ import annotations

import importlib.util
import signal
import textwrap
from collections.abc import Callable
from pathlib import Path

import httpx

import live_server
from live_server import VIEWER_PASSWORD, create_users


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


class ServeProcess(live_server.ServeProcess):
    """`jobdeck serve` with the client tests' jobs; ``admin_token`` and ``viewer_token`` are signed in."""

    def __init__(self, folder: Path) -> None:
        super().__init__(
            folder,
            {
                "JOBDECK_TIMEZONE": "Asia/Shanghai",
                "JOBDECK_HEARTBEAT_INTERVAL": "0.5",
                "JOBDECK_CANCEL_GRACE": "1",
                "JOBDECK_SHUTDOWN_GRACE": "1",
            },
        )
        self.env.pop("JOBDECK_ADMIN_PASSWORD", None)
        self.viewer_token = ""

    @property
    def admin_token(self) -> str:
        return self.token

    def start(self) -> float:
        (self.folder / "client_jobs.py").write_text(textwrap.dedent(JOBS_MODULE))
        (self.folder / "jobs.toml").write_text(JOBS_FILE)
        create_users(self.database_url)
        spawned = super().start()
        response = httpx.post(f"{self.url}/api/auth/login", json={"username": "viewer", "password": VIEWER_PASSWORD})
        assert response.status_code == 200, response.text
        self.viewer_token = str(response.json()["data"]["access_token"])
        return spawned

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> float:
        return 0.0 if self.proc is None else super().stop(sig, timeout)
