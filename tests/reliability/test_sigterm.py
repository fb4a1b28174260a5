"""SIGTERM drain: firing stops, running jobs get ``shutdown_grace`` to finish, the rest are cancelled, every record
is closed, and the process is gone within the grace plus a margin."""

from __future__ import annotations

import pytest

from reliability.conftest import ServeFactory, grid, ledger, missed_span

GRACE = 3.0
MARGIN = 5.0
"""Seconds past the grace a drained process may take to exit (uvicorn's own shutdown, closing the store)."""

JOBS_MODULE = """
import asyncio, time

async def quick():
    await asyncio.sleep(1)
    return "finished inside the grace"

async def stubborn():
    await asyncio.sleep(3600)

def threaded():
    time.sleep(1)
    return "thread finished inside the grace"

def stuck_thread():
    time.sleep(20)
    return "too late"

async def tick():
    return "tick"
"""

NEVER = "0 0 1 1 *"
JOBS_FILE = f"""
[[jobs]]
id = "quick"
func = "fault_jobs:quick"
schedule = "{NEVER}"

[[jobs]]
id = "stubborn"
func = "fault_jobs:stubborn"
schedule = "{NEVER}"

[[jobs]]
id = "threaded"
func = "fault_jobs:threaded"
schedule = "{NEVER}"

[[jobs]]
id = "stuck_thread"
func = "fault_jobs:stuck_thread"
schedule = "{NEVER}"

[[jobs]]
id = "command"
command = ["sleep", "600"]
schedule = "{NEVER}"

[[jobs]]
id = "tick"
func = "fault_jobs:tick"
schedule = "every 1s"
"""

EXPECTED = {
    "quick": "success",
    "threaded": "success",
    "stubborn": "cancelled",
    "command": "cancelled",
    "stuck_thread": "failed",
}


@pytest.mark.parametrize("rounds", [1, pytest.param(10, marks=pytest.mark.soak)], ids=lambda n: f"{n}x")
def test_sigterm_drains_running_jobs_within_the_grace_and_closes_every_record(
    serve: ServeFactory, database_url: str, rounds: int
) -> None:
    server = serve(JOBS_FILE, module=JOBS_MODULE, database_url=database_url, env={"JOBDECK_SHUTDOWN_GRACE": "3"})
    runs: dict[str, list[str]] = {job_id: [] for job_id in EXPECTED}
    took: list[float] = []
    for _ in range(rounds):
        server.start()
        for job_id in EXPECTED:
            run = server.api("POST", f"/api/scheduler/jobs/{job_id}/trigger")
            runs[job_id].append(run["id"])
        server.wait_rows(
            lambda rows: sum(row.job_id == "tick" for row in rows) >= 2, timeout=15, what="ticks before SIGTERM"
        )
        took.append(server.stop())
        assert server.stopped_cleanly, server.log()
        assert took[-1] <= GRACE + MARGIN, f"exit took {took[-1]:.1f} s (grace {GRACE} s)"

    rows = server.rows()
    by_id = {row.id: row for row in rows}
    assert not [row for row in rows if row.status == "running"], "no record is left running"
    for job_id, status in EXPECTED.items():
        assert [by_id[run_id].status for run_id in runs[job_id]] == [status] * rounds, job_id
    assert all("shutdown" in (by_id[i].error_message or "") for i in runs["stubborn"] + runs["command"])
    ticks = [row for row in rows if row.job_id == "tick"]
    first = min(row.scheduled_time for row in ticks)
    last = max(missed_span(row)[1] for row in ticks)
    # Fires between rounds (the server down) are caught up at the next start: the grid is whole either way.
    book = ledger(rows, grid(first, last, every=1), job_id="tick")
    assert book.exact, f"lost {book.lost[:5]} ({len(book.lost)}), doubled {book.doubled}"
    print(f"\nSIGTERM x{rounds}: exits in {max(took):.1f} s max (grace {GRACE} s); {len(rows)} records, none running")
