"""10,000 fires due at one instant in a real `jobdeck serve`: 10,000 records of that instant, one per job, none
lost, none doubled, all closed — and health keeps answering during the burst."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import httpx
import pytest

from reliability.conftest import Row, ServeFactory, grid, now_utc, wait_for

JOBS = 10_000
EVERY = 20
"""Seconds: every job fires on the same 20 s grid, so each grid instant is a burst of 10,000 fires."""

JOBS_MODULE = """
async def work():
    return None
"""


def _jobs_file(count: int) -> str:
    return "".join(
        f'[[jobs]]\nid = "burst_{n:05d}"\nfunc = "fault_jobs:work"\nschedule = "every {EVERY}s"\n\n'
        for n in range(count)
    )


class HealthProbe:
    """Asks ``/healthz`` and ``/api/scheduler/health`` in a loop on its own thread, keeping status and latency."""

    def __init__(self, url: str, token: str) -> None:
        self._url = url
        self._token = token
        self._stop = threading.Event()
        self.answers: list[tuple[str, int, float]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self._token}"}
        with httpx.Client(base_url=self._url, timeout=30) as client:
            while not self._stop.wait(0.2):
                for path in ("/healthz", "/api/scheduler/health"):
                    began = time.monotonic()
                    try:
                        status = client.get(path, headers=headers).status_code
                    except httpx.HTTPError:
                        status = 0
                    self.answers.append((path, status, time.monotonic() - began))

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


@pytest.mark.parametrize("bursts", [1, pytest.param(3, marks=pytest.mark.soak)], ids=lambda n: f"{n}burst")
def test_ten_thousand_fires_due_at_once_become_ten_thousand_records(
    serve: ServeFactory, database_url: str, bursts: int
) -> None:
    server = serve(_jobs_file(JOBS), module=JOBS_MODULE, database_url=database_url)
    server.start()
    # The first grid instant at least 2 s after the server answers: its whole burst lands in this process.
    instants = grid(now_utc() + timedelta(seconds=2), now_utc() + timedelta(seconds=2 + EVERY * bursts), every=EVERY)
    instants = instants[:bursts]

    def burst_done(rows: list[Row]) -> bool:
        at_last = [r for r in rows if r.scheduled_time == instants[-1]]
        return len(at_last) >= JOBS and all(r.status != "running" for r in at_last)

    with HealthProbe(server.url, server.token) as probe:
        wait_for(lambda: now_utc() >= instants[0], timeout=EVERY + 5, what="the first burst's instant")
        rows = server.wait_rows(burst_done, timeout=EVERY * bursts + 60, what="every fire's record", interval=1.0)
    server.stop()
    rows = server.rows()

    for instant in instants:
        at = [r for r in rows if r.scheduled_time == instant]
        per_job = Counter(r.job_id for r in at)
        assert len(per_job) == JOBS, f"{instant}: {JOBS - len(per_job)} jobs without a record"
        assert max(per_job.values()) == 1, f"{instant}: doubled {[j for j, n in per_job.items() if n > 1][:5]}"
        assert Counter(r.status for r in at) == {"success": JOBS}, Counter(r.status for r in at)
    assert probe.answers and all(status == 200 for _, status, _ in probe.answers), Counter(probe.answers)
    first = [r for r in rows if r.scheduled_time == instants[0]]
    starts = sorted((r.started_at - instants[0]).total_seconds() for r in first)
    closed = max(r.finished_at or instants[0] for r in first) - instants[0]
    worst = max(latency for _, _, latency in probe.answers)
    print(
        f"\n{bursts} burst(s) of {JOBS}: {len(rows)} records; first burst started p50 {starts[len(starts) // 2]:.2f} s,"
        f" last {starts[-1]:.2f} s, all closed {closed.total_seconds():.2f} s after the instant;"
        f" {len(probe.answers)} health answers, all 200, slowest {worst:.2f} s"
    )
