"""The job list's read model: one cache of the summaries and their rendered rows, rebuilt when an input moves."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from runtime_helpers import py_job

from jobdeck.api.schemas import JobOut, JobRowRenderer
from jobdeck.config import Settings
from jobdeck.models import Principal, Role
from jobdeck.runtime import Runtime

ALICE = Principal(username="alice", role=Role.ADMIN, via="password")


async def _idle() -> None:
    return None


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}", admin_password="job-list-admin", timezone="UTC"
    )
    started = await Runtime.start(settings, [py_job("a", _idle, schedule="every 1h"), py_job("b", _idle)])
    yield started
    await started.stop()


async def test_the_list_is_the_same_answer_while_nothing_changes(runtime: Runtime) -> None:
    first = await runtime.service.jobs.summaries()
    assert [job.id for job in first] == ["a", "b"]
    assert await runtime.service.jobs.summaries() is first


async def test_a_pause_shows_at_once_and_leaves_the_other_jobs_summaries_alone(runtime: Runtime) -> None:
    before = await runtime.service.jobs.summaries()
    await runtime.service.pause_job("a", actor=ALICE)
    after = await runtime.service.jobs.summaries()
    assert after[0].paused and not before[0].paused
    assert after[1] is before[1]


async def test_a_rename_shows_at_once(runtime: Runtime) -> None:
    await runtime.service.jobs.summaries()
    await runtime.service.update_metadata("b", display_name="Bee", description=None, actor=ALICE)
    assert (await runtime.service.jobs.summaries())[1].display_name == "Bee"


async def test_the_rendered_rows_are_jobout_and_kept_until_a_job_changes(runtime: Runtime) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    data = await runtime.service.jobs.rendered(JobRowRenderer(tz=tz))
    expected = [JobOut.of(job, tz).model_dump(mode="json") for job in await runtime.service.jobs.summaries()]
    assert json.loads(data) == expected
    assert await runtime.service.jobs.rendered(JobRowRenderer(tz=tz)) is data
    await runtime.service.resume_job("b", actor=ALICE)  # already running: idempotent, but a job event all the same
    await runtime.service.pause_job("b", actor=ALICE)
    changed = json.loads(await runtime.service.jobs.rendered(JobRowRenderer(tz=tz)))
    assert [row["paused"] for row in changed] == [False, True]
