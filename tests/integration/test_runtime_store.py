"""The Store contract of the job runtime, on SQLite and PostgreSQL: retries, fire marks, timed pauses, log bounds,
idempotency keys."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobdeck.errors import ExecutionNotFound
from jobdeck.models import Execution, ExecutionStatus, LogLine, TriggerKind
from jobdeck.store import SqlStore

T0 = datetime(2026, 3, 6, 7, 58, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run(
    execution_id: str, *, attempt: int = 1, retry_of: str | None = None, job_id: str = "sync", **fields: Any
) -> Execution:
    return Execution(
        id=execution_id,
        job_id=job_id,
        job_name=job_id,
        status=ExecutionStatus.RUNNING,
        scheduled_time=at(attempt),
        started_at=at(attempt),
        updated_at=at(attempt),
        trigger=TriggerKind.RETRY if retry_of else TriggerKind.SCHEDULE,
        attempt=attempt,
        retry_of=retry_of,
        **fields,
    )


async def test_a_failed_attempt_with_retry_at_is_pending_until_its_retry_exists(store: SqlStore) -> None:
    await store.insert_execution(run("a1"))
    await store.insert_execution(run("b1", job_id="report"))
    assert await store.close_execution("a1", status=ExecutionStatus.FAILED, finished_at=at(2), retry_at=at(30))
    assert await store.close_execution("b1", status=ExecutionStatus.FAILED, finished_at=at(2))
    assert (await store.get_execution("a1")).retry_at == at(30)
    assert [e.id for e in await store.pending_retries()] == ["a1"]
    await store.insert_execution(run("a2", attempt=2, retry_of="a1"))
    assert await store.pending_retries() == []


async def test_the_retry_chain_links_every_attempt_in_order(store: SqlStore) -> None:
    await store.insert_execution(run("a1"))
    await store.insert_execution(run("a2", attempt=2, retry_of="a1"))
    await store.insert_execution(run("a3", attempt=3, retry_of="a2"))
    await store.insert_execution(run("other", job_id="report"))
    for execution_id in ("a1", "a2", "a3"):
        assert [e.id for e in await store.retry_chain(execution_id)] == ["a1", "a2", "a3"]
    assert [e.id for e in await store.retry_chain("other")] == ["other"]
    with pytest.raises(ExecutionNotFound):
        await store.retry_chain("nope")


async def test_fire_marks_only_move_forward_and_leave_the_operator_fields_alone(store: SqlStore) -> None:
    await store.record_fire("sync", at(60))
    await store.record_fire("sync", at(30))
    state = (await store.job_states())["sync"]
    assert (state.last_fire_time, state.paused, state.updated_by) == (at(60), None, None)
    await store.set_paused("sync", True, at=at(70), actor="alice")
    await store.record_fire("sync", at(120))
    state = (await store.job_states())["sync"]
    assert (state.last_fire_time, state.paused, state.updated_at, state.updated_by) == (at(120), True, at(70), "alice")


async def test_a_timed_pause_is_stored_and_cleared_by_a_resume(store: SqlStore) -> None:
    await store.set_paused("sync", True, at=at(0), actor="alice", until=at(3600))
    state = (await store.job_states())["sync"]
    assert (state.paused, state.paused_until) == (True, at(3600))
    await store.set_paused("sync", False, at=at(10), actor="system", until=at(99))
    state = (await store.job_states())["sync"]
    assert (state.paused, state.paused_until, state.updated_by) == (False, None, "system")


async def test_trim_log_drops_old_lines_and_keeps_one_note(store: SqlStore) -> None:
    await store.insert_execution(run("a1"))
    lines = [LogLine(execution_id="a1", seq=i, at=at(i), level="info", message=f"line {i}") for i in range(1, 11)]
    await store.append_log(lines)
    await store.trim_log("a1", keep_from_seq=6, note="5 dropped", at=at(11))
    await store.trim_log("a1", keep_from_seq=8, note="7 dropped", at=at(12))
    kept = await store.read_log("a1", limit=100)
    assert [(line.seq, line.message) for line in kept] == [
        (0, "7 dropped"),
        (8, "line 8"),
        (9, "line 9"),
        (10, "line 10"),
    ]
    assert [line.seq for line in await store.read_log("a1", after=8)] == [9, 10]


async def test_an_idempotency_key_binds_once_per_job_until_it_expires(store: SqlStore) -> None:
    first = await store.claim_idempotency_key("sync", "k1", "e1", at=at(0), not_before=at(-86400))
    again = await store.claim_idempotency_key("sync", "k1", "e2", at=at(5), not_before=at(-86395))
    other_job = await store.claim_idempotency_key("report", "k1", "e3", at=at(5), not_before=at(-86395))
    assert (first, again, other_job) == ("e1", "e1", "e3")
    expired = await store.claim_idempotency_key("sync", "k1", "e4", at=at(90000), not_before=at(3600))
    assert expired == "e4"
    await store.release_idempotency_key("sync", "k1", "e1")  # not bound to e1 any more: nothing happens
    assert await store.claim_idempotency_key("sync", "k1", "e5", at=at(90001), not_before=at(3601)) == "e4"
    await store.release_idempotency_key("sync", "k1", "e4")
    assert await store.claim_idempotency_key("sync", "k1", "e6", at=at(90002), not_before=at(3602)) == "e6"
    assert await store.prune_idempotency_keys(before=at(10)) == 1  # report/k1
    assert await store.prune_idempotency_keys(before=at(10)) == 0


async def test_concurrent_claims_of_one_key_agree_on_one_winner(store: SqlStore) -> None:
    winners = await asyncio.gather(
        *(store.claim_idempotency_key("sync", "race", f"e{i}", at=at(0), not_before=at(-1)) for i in range(8))
    )
    assert len(set(winners)) == 1
