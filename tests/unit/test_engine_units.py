"""Engine pieces that need no store: return-value rendering, the context and its board, job-kind calling rules, ids."""

from __future__ import annotations

import asyncio
import json
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobdeck import ids
from jobdeck.engine import EngineOptions, JobCancelled, JobContext, current_context, update_job_progress
from jobdeck.engine.context import ProgressBoard
from jobdeck.engine.executors import ExecutorRegistry
from jobdeck.engine.executors.python import PythonExecutor, resolve_callable
from jobdeck.engine.runner import MAX_RETURN_VALUE_BYTES, describe_error, render_return_value
from jobdeck.errors import ConfigError
from jobdeck.models import JobSpec, ProgressUpdate
from jobdeck.schedules import parse_schedule
from jobdeck.testing import FrozenClock

T0 = datetime(2026, 3, 6, 9, 30, tzinfo=UTC)


def make_context(board: ProgressBoard | None = None, clock: FrozenClock | None = None) -> JobContext:
    board = board if board is not None else ProgressBoard()
    board.open("E1")
    return JobContext(
        execution_id="E1",
        job_id="walker",
        attempt=1,
        force=False,
        scheduled_time=T0,
        kwargs={},
        board=board,
        clock=clock or FrozenClock(T0),
    )


# -- return values -----------------------------------------------------------------------------------------------


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque thing>"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"rows": 3, "name": "日本"}, '{"rows": 3, "name": "日本"}'),
        ([1, 2.5, None, True], "[1, 2.5, null, true]"),
        ("plain text", "plain text"),  # str(result), as the original recorded it
        ("", ""),
        ('"quoted"', '"quoted"'),
        (42, "42"),
        (Opaque(), "<Opaque thing>"),
        ({1, 2}, "{1, 2}"),
        (float("nan"), "nan"),
        (None, None),
    ],
)
def test_return_value_is_the_string_itself_else_json_text_else_repr(value: object, expected: str | None) -> None:
    assert render_return_value(value) == expected


def test_long_return_value_is_cut_to_4_kb_and_marked() -> None:
    text = render_return_value("é" * 10_000)
    assert text is not None
    assert len(text.encode("utf-8")) <= MAX_RETURN_VALUE_BYTES
    assert text.startswith("éé")
    assert text.endswith("…[truncated]")


def test_return_value_just_under_the_limit_is_kept_whole() -> None:
    value = "x" * MAX_RETURN_VALUE_BYTES
    assert render_return_value(value) == value
    assert render_return_value(["x" * (MAX_RETURN_VALUE_BYTES - 4)]) == json.dumps(["x" * (MAX_RETURN_VALUE_BYTES - 4)])


def test_error_description_names_the_type() -> None:
    assert describe_error(ValueError("bad input")) == "ValueError: bad input"
    assert describe_error(KeyError("k")) == "KeyError: 'k'"
    assert describe_error(RuntimeError()) == "RuntimeError"


# -- context and board -------------------------------------------------------------------------------------------


def test_progress_computes_percent_from_items_and_clamps() -> None:
    board = ProgressBoard()
    ctx = make_context(board)
    ctx.progress(processed_items=1, total_items=4, current_item=17)
    live = board.live("E1")
    assert live is not None
    assert (live.progress, live.processed_items, live.total_items, live.current_item) == (25.0, 1, 4, "17")
    ctx.progress(250)
    live = board.live("E1")
    assert live is not None
    assert live.progress == 100.0


def test_progress_updates_merge_field_by_field() -> None:
    board = ProgressBoard()
    clock = FrozenClock(T0)
    ctx = make_context(board, clock)
    ctx.progress(40, "loading")
    clock.advance(1)
    ctx.progress(message="still loading")
    updates, _ = board.take()
    assert updates == [
        ProgressUpdate(execution_id="E1", at=T0 + timedelta(seconds=1), progress=40.0, message="still loading")
    ]
    assert board.take() == ([], [])
    live = board.live("E1")
    assert live is not None
    assert live.progress == 40.0


def test_a_failed_write_is_restored_under_newer_values() -> None:
    board = ProgressBoard()
    ctx = make_context(board)
    ctx.progress(10, "old")
    ctx.log("first")
    updates, lines = board.take()
    ctx.progress(message="new")
    board.restore(updates, lines)
    restored, restored_lines = board.take()
    assert [(u.progress, u.message) for u in restored] == [(10.0, "new")]
    assert [(line.seq, line.message) for line in restored_lines] == [(1, "first")]


def test_log_lines_are_numbered_per_execution() -> None:
    board = ProgressBoard()
    ctx = make_context(board)
    ctx.log("one")
    ctx.log("two", level="warning")
    _, lines = board.take()
    assert [(line.seq, line.level, line.message) for line in lines] == [(1, "info", "one"), (2, "warning", "two")]


def test_updates_for_a_forgotten_run_are_dropped() -> None:
    board = ProgressBoard()
    ctx = make_context(board)
    board.forget("E1")
    ctx.progress(50)
    ctx.log("late")
    assert board.live("E1") is None
    assert board.take() == ([], [])


def test_progress_raises_job_cancelled_once_cancel_is_requested() -> None:
    ctx = make_context()
    ctx.check_cancelled()
    ctx.request_cancel()
    assert ctx.cancel_requested
    with pytest.raises(JobCancelled):
        ctx.progress(10)
    with pytest.raises(JobCancelled):
        ctx.check_cancelled()


async def test_progress_can_be_awaited_and_called_plainly_without_warnings() -> None:
    ctx = make_context()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        await ctx.progress(10)
        ctx.progress(20)  # sync style: the returned checkpoint is simply dropped
    live = ctx._board.live("E1")
    assert live is not None
    assert live.progress == 20.0


def test_update_job_progress_outside_a_run_raises_a_clear_error() -> None:
    assert current_context() is None
    with pytest.raises(RuntimeError, match="outside a jobdeck run"):
        update_job_progress(10)


# -- calling jobs ------------------------------------------------------------------------------------------------


def spec_for(function: Any) -> JobSpec:
    return JobSpec(id="job", func="tests:job", function=function, schedule=parse_schedule("every 1h"))


async def test_context_goes_to_ctx_or_a_jobcontext_annotation_and_force_to_force() -> None:
    seen: dict[str, Any] = {}

    async def by_name(ctx, force=False, batch=1):  # type: ignore[no-untyped-def]
        seen["by_name"] = (ctx, force, batch)

    async def by_annotation(handle: JobContext, *, force: bool) -> None:
        seen["by_annotation"] = (handle, force)

    def plain(**kwargs: Any) -> None:
        seen["plain"] = kwargs

    from concurrent.futures import ThreadPoolExecutor

    from jobdeck.engine.executors import JobCall

    ctx = make_context()
    ctx.force = True
    with ThreadPoolExecutor(1) as pool:
        call = JobCall(ctx=ctx, kwargs={"batch": 5}, threads=pool)
        executors = ExecutorRegistry.default()
        await executors.for_spec(spec_for(by_name)).invoke(call)
        await executors.for_spec(spec_for(by_annotation)).invoke(JobCall(ctx=ctx, kwargs={}, threads=pool))
        await executors.for_spec(spec_for(plain)).invoke(call)
    assert seen["by_name"] == (ctx, True, 5)
    assert seen["by_annotation"] == (ctx, True)
    assert seen["plain"] == {"batch": 5}  # no ctx / force parameter: nothing extra is passed


def test_async_callables_are_interruptible_and_sync_ones_are_not() -> None:
    class AsyncCallable:
        async def __call__(self) -> None:
            await asyncio.sleep(0)

    async def coroutine_job() -> None:
        await asyncio.sleep(0)

    def sync_job() -> None:
        pass

    assert PythonExecutor(coroutine_job).interruptible
    assert PythonExecutor(AsyncCallable()).interruptible
    assert not PythonExecutor(sync_job).interruptible


def test_a_function_reference_is_resolved_when_no_callable_is_given() -> None:
    assert resolve_callable("json:dumps") is json.dumps
    assert resolve_callable("json:JSONDecoder.decode") is json.JSONDecoder.decode
    spec = JobSpec(id="job", func="json:dumps", schedule=parse_schedule("every 1h"))
    assert not ExecutorRegistry.default().for_spec(spec).interruptible


@pytest.mark.parametrize(
    ("reference", "reason"),
    [
        ("json.dumps", "expected 'module:function'"),
        ("no_such_module_xyz:run", "cannot import module"),
        ("json:no_such_function", "no attribute 'no_such_function'"),
        ("json:__doc__", "is not callable"),
    ],
)
def test_a_bad_function_reference_is_a_config_error_naming_the_job(reference: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason) as caught:
        resolve_callable(reference, job_id="sync")
    assert caught.value.job_id == "sync"
    assert caught.value.field == "func"


def test_engine_options_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="heartbeat_interval"):
        EngineOptions(heartbeat_interval=0)
    with pytest.raises(ValueError, match="cancel_grace"):
        EngineOptions(cancel_grace=-1)
    assert EngineOptions().pid > 0


def test_frozen_clock_moves_only_when_told() -> None:
    clock = FrozenClock(T0)
    assert clock.now() == T0
    assert clock.advance(90) == T0 + timedelta(seconds=90)
    clock.set(datetime(2026, 3, 6, 18, 0, tzinfo=UTC))
    assert clock.now().hour == 18
    with pytest.raises(ValueError, match="naive"):
        clock.set(datetime(2026, 3, 6, 18, 0))


# -- ids ---------------------------------------------------------------------------------------------------------


def _ulid(at: datetime, random_bits: int) -> str:
    """The id layout spelled out: 48-bit milliseconds then 80 random bits, 26 Crockford base32 characters."""
    value = (int(at.timestamp() * 1000) << 80) | random_bits
    return "".join("0123456789ABCDEFGHJKMNPQRSTVWXYZ"[(value >> (5 * i)) & 31] for i in reversed(range(26)))


@pytest.mark.parametrize("at", [T0, T0 + timedelta(milliseconds=1), datetime(2099, 12, 31, 23, 59, 59, 999999, UTC)])
def test_ids_are_the_millisecond_then_the_random_bits_in_crockford_base32(
    at: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = bytes(range(200, 248))  # 48 bytes: the high bits of each vary, and must not matter

    def random_bits(of: bytes) -> int:  # each of 16 bytes gives 5 bits, its low ones, most significant first
        return sum((b & 31) << (5 * (15 - i)) for i, b in enumerate(of))

    monkeypatch.setattr(ids.os, "urandom", lambda n: drawn[:n])
    assert ids.new_id(at) == _ulid(at, random_bits(drawn[:16]))
    assert ids.new_ids(at, 3) == [_ulid(at, random_bits(drawn[i : i + 16])) for i in (0, 16, 32)]


def test_ids_sort_by_time_and_do_not_repeat() -> None:
    made = [ids.new_id(T0), *ids.new_ids(T0 + timedelta(milliseconds=1), 500), ids.new_id(T0 + timedelta(seconds=1))]
    assert len(set(made)) == len(made)
    assert made[0] < min(made[1:-1]) and max(made[1:-1]) < made[-1]
