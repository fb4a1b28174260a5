"""A stalled process: a real `jobdeck serve` stopped (SIGSTOP) for a while with a job every second. The timer wakes
late and hands the stall's fire times over at once; the job coalesces, so one of them runs and every other is a
``missed`` record saying so — one record per fire time, none lost (fires expected == rows)."""

from __future__ import annotations

import itertools
import signal
import sqlite3
import textwrap
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from live_server import ServeProcess, wait_until

pytestmark = pytest.mark.slow

ADMIN_PASSWORD = "stall-admin-password"
JOBS_MODULE = """
async def nothing():
    return None
"""
JOBS_FILE = """
[[jobs]]
id = "tick"
func = "stall_jobs:nothing"
schedule = "every {every}s"
"""


def rows(path: Path) -> list[tuple[datetime, str, str | None]]:
    conn = sqlite3.connect(path)
    try:
        found = conn.execute(
            "SELECT scheduled_time, status, error_message FROM executions WHERE job_id = 'tick' ORDER BY scheduled_time"
        )
        return [(datetime.fromisoformat(fire), status, message) for fire, status, message in found]
    finally:
        conn.close()


def run_stall(folder: Path, *, every: int, stall_s: float) -> dict[str, Any]:
    (folder / "stall_jobs.py").write_text(textwrap.dedent(JOBS_MODULE))
    (folder / "jobs.toml").write_text(JOBS_FILE.format(every=every))
    serve = ServeProcess(
        folder,
        {"JOBDECK_ADMIN_PASSWORD": ADMIN_PASSWORD, "JOBDECK_TIMEZONE": "UTC", "JOBDECK_SHUTDOWN_GRACE": "5"},
        admin_password=ADMIN_PASSWORD,
    )
    db_path = folder / "serve.db"
    serve.start()
    assert serve.proc is not None
    try:
        wait_until(lambda: len(rows(db_path)) >= 2, timeout=30, what="the first fires")
        before = rows(db_path)[-1][0]
        serve.proc.send_signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            # The fault itself: the process stays stopped this long (nothing is asserted meanwhile).
            wait_until(lambda: time.monotonic() - stopped_at >= stall_s, timeout=stall_s + 5, what="the stall")
        finally:
            serve.proc.send_signal(signal.SIGCONT)
        stall_end = before + timedelta(seconds=stall_s)
        wait_until(
            lambda: sum(1 for fire, status, _ in rows(db_path) if fire > stall_end and status == "success") >= 2,
            timeout=30,
            what="runs after the stall",
        )
    finally:
        serve.stop(signal.SIGTERM)
    found = rows(db_path)
    fires = [fire for fire, _, _ in found]
    assert len(fires) == len(set(fires)), "a fire with two records"
    step = timedelta(seconds=every)
    gaps = [(a, b) for a, b in itertools.pairwise(fires) if b - a != step]
    assert not gaps, f"fires without a record between {gaps[:3]}"
    missed = [(fire, message or "") for fire, status, message in found if status == "missed"]
    return {
        "expected": (fires[-1] - fires[0]) // step + 1,
        "rows": len(found),
        "statuses": Counter(status for _, status, _ in found),
        "missed": missed,
        "before": before,
    }


def assert_stall(result: dict[str, Any], *, every: int, stall_s: float) -> None:
    assert result["expected"] == result["rows"]
    assert result["statuses"]["skipped"] == 0 and result["statuses"]["running"] == 0, result["statuses"]
    missed = result["missed"]
    # The fires due while stopped: all but the one that ran are missed (give or take the fire at each edge).
    due = int(stall_s // every)
    assert due - 2 <= len(missed) <= due + 1, (len(missed), due)
    assert all(fire > result["before"] for fire, _ in missed)
    for _, message in missed:
        assert "the process was stopped, its event loop blocked" in message, message
        assert "coalesced into the run of" in message, message


def test_a_stopped_process_records_every_fire_of_the_stall_as_missed(tmp_path: Path) -> None:
    result = run_stall(tmp_path, every=1, stall_s=6.0)
    assert_stall(result, every=1, stall_s=6.0)
    print(f"SIGSTOP 6 s, a job every 1 s: {result['expected']} fires, {result['rows']} rows, "
          f"{dict(result['statuses'])}")  # fmt: skip


@pytest.mark.soak
def test_a_process_stopped_90s_with_a_job_every_2s(tmp_path: Path) -> None:
    result = run_stall(tmp_path, every=2, stall_s=90.0)
    assert_stall(result, every=2, stall_s=90.0)
    print(f"SIGSTOP 90 s, a job every 2 s: {result['expected']} fires, {result['rows']} rows, "
          f"{dict(result['statuses'])}")  # fmt: skip
