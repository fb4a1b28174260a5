"""DST days in Europe/Berlin and America/New_York: a daily 02:30 job, an hourly cron job and an `every 1h` job fire
the times in the tables below — none twice, none lost. Checked twice: by the schedule maths alone, and through the
engine, which on an injected clock catches a whole DST day up into records (one per fire)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jobdeck.engine import Engine, EngineOptions
from jobdeck.models import JobSpec, JobState, OverlapPolicy
from jobdeck.schedules import next_fire_times, parse_schedule
from jobdeck.store.sql import SqlStore
from jobdeck.testing import FrozenClock, wait_until
from reliability.conftest import Row, read_rows


def z(text: str) -> datetime:
    """A UTC instant from ``YYYY-MM-DD HH:MM``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def hours(first: str, last: str, *, skip: tuple[str, ...] = ()) -> list[datetime]:
    """Every whole UTC hour from ``first`` to ``last`` (inclusive), less ``skip``."""
    times, cursor, end, skipped = [], z(first), z(last), {z(s) for s in skip}
    while cursor <= end:
        if cursor not in skipped:
            times.append(cursor)
        cursor += timedelta(hours=1)
    return times


# (zone, the local day, its first instant, its end) and, per schedule, the fire times of that local day in UTC.
DAYS = {
    # 02:00 CET → 03:00 CEST: the local day has 23 hours; 02:30 does not exist and fires at the gap's end.
    "berlin-spring": ("Europe/Berlin", z("2026-03-28 23:00"), z("2026-03-29 22:00"), {
        "30 2 * * *": [z("2026-03-29 01:00")],
        "0 * * * *": hours("2026-03-28 23:00", "2026-03-29 21:00"),
        "every 1h": hours("2026-03-28 23:00", "2026-03-29 21:00"),
    }),
    # 03:00 CEST → 02:00 CET: 25 hours; 02:00–02:59 twice. Wall-clock schedules fire on the first pass only.
    "berlin-fall": ("Europe/Berlin", z("2026-10-24 22:00"), z("2026-10-25 23:00"), {
        "30 2 * * *": [z("2026-10-25 00:30")],
        "0 * * * *": hours("2026-10-24 22:00", "2026-10-25 22:00", skip=("2026-10-25 01:00",)),
        "every 1h": hours("2026-10-24 22:00", "2026-10-25 22:00"),
    }),
    # 02:00 EST → 03:00 EDT.
    "new-york-spring": ("America/New_York", z("2026-03-08 05:00"), z("2026-03-09 04:00"), {
        "30 2 * * *": [z("2026-03-08 07:00")],
        "0 * * * *": hours("2026-03-08 05:00", "2026-03-09 03:00"),
        "every 1h": hours("2026-03-08 05:00", "2026-03-09 03:00"),
    }),
    # 02:00 EDT → 01:00 EST: 01:00–01:59 twice; 02:30 EST exists once.
    "new-york-fall": ("America/New_York", z("2026-11-01 04:00"), z("2026-11-02 05:00"), {
        "30 2 * * *": [z("2026-11-01 07:30")],
        "0 * * * *": hours("2026-11-01 04:00", "2026-11-02 04:00", skip=("2026-11-01 06:00",)),
        "every 1h": hours("2026-11-01 04:00", "2026-11-02 04:00"),
    }),
}  # fmt: skip
SCHEDULES = {"30 2 * * *": "daily_0230", "0 * * * *": "hourly", "every 1h": "every_hour"}
COUNTS = {"berlin-spring": 23, "berlin-fall": 24, "new-york-spring": 23, "new-york-fall": 24}
"""Fires of the hourly cron job: a 23-hour day has 23; a 25-hour day 24 (the repeated hour fires once)."""


@pytest.mark.parametrize("day", DAYS)
@pytest.mark.parametrize("expression", SCHEDULES)
def test_the_schedule_maths_fires_each_dst_day_per_the_table(day: str, expression: str) -> None:
    zone, start, end, table = DAYS[day]
    schedule = parse_schedule("02:30" if expression == "30 2 * * *" else expression, timezone=zone)
    times = [t for t in next_fire_times(schedule, after=start - timedelta(microseconds=1), count=30) if t < end]
    assert times == table[expression]
    assert len(set(times)) == len(times)
    if expression == "0 * * * *":
        assert len(times) == COUNTS[day]


async def work() -> str:
    return "ran"


@pytest.mark.parametrize("day", DAYS)
async def test_the_engine_records_one_run_per_fire_of_a_dst_day(tmp_path: Path, day: str) -> None:
    zone, start, end, table = DAYS[day]
    url = f"sqlite+aiosqlite:///{tmp_path / 'dst.db'}"
    store = SqlStore(url)
    await store.open()
    # The engine starts just after the local day with every job's last fire just before it: the catch-up hands
    # each fire of the day over (coalesce off, a grace longer than the day, runs allowed to overlap).
    engine = Engine(
        store,
        clock=FrozenClock(end + timedelta(minutes=1)),
        options=EngineOptions(heartbeat_interval=0.2, progress_flush_interval=0.05, shutdown_grace=1),
    )
    for expression, job_id in SCHEDULES.items():
        spec = JobSpec(
            id=job_id,
            func="tests:work",
            function=work,
            schedule=parse_schedule("02:30" if expression == "30 2 * * *" else expression, timezone=zone),
            timezone=zone,
            coalesce=False,
            misfire_grace=2 * 86_400,
            max_instances=50,
            overlap=OverlapPolicy.ALLOW,
        )
        engine.register(spec, JobState(job_id=job_id, last_fire_time=start - timedelta(microseconds=1)))
    expected = sum(len(times) for times in table.values())

    def of_the_day(rows: list[Row]) -> list[Row]:
        return [row for row in rows if start <= row.scheduled_time < end]

    async def probe() -> list[Row]:
        return of_the_day(read_rows(url))

    await engine.start()
    try:
        rows = await wait_until(
            probe,
            lambda rows: len(rows) >= expected and all(r.status != "running" for r in rows),
            timeout=15,
            what=f"{expected} records of {day}",
        )
    finally:
        await engine.shutdown()
        await store.close()
    for expression, job_id in SCHEDULES.items():
        mine = sorted(row.scheduled_time for row in rows if row.job_id == job_id)
        assert mine == table[expression], job_id
    assert {row.status for row in rows} == {"success"}
    assert len(of_the_day(read_rows(url))) == expected
