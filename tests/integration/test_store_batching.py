"""Group-committed writes and counted totals keep the store's contract (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from test_store_contract import CANCELLED, FAILED, MISSED, RUNNING, SKIPPED, SUCCESS, T0, at, make_run

from jobdeck.models import ExecutionClose, ExecutionQuery, ProgressUpdate, TriggerKind
from jobdeck.store import SqlStore


async def test_concurrent_claims_of_one_fire_have_exactly_one_winner(store: SqlStore) -> None:
    runs = [make_run("sync", start=i / 1000, scheduled=0) for i in range(20)]
    claimed = await asyncio.gather(*(store.insert_execution(run) for run in runs))
    assert claimed.count(True) == 1
    page = await store.list_executions(ExecutionQuery(job_id="sync", limit=50))
    assert [e.id for e in page.items] == [runs[claimed.index(True)].id]


async def test_claims_inserted_together_answer_each_on_its_own_in_order(store: SqlStore) -> None:
    taken = make_run("sync", start=0, scheduled=0)
    assert await store.insert_execution(taken)
    runs = [make_run(f"job{i}", start=1 + i / 1000, scheduled=1) for i in range(5)]
    again = make_run("sync", start=2, scheduled=0)  # the fire `taken` already claimed
    twice = make_run("job0", start=3, scheduled=1)  # the same fire as runs[0], later in the same call
    results = await store.insert_executions([*runs, again, twice])
    assert results == [True] * 5 + [False, False]
    page = await store.list_executions(ExecutionQuery(limit=50))
    assert sorted(e.id for e in page.items) == sorted([taken.id, *(r.id for r in runs)])


async def test_claims_of_different_shapes_in_one_call_come_back_as_they_went_in(store: SqlStore) -> None:
    # On SQLite a claim names only the columns it sets, and claims setting the same ones share a statement: a call
    # mixing shapes (NULLs in different columns, a conflict in one group) must still write each record whole.
    plain = [make_run(f"job{i}", start=i / 100, scheduled=0) for i in range(3)]
    manual = make_run("job0", start=1, trigger=TriggerKind.MANUAL, triggered_by="alice", kwargs={"n": 1})
    retry = make_run("job1", start=2, trigger=TriggerKind.RETRY, attempt=2, retry_of=plain[1].id, host="w", pid=7)
    done = make_run("job2", start=3, status=SKIPPED, duration=0, error_message="max_instances=1 reached")
    taken = make_run("job1", start=4, scheduled=0)  # the fire plain[1] claims, in the plain rows' group
    results = await store.insert_executions([*plain, manual, retry, done, taken])
    assert results == [True] * 6 + [False]
    for record in [*plain, manual, retry, done]:
        assert await store.get_execution(record.id) == record
    page = await store.list_executions(ExecutionQuery(limit=50))
    assert page.total == 6


async def test_fire_marks_recorded_together_keep_the_latest_of_each_job(store: SqlStore) -> None:
    await store.record_fire("a", at(90))
    await store.record_fires([("a", at(60)), ("b", at(30)), ("b", at(45)), ("c", at(10))])
    states = await store.job_states()
    assert {job_id: states[job_id].last_fire_time for job_id in "abc"} == {"a": at(90), "b": at(45), "c": at(10)}


async def test_a_close_queued_right_behind_its_claim_finds_the_record(store: SqlStore) -> None:
    run = make_run("sync", start=1)
    claimed, closed, again = await asyncio.gather(
        store.insert_execution(run),
        store.close_execution(run.id, status=SUCCESS, finished_at=at(2)),
        store.close_execution(run.id, status=FAILED, finished_at=at(3)),
    )
    assert (claimed, closed, again) == (True, True, False)
    record = await store.get_execution(run.id)
    assert record.status is SUCCESS
    assert record.execution_time == 1.0


async def test_closing_an_unknown_execution_in_a_batch_answers_false_and_spares_the_rest(store: SqlStore) -> None:
    good = [make_run("a", start=i) for i in range(5)]
    results = await asyncio.gather(
        *(store.insert_execution(run) for run in good),
        store.close_execution("no-such-id", status=SUCCESS, finished_at=at(11)),
        return_exceptions=True,
    )
    assert results == [True] * 5 + [False]


async def test_totals_follow_every_insert_status_change_and_delete(store: SqlStore) -> None:
    runs = [make_run(f"job{i % 3}", start=i, trigger=TriggerKind.MANUAL) for i in range(30)]
    await asyncio.gather(*(store.insert_execution(run) for run in runs))
    outcomes = [SUCCESS, FAILED, CANCELLED]
    await asyncio.gather(
        *(
            store.close_execution(run.id, status=outcomes[i % 3], finished_at=at(i + 0.5))
            for i, run in enumerate(runs)
            if i % 4
        )
    )
    await store.insert_execution(make_run("job0", start=40, status=SKIPPED, duration=0))
    deleted = [run for i, run in enumerate(runs) if i % 4 and i % 5 == 0]
    for run in deleted:
        await store.delete_execution(run.id)
    await store.prune_executions(finished_before=at(3))
    expected: Counter[tuple[str, str]] = Counter()
    for job in ("job0", "job1", "job2"):
        for record in (await store.list_executions(ExecutionQuery(job_id=job, limit=200))).items:
            expected[(job, record.status.value)] += 1
    assert sum(expected.values()) > 0
    for job in ("job0", "job1", "job2", None):
        for status in (None, RUNNING, SUCCESS, FAILED, CANCELLED, SKIPPED):
            want = sum(n for (j, s), n in expected.items() if job in (None, j) and status in (None, s))
            # limit 1 with offset 1: the page cannot tell the total, so it is counted.
            page = await store.list_executions(ExecutionQuery(job_id=job, status=status, limit=1, offset=1))
            assert page.total == want, (job, status)
    stats = await store.execution_stats("job1")
    assert stats.total == sum(n for (j, _), n in expected.items() if j == "job1")
    assert stats.running == expected[("job1", "running")]


async def test_every_way_of_closing_runs_moves_totals_and_hourly_counts(store: SqlStore) -> None:
    # Three writer paths close rows: a batch of closes alone, a batch that also carries other work (a progress
    # write), and failing the runs of a dead process. Totals, a job's counts and the hourly counts must follow each.
    hour = 3600
    runs = [make_run(f"job{i % 2}", start=i * hour / 2) for i in range(6)]  # started over three hours
    assert await store.insert_executions(runs) == [True] * 6
    assert await store.close_executions([ExecutionClose(execution_id=runs[0].id, status=SUCCESS, finished_at=at(1))])
    closed, _ = await asyncio.gather(
        store.close_execution(runs[1].id, status=CANCELLED, finished_at=at(hour)),
        store.write_progress([ProgressUpdate(execution_id=runs[2].id, at=at(hour), progress=50)]),
    )
    assert closed
    assert await store.fail_executions([runs[2].id, runs[3].id, runs[0].id], finished_at=at(3 * hour), message="x")
    want = {SUCCESS: 1, CANCELLED: 1, FAILED: 2, RUNNING: 2}
    for status, n in want.items():
        page = await store.list_executions(ExecutionQuery(status=status, limit=1, offset=1))
        assert page.total == n, status
    job0, job1 = await store.execution_stats("job0"), await store.execution_stats("job1")
    assert (job0.total, job0.success, job0.failed, job0.running) == (3, 1, 1, 1)
    assert (job1.total, job1.cancelled, job1.failed, job1.running) == (3, 1, 1, 1)
    counts = await store.status_counts(since=at(-hour))
    assert {status: n for status, n in counts.items() if n} == want
    # Run 0 started at 07:58 and is counted in the 07:00 hour's row; the others started at 08:28 and later.
    later = await store.status_counts(since=T0.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))
    assert {status: n for status, n in later.items() if n} == {CANCELLED: 1, FAILED: 2, RUNNING: 2}


async def test_a_jobs_average_run_time_follows_every_close_insert_and_delete(store: SqlStore) -> None:
    # The average comes from the counters (revision 0006): each writer of them must move the durations too.
    async def average() -> float | None:
        return (await store.execution_stats("job0")).avg_execution_time

    runs = [make_run("job0", start=10 * i) for i in range(5)]
    assert await store.insert_executions([*runs, make_run("job1", start=5, status=SUCCESS, duration=1000)])
    assert await average() is None  # running rows have no run time yet
    await store.close_executions([ExecutionClose(execution_id=runs[0].id, status=SUCCESS, finished_at=at(1.5))])
    await asyncio.gather(  # a close batched with other work
        store.close_execution(runs[1].id, status=CANCELLED, finished_at=at(14)),
        store.write_progress([ProgressUpdate(execution_id=runs[3].id, at=at(31), progress=5)]),
    )
    assert await store.fail_executions([runs[2].id], finished_at=at(100), message="its process died") == 1
    # Inserted already finished (a run of 6 s; a missed fire, which is not a run and not in the average).
    await store.insert_executions(
        [make_run("job0", start=50, status=SUCCESS, duration=6), make_run("job0", start=60, status=MISSED, duration=0)]
    )
    assert await average() == pytest.approx((1.5 + 4 + 80 + 6) / 4)
    await store.delete_execution(runs[2].id)
    assert await average() == pytest.approx((1.5 + 4 + 6) / 3)
    assert await store.prune_executions(finished_before=at(10)) == 1  # run 0, finished at 1.5 s
    assert await average() == pytest.approx((4 + 6) / 2)
    stats = await store.execution_stats("job0")
    assert (stats.total, stats.running, stats.missed) == (5, 2, 1)


async def test_closes_written_together_answer_each_on_its_own(store: SqlStore) -> None:
    runs = [make_run(f"job{i}", start=i) for i in range(3)]
    assert await store.insert_executions(runs) == [True, True, True]
    already = runs[2]
    assert await store.close_execution(already.id, status=FAILED, finished_at=at(10))
    results = await store.close_executions(
        [
            ExecutionClose(execution_id=runs[0].id, status=SUCCESS, finished_at=at(1.5), return_value='"ok"'),
            ExecutionClose(execution_id=runs[1].id, status=CANCELLED, finished_at=at(4), error_message="stop"),
            ExecutionClose(execution_id=already.id, status=SUCCESS, finished_at=at(11)),
            ExecutionClose(execution_id="no-such-id", status=SUCCESS, finished_at=at(11)),
        ]
    )
    assert results == [True, True, False, False]
    first, second, third = [await store.get_execution(run.id) for run in runs]
    assert (first.status, first.return_value, first.execution_time) == (SUCCESS, '"ok"', 1.5)
    assert (second.status, second.error_message, second.execution_time) == (CANCELLED, "stop", 3.0)
    assert (third.status, third.execution_time) == (FAILED, 8.0)  # a terminal record never changes again


async def test_a_faulty_write_in_a_batch_fails_alone(store: SqlStore) -> None:
    runs = [make_run(f"job{i}", start=i) for i in range(4)]
    assert await store.insert_executions(runs) == [True] * 4
    naive = at(9).replace(tzinfo=None)
    results = await asyncio.gather(
        *(
            store.close_execution(run.id, status=SUCCESS, finished_at=naive if i == 2 else at(9))
            for i, run in enumerate(runs)
        ),
        return_exceptions=True,
    )
    assert [r for i, r in enumerate(results) if i != 2] == [True, True, True]
    assert isinstance(results[2], Exception) and "naive datetime" in str(results[2])
    statuses = [(await store.get_execution(run.id)).status for run in runs]
    assert statuses == [SUCCESS, SUCCESS, RUNNING, SUCCESS]


async def test_an_inline_claim_waits_for_a_write_transaction_under_way(tmp_path: Path) -> None:
    # The engine thread's store runs claims on its own loop; a transaction of that store holding SQLite's write
    # lock across awaits must not be kept from committing by a claim blocking the loop while it waits for the lock.
    store = SqlStore(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}", inline_sqlite=True)
    await store.open()
    try:
        run = make_run("sync", start=1)
        async with store.database.tx(write=True) as conn:  # the write lock is taken here and held until the block ends
            await conn.execute(text("SELECT 1"))
            claim = asyncio.ensure_future(store.insert_execution(run))
            done, _ = await asyncio.wait({claim}, timeout=0.5)
            assert not done  # waiting for the lock, without holding up this loop
            await conn.execute(text("SELECT 1"))
        assert await claim is True
        assert (await store.get_execution(run.id)).status is RUNNING
    finally:
        await store.close()
