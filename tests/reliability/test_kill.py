"""kill -9 mid-run: the run left `running` is closed `failed` at the next start, and every fire of a job ticking
each second ends as exactly one record — the fires of the downtime as the catch-up run and a `missed` summary. A
command job's process must not outlive the record that says it failed."""

from __future__ import annotations

import os
import signal
from datetime import timedelta
from pathlib import Path

import pytest

from reliability.conftest import Row, ServeFactory, grid, ledger, missed_span, now_utc, wait_for

JOBS_MODULE = """
import asyncio

async def long_walk(ctx, items: int = 6000, delay: float = 0.05):
    for index in range(items):
        await ctx.progress(processed_items=index + 1, total_items=items)
        await asyncio.sleep(delay)
    return items

async def tick():
    return "tick"
"""

JOBS_FILE = """
[[jobs]]
id = "long_walk"
func = "fault_jobs:long_walk"
schedule = "0 0 1 1 *"

[[jobs]]
id = "tick"
func = "fault_jobs:tick"
schedule = "every 1s"
"""


def _ticks(rows: list[Row]) -> list[Row]:
    return [row for row in rows if row.job_id == "tick"]


@pytest.mark.parametrize("down", [3, pytest.param(60, marks=pytest.mark.soak)], ids=lambda s: f"down{s}s")
def test_kill_9_mid_run_closes_the_run_failed_and_accounts_for_every_fire(
    serve: ServeFactory, database_url: str, down: int
) -> None:
    server = serve(JOBS_FILE, module=JOBS_MODULE, database_url=database_url)
    server.start()
    run = server.api("POST", "/api/scheduler/jobs/long_walk/trigger")
    server.wait_execution(run["id"], lambda e: (e["processed_items"] or 0) > 0)
    server.wait_rows(lambda rows: len(_ticks(rows)) >= 3, timeout=15, what="three ticks before the kill")

    first_pid = server.pid
    server.kill()
    killed = now_utc()
    wait_for(lambda: now_utc() >= killed + timedelta(seconds=down), timeout=down + 5, what="the downtime to pass")
    server.start()
    restarted = now_utc()

    closed = server.wait_execution(run["id"], lambda e: e["status"] != "running", timeout=10)
    assert closed["status"] == "failed"
    assert "stopped while this run was going; closed at start-up" in closed["error_message"]
    assert str(first_pid) in closed["error_message"]
    server.wait_rows(
        lambda rows: sum(r.scheduled_time > restarted + timedelta(seconds=2) for r in _ticks(rows)) >= 2,
        timeout=15,
        what="ticks after the restart",
    )
    server.stop()
    assert server.stopped_cleanly, server.log()

    rows = server.rows()
    ticks = _ticks(rows)
    assert not [row for row in rows if row.status == "running"], "every record is closed"
    first = min(row.scheduled_time for row in ticks)
    last = max(missed_span(row)[1] for row in ticks)
    book = ledger(rows, grid(first, last, every=1), job_id="tick")
    assert book.exact, f"lost {book.lost[:5]}… ({len(book.lost)}), doubled {book.doubled}"
    # The downtime's fires: the newest caught up as one run, the rest in one `missed` record with the span.
    down_fires = grid(killed + timedelta(seconds=1), restarted - timedelta(seconds=1), every=1)
    missed = [row for row in ticks if row.status == "missed"]
    assert len(missed) == 1, [m.error_message for m in missed]
    span = missed_span(missed[0])
    assert sum(span[0] <= t <= span[1] for t in down_fires) >= len(down_fires) - 1
    assert "missed while jobdeck was not running" in (missed[0].error_message or "")
    print(f"\nkill -9, down {down} s: {book.expected} fires expected, {len(ticks)} rows {dict(book.statuses)}")


COMMAND_JOBS_FILE = """
[[jobs]]
id = "long_command"
command = ["sh", "-c", "echo $$ > command.pid; exec sleep 600"]
schedule = "0 0 1 1 *"
"""


def test_kill_9_leaves_no_command_job_running_behind_its_failed_record(
    serve: ServeFactory, sqlite_url: str, tmp_path: Path
) -> None:
    server = serve(COMMAND_JOBS_FILE, database_url=sqlite_url)
    server.start()
    run = server.api("POST", "/api/scheduler/jobs/long_command/trigger")
    pid_file = tmp_path / "command.pid"
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=10, what="the command's pid")
    command_pid = int(pid_file.read_text())
    try:
        server.kill()
        server.start()
        closed = server.wait_execution(run["id"], lambda e: e["status"] != "running", timeout=10)
        assert closed["status"] == "failed"
        wait_for(lambda: not _alive(command_pid), timeout=5, what=f"the command (pid {command_pid}) to end")
    finally:
        if _alive(command_pid):
            os.kill(command_pid, signal.SIGKILL)  # the orphan this test made


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rpartition(")")[2].split()[0] not in ("Z", "X")
