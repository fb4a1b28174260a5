"""The SQLite lane: one connection of its own, one thread, inline calls only when nothing runs on the thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from jobdeck.store._lane import SqliteLane


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False)


async def test_work_runs_on_the_lanes_one_thread_with_one_connection(tmp_path: Path) -> None:
    lane = SqliteLane(lambda: _connect(tmp_path / "lane.db"))
    try:
        seen = await asyncio.gather(*(lane.run(lambda db: (threading.get_ident(), id(db))) for _ in range(5)))
    finally:
        await lane.close()
    assert len(set(seen)) == 1
    assert seen[0][0] != threading.get_ident()


async def test_an_inline_lane_runs_here_once_connected_and_not_while_the_thread_is_busy(tmp_path: Path) -> None:
    lane = SqliteLane(lambda: _connect(tmp_path / "lane.db"), inline=True)
    here = threading.get_ident()
    release = threading.Event()
    try:
        first = await lane.run(lambda db: threading.get_ident(), inline=True)  # opens the connection on the thread
        assert first != here
        assert await lane.run(lambda db: threading.get_ident(), inline=True) == here
        assert await lane.run(lambda db: threading.get_ident(), inline=False) != here
        busy = asyncio.ensure_future(lane.run(lambda db: release.wait(5)))
        await asyncio.sleep(0)  # the busy call is on the thread now
        queued = asyncio.ensure_future(lane.run(lambda db: threading.get_ident(), inline=True))
        await asyncio.sleep(0)
        release.set()
        assert await busy is True
        assert await queued != here  # it queued behind the busy call instead of sharing the connection with it
    finally:
        release.set()
        await lane.close()


async def test_a_dropped_connection_is_opened_again_at_the_next_call(tmp_path: Path) -> None:
    opened: list[sqlite3.Connection] = []

    def connect() -> sqlite3.Connection:
        opened.append(_connect(tmp_path / "lane.db"))
        return opened[-1]

    lane = SqliteLane(connect)
    try:
        await lane.run(lambda db: db.execute("CREATE TABLE t (x)"))
        lane.drop()
        assert await lane.run(lambda db: db.execute("SELECT count(*) FROM t").fetchone()[0]) == 0
    finally:
        await lane.close()
    assert len(opened) == 2
