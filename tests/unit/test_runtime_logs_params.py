"""Live logs (ctx.log, standard logging, bounds) and typed manual runs (parameters schema, kwargs checks)."""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import Literal

import pytest
from runtime_helpers import py_job, started

from jobdeck.engine import JobContext
from jobdeck.engine.context import ProgressBoard
from jobdeck.engine.parameters import KwargsInvalid
from jobdeck.models import ExecutionQuery, ExecutionStatus
from jobdeck.store.sql import SqlStore
from jobdeck.testing import wait_for_execution, wait_until

T = date(2026, 3, 6)


async def test_standard_logging_inside_a_run_goes_to_that_runs_log_only(store: SqlStore) -> None:
    job_log = logging.getLogger("tests.runtime.logging_job")
    job_log.setLevel(logging.INFO)
    release = asyncio.Event()

    async def chatty(ctx: JobContext, name: str) -> None:
        ctx.log(f"hello from ctx.log ({name})")
        job_log.info("hello from logging (%s)", name)
        ctx.logger.warning("hello from ctx.logger (%s)", name)
        await release.wait()

    def threaded() -> None:
        job_log.info("hello from a worker thread")

    async with started(store, py_job("chatty", chatty), py_job("threaded", threaded)) as engine:
        a = await engine.trigger("chatty", kwargs={"name": "a"}, actor="alice")
        b = await engine.trigger("chatty", kwargs={"name": "b"}, force=True, actor="alice")
        t = await engine.trigger("threaded", actor="alice")
        job_log.info("outside any run")
        lines = await wait_until(
            lambda: store.read_log(a.id), lambda lines: len(lines) == 3, timeout=5, what="run a's log"
        )
        release.set()
        for run in (a, b, t):
            await wait_for_execution(store, run.id, lambda e: e.status.is_terminal, timeout=5)
    assert [(line.level, line.message) for line in lines] == [
        ("info", "hello from ctx.log (a)"),
        ("info", "tests.runtime.logging_job: hello from logging (a)"),
        ("warning", "jobdeck.job.chatty: hello from ctx.logger (a)"),
    ]
    assert all("(b)" in line.message for line in await store.read_log(b.id))
    assert [line.message for line in await store.read_log(t.id)] == [
        "tests.runtime.logging_job: hello from a worker thread"
    ]
    assert not any(h for h in logging.getLogger().handlers if type(h).__name__ == "RunLogHandler")


def test_a_runs_log_is_bounded_and_notes_what_was_dropped() -> None:
    from datetime import UTC, datetime

    board = ProgressBoard(max_log_lines=3, max_log_bytes=1024)
    board.open("e1")
    now = datetime(2026, 3, 6, tzinfo=UTC)
    for i in range(1, 6):
        board.add_log("e1", at=now, level="info", message=f"line {i}")
    _, pending = board.take()
    assert [line.seq for line in pending] == [3, 4, 5]
    trims = board.take_trims()
    assert trims["e1"][0] == 3
    assert trims["e1"][1].startswith("[jobdeck] 2 earlier lines (0.0 KB) dropped: a run's log keeps its last 3 lines")


async def test_the_stored_log_keeps_the_last_lines_with_a_note(store: SqlStore) -> None:
    async def noisy(ctx: JobContext) -> None:
        for i in range(1, 51):
            ctx.log(f"line {i}")
            if i % 10 == 0:
                await asyncio.sleep(0.06)  # let a flush land in between

    async with started(store, py_job("noisy", noisy), log_max_lines=20) as engine:
        run = await engine.trigger("noisy", actor="alice")
        await wait_for_execution(store, run.id, lambda e: e.status.is_terminal, timeout=5)
    lines = await store.read_log(run.id, limit=100)
    assert [line.message for line in lines[1:]] == [f"line {i}" for i in range(31, 51)]
    assert lines[0].seq == 0
    assert lines[0].message.startswith("[jobdeck] 30 earlier lines")
    assert [line.seq for line in await store.read_log(run.id, after=45)] == [46, 47, 48, 49, 50]


def sync_data(ctx: JobContext, day: date, batch: int = 100, mode: Literal["full", "delta"] = "delta") -> None: ...


async def test_a_python_jobs_parameters_are_a_json_schema(store: SqlStore) -> None:
    async with started(store, py_job("sync", sync_data)) as engine:
        schema = engine.job("sync").parameters
    assert schema is not None
    assert schema["type"] == "object" and schema["required"] == ["day"] and schema["additionalProperties"] is False
    assert set(schema["properties"]) == {"day", "batch", "mode"}  # not ctx, not force
    assert schema["properties"]["day"]["format"] == "date"
    assert schema["properties"]["batch"] == {"default": 100, "title": "Batch", "type": "integer"}
    assert schema["properties"]["mode"]["enum"] == ["full", "delta"]


async def test_wrong_kwargs_are_refused_naming_the_parameter_and_nothing_starts(store: SqlStore) -> None:
    async with started(store, py_job("sync", sync_data, kwargs={"day": "2026-03-06"})) as engine:
        with pytest.raises(KwargsInvalid) as caught:
            await engine.trigger("sync", kwargs={"batch": "lots"}, actor="alice")
        assert caught.value.field == "kwargs.batch"
        with pytest.raises(KwargsInvalid) as unknown:
            await engine.trigger("sync", kwargs={"bacth": 5}, actor="alice")
        assert unknown.value.field == "kwargs.bacth" and "unknown parameter" in unknown.value.message
        assert engine.local_running() == []
    assert (await store.list_executions(ExecutionQuery())).total == 0


async def test_a_job_without_parameters_refuses_any_kwargs_and_says_so_in_its_schema(store: SqlStore) -> None:
    async def plain(ctx: JobContext, force: bool = False) -> None:
        return None

    async with started(store, py_job("plain", plain)) as engine:
        assert engine.job("plain").parameters == {"additionalProperties": False, "properties": {}, "type": "object"}
        with pytest.raises(KwargsInvalid) as unknown:
            await engine.trigger("plain", kwargs={"batch": 5}, actor="alice")
        assert unknown.value.field == "kwargs.batch" and "unknown parameter" in unknown.value.message
        run = await engine.trigger("plain", actor="alice")
        done = await wait_for_execution(store, run.id, lambda e: e.status.is_terminal, timeout=5)
    assert done.status is ExecutionStatus.SUCCESS


async def test_jobs_of_one_function_share_its_parameters_and_still_run_apart(store: SqlStore) -> None:
    async def shared(name: str) -> str:
        return name

    jobs = [py_job(f"shared{i}", shared, kwargs={"name": f"n{i}"}) for i in range(3)]
    async with started(store, *jobs) as engine:
        assert engine.job("shared0").parameters is engine.job("shared2").parameters
        runs = [await engine.trigger(f"shared{i}", actor="alice") for i in range(3)]
        done = [await wait_for_execution(store, r.id, lambda e: e.status.is_terminal, timeout=5) for r in runs]
    assert [d.return_value for d in done] == ["n0", "n1", "n2"]


async def test_kwargs_reach_the_job_converted_to_the_declared_types(store: SqlStore) -> None:
    async def typed(day: date, batch: int) -> str:
        return f"{type(day).__name__} {day.isoformat()} {type(batch).__name__} {batch}"

    async with started(store, py_job("typed", typed)) as engine:
        run = await engine.trigger("typed", kwargs={"day": "2026-03-06", "batch": "7"}, actor="alice")
        done = await wait_for_execution(store, run.id, lambda e: e.status.is_terminal, timeout=5)
    assert done.status is ExecutionStatus.SUCCESS
    assert done.return_value == "date 2026-03-06 int 7"
