"""A real `jobdeck serve` subprocess on a loopback port, restartable on the same database (browser tests, SSE)."""

from __future__ import annotations

import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import live_server
from live_server import ADMIN_PASSWORD, VIEWER_PASSWORD, create_users

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


class ServeProcess(live_server.ServeProcess):
    """`jobdeck serve` with the dashboard's demo-like jobs and the test users ``admin`` and ``viewer``."""

    def __init__(self, folder: Path, extra_env: dict[str, str] | None = None) -> None:
        env = {
            "JOBDECK_HEARTBEAT_INTERVAL": "0.5",
            "JOBDECK_CANCEL_GRACE": "2",
            "JOBDECK_SHUTDOWN_GRACE": "2",
            "JOBDECK_TIMEZONE": "Asia/Shanghai",
            **(extra_env or {}),
        }
        super().__init__(folder, env)

    @classmethod
    def with_jobs(cls, folder: Path, extra_env: dict[str, str] | None = None) -> ServeProcess:
        (folder / "browser_jobs.py").write_text(textwrap.dedent(JOBS_MODULE))
        (folder / "jobs.toml").write_text(JOBS_FILE)
        process = cls(folder, extra_env)
        # In a thread of its own: the caller may be running an event loop (Playwright's sync API does).
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(create_users, process.database_url).result()
        return process
