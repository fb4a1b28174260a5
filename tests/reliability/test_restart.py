"""Restart after an hour down: the database's fire marks are an hour old when `jobdeck serve` starts. Each missed
fire of that hour is recorded per the job's policy — coalesced into one catch-up run plus one `missed` summary, or
(coalesce off) a run for each fire within the misfire grace and one summary of the older ones — and counted."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import live_server
from jobdeck.schedules import next_fire_times, parse_schedule
from reliability.conftest import Row, ServeFactory, ledger, missed_span, now_utc

JOBS_MODULE = """
async def work():
    return "done"
"""

JOBS_FILE = """
[[jobs]]
id = "minutely"
func = "fault_jobs:work"
schedule = "* * * * *"

[[jobs]]
id = "five_minutes"
func = "fault_jobs:work"
schedule = "*/5 * * * *"
coalesce = false
misfire_grace = "20m"
"""


def _fires(expression: str, after: datetime, until: datetime) -> list[datetime]:
    times = next_fire_times(parse_schedule(expression), after=after, count=10_000)
    return [t for t in times if t <= until]


def _count_in(message: str | None) -> int:
    match = re.search(r"(\d+) fires? between", message or "")
    assert match is not None, message
    return int(match.group(1))


@pytest.mark.parametrize("hours_down", [1, pytest.param(24, marks=pytest.mark.soak)], ids=lambda h: f"{h}h")
def test_a_restart_after_hours_down_records_every_fire_of_the_downtime_per_policy(
    serve: ServeFactory, database_url: str, hours_down: int
) -> None:
    down_since = now_utc().replace(second=0, microsecond=0) - timedelta(hours=hours_down)

    async def mark(store: Any) -> None:
        # What the previous process handed over last, an hour ago; it has been down since.
        await store.record_fire("minutely", down_since)
        await store.record_fire("five_minutes", down_since)

    live_server.on_store(database_url, mark)
    server = serve(JOBS_FILE, module=JOBS_MODULE, database_url=database_url)
    spawned = server.start()
    server.wait_rows(
        lambda rows: (
            {r.job_id for r in rows if r.status != "running"} >= {"minutely", "five_minutes"}
            and not [r for r in rows if r.status == "running"]
        ),
        timeout=20,
        what="the catch-up records",
    )
    started = datetime.fromtimestamp(spawned, UTC)
    server.stop()
    rows = server.rows()

    summary: dict[str, Any] = {}
    for job_id, expression in [("minutely", "* * * * *"), ("five_minutes", "*/5 * * * *")]:
        mine = [r for r in rows if r.job_id == job_id]
        end = max(missed_span(r)[1] for r in mine)
        expected = _fires(expression, down_since, end)
        assert end >= _fires(expression, down_since, started)[-1], "the newest fire of the downtime is recorded"
        book = ledger(rows, expected, job_id=job_id)
        assert book.exact, f"{job_id}: lost {book.lost[:5]} ({len(book.lost)}), doubled {book.doubled}"
        summary[job_id] = (len(expected), dict(book.statuses))
        _check_policy(job_id, mine, expected, started)
    print(f"\nrestart after {hours_down} h down: fires expected, records by status = {summary}")


def _check_policy(job_id: str, mine: list[Row], expected: list[datetime], started: datetime) -> None:
    missed = [r for r in mine if r.status == "missed"]
    ran = [r for r in mine if r.status == "success"]
    assert len(missed) == 1, [r.error_message for r in missed]
    if job_id == "minutely":  # coalesced: one run for the newest fire; the summary counts all of them
        assert len(ran) == 1 and ran[0].scheduled_time == expected[-1]
        assert _count_in(missed[0].error_message) == len(expected)
        assert "coalesced into one catch-up run" in (missed[0].error_message or "")
    else:
        # Every fire within the 20 min grace is handed over on its own; the overlap policy (skip, by default)
        # decides whether it runs beside the others or is recorded `skipped`. The older fires are summed up.
        fresh = [t for t in expected if t >= started - timedelta(minutes=20)]
        handed = [r for r in mine if r.status != "missed"]
        assert {r.scheduled_time for r in handed} >= set(fresh[1:])  # the oldest may sit on the grace's edge
        assert {r.status for r in handed} <= {"success", "skipped"} and ran
        assert all("max_instances=1 reached" in (r.error_message or "") for r in handed if r.status == "skipped")
        assert _count_in(missed[0].error_message) + len(handed) == len(expected)
        assert "beyond the misfire grace" in (missed[0].error_message or "")
