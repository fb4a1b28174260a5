"""The Store contract, run against SQLite and PostgreSQL alike (the ``store`` fixture is parametrized over both)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from jobdeck.errors import (
    ExecutionNotFound,
    ExecutionNotRunning,
    ExecutionStillRunning,
    TokenNotFound,
    UserExists,
    UserNotFound,
)
from jobdeck.ids import new_id
from jobdeck.models import (
    ApiToken,
    AuditEntry,
    AuditOutcome,
    AuditQuery,
    Execution,
    ExecutionQuery,
    ExecutionStatus,
    JobMetadata,
    LogLine,
    ProgressUpdate,
    Role,
    TriggerKind,
    User,
)
from jobdeck.store import SqlStore

T0 = datetime(2026, 3, 6, 7, 58, 0, 123456, tzinfo=UTC)
RUNNING, SUCCESS, FAILED = ExecutionStatus.RUNNING, ExecutionStatus.SUCCESS, ExecutionStatus.FAILED
CANCELLED, MISSED, SKIPPED = ExecutionStatus.CANCELLED, ExecutionStatus.MISSED, ExecutionStatus.SKIPPED


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_run(
    job_id: str = "sync",
    *,
    start: float = 0,
    status: ExecutionStatus = RUNNING,
    trigger: TriggerKind = TriggerKind.SCHEDULE,
    scheduled: float | None = None,
    attempt: int = 1,
    duration: float | None = None,
    **fields: Any,
) -> Execution:
    started = at(start)
    finished = None if duration is None else started + timedelta(seconds=duration)
    return Execution(
        id=new_id(started),
        job_id=job_id,
        job_name=job_id.title(),
        status=status,
        scheduled_time=at(start if scheduled is None else scheduled),
        started_at=started,
        updated_at=finished or started,
        finished_at=finished,
        trigger=trigger,
        attempt=attempt,
        **fields,
    )


async def insert(store: SqlStore, *runs: Execution) -> list[Execution]:
    for run in runs:
        assert await store.insert_execution(run)
    return list(runs)


def ids(executions: Any) -> list[str]:
    return [e.id for e in executions]


# -- lifecycle ---------------------------------------------------------------------------------------------------


async def test_open_is_idempotent_and_ping_measures_a_round_trip(store: SqlStore) -> None:
    await store.open()
    assert await store.ping() > 0


# -- the claim ---------------------------------------------------------------------------------------------------


async def test_a_second_claim_of_the_same_fire_loses_and_writes_nothing(store: SqlStore) -> None:
    first, rival = make_run(scheduled=0), make_run(start=0.5, scheduled=0, host="other")
    assert await store.insert_execution(first)
    assert not await store.insert_execution(rival)
    page = await store.list_executions(ExecutionQuery(job_id="sync"))
    assert page.total == 1
    assert ids(page.items) == [first.id]


async def test_replicas_claiming_one_fire_at_once_produce_exactly_one_record(store_url: str) -> None:
    replicas = [SqlStore(store_url) for _ in range(4)]
    await asyncio.gather(*(r.open() for r in replicas))
    try:
        outcomes = await asyncio.gather(
            *(r.insert_execution(make_run(scheduled=0, host=f"h{i}")) for i, r in enumerate(replicas))
        )
        assert sorted(outcomes) == [False, False, False, True]
        assert (await replicas[0].list_executions(ExecutionQuery())).total == 1
    finally:
        await asyncio.gather(*(r.close() for r in replicas))


async def test_a_retry_is_a_new_attempt_of_the_same_fire(store: SqlStore) -> None:
    assert await store.insert_execution(make_run(scheduled=0, status=FAILED, duration=1))
    assert await store.insert_execution(make_run(start=31, scheduled=0, attempt=2, trigger=TriggerKind.RETRY))
    assert not await store.insert_execution(make_run(start=32, scheduled=0, attempt=2, trigger=TriggerKind.RETRY))


async def test_manual_runs_never_conflict(store: SqlStore) -> None:
    manual = [make_run(scheduled=0, trigger=TriggerKind.MANUAL, triggered_by="alice") for _ in range(3)]
    assert [await store.insert_execution(run) for run in manual] == [True, True, True]
    assert await store.insert_execution(make_run(scheduled=0))  # and they do not block the scheduled fire


# -- one execution -----------------------------------------------------------------------------------------------


async def test_an_execution_round_trips_every_field_with_aware_utc_times(store: SqlStore) -> None:
    shanghai = timezone(timedelta(hours=8))
    run = make_run(
        start=1.5,
        scheduled=0.25,
        trigger=TriggerKind.MANUAL,
        triggered_by="alice",
        force=True,
        kwargs={"batch": 100, "names": ["a", "b"], "deep": {"x": None}},
        progress=12.5,
        progress_message="warming up",
        current_item="row 7",
        total_items=40,
        processed_items=5,
        host="worker-1",
        pid=4242,
        heartbeat_at=datetime(2026, 3, 6, 15, 58, 3, 654321, tzinfo=shanghai),
        retry_of="01JABCDEFGHJKMNPQRSTVWXYZ0",
    )
    await insert(store, run)
    back = await store.get_execution(run.id)
    assert back == replace(run, heartbeat_at=at(3).replace(microsecond=654321))
    for value in (back.started_at, back.scheduled_time, back.updated_at, back.heartbeat_at):
        assert value is not None
        assert value.utcoffset() == timedelta(0)
    assert back.started_at.microsecond == 623456


async def test_an_unknown_execution_is_not_found(store: SqlStore) -> None:
    with pytest.raises(ExecutionNotFound):
        await store.get_execution("nope")


async def test_close_finishes_a_running_record_exactly_once(store: SqlStore) -> None:
    (run,) = await insert(store, make_run())
    assert await store.close_execution(run.id, status=SUCCESS, finished_at=at(2.000005), return_value='{"rows": 3}')
    assert not await store.close_execution(run.id, status=FAILED, finished_at=at(9), error_message="late")
    done = await store.get_execution(run.id)
    assert (done.status, done.finished_at, done.updated_at) == (SUCCESS, at(2.000005), at(2.000005))
    assert (done.return_value, done.error_message, done.execution_time) == ('{"rows": 3}', None, 2.000005)


async def test_close_of_an_unknown_execution_returns_false(store: SqlStore) -> None:
    assert not await store.close_execution("nope", status=SUCCESS, finished_at=at(1))


async def test_close_records_failure_details(store: SqlStore) -> None:
    (run,) = await insert(store, make_run())
    assert await store.close_execution(
        run.id, status=FAILED, finished_at=at(1), error_message="boom", traceback="Traceback …"
    )
    done = await store.get_execution(run.id)
    assert (done.status, done.error_message, done.traceback) == (FAILED, "boom", "Traceback …")


async def test_progress_writes_only_the_given_fields(store: SqlStore) -> None:
    a, b = await insert(store, make_run("a"), make_run("b"))
    await store.write_progress(
        [
            ProgressUpdate(execution_id=a.id, at=at(1), progress=10, message="first", total_items=100),
            ProgressUpdate(execution_id=b.id, at=at(1), current_item="b-1"),
            ProgressUpdate(execution_id="unknown", at=at(1), progress=99),
        ]
    )
    await store.write_progress([ProgressUpdate(execution_id=a.id, at=at(2), processed_items=30, progress=30)])
    a2, b2 = await store.get_execution(a.id), await store.get_execution(b.id)
    assert (a2.progress, a2.progress_message, a2.total_items, a2.processed_items) == (30, "first", 100, 30)
    assert a2.updated_at == at(2)
    assert (b2.progress, b2.current_item, b2.updated_at) == (None, "b-1", at(1))


async def test_a_terminal_record_ignores_progress_heartbeat_and_cancel_flag(store: SqlStore) -> None:
    (run,) = await insert(store, make_run())
    await store.close_execution(run.id, status=SUCCESS, finished_at=at(5))
    before = await store.get_execution(run.id)
    await store.write_progress([ProgressUpdate(execution_id=run.id, at=at(6), progress=50, message="late")])
    await store.heartbeat([run.id], at(7))
    with pytest.raises(ExecutionNotRunning):
        await store.request_cancel(run.id, at(8))
    assert await store.get_execution(run.id) == before
    assert not (await store.get_execution(run.id)).cancel_requested


async def test_heartbeat_touches_only_running_records(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("jobdeck.store.repositories.executions.CHUNK", 2)  # several IN (…) batches
    running = await insert(store, *(make_run(f"job{i}") for i in range(3)))
    (done,) = await insert(store, make_run("done", status=SUCCESS, duration=1))
    await store.heartbeat([*ids(running), done.id, "unknown"], at(10))
    assert [(await store.get_execution(r.id)).heartbeat_at for r in running] == [at(10)] * 3
    assert (await store.get_execution(done.id)).heartbeat_at is None


async def test_request_cancel_flags_a_running_record_and_is_idempotent(store: SqlStore) -> None:
    (run,) = await insert(store, make_run())
    flagged = await store.request_cancel(run.id, at(3))
    assert flagged.cancel_requested
    assert flagged.status is RUNNING
    assert flagged.updated_at == at(3)
    again = await store.request_cancel(run.id, at(4))
    assert again.cancel_requested
    assert (await store.get_execution(run.id)).cancel_requested


async def test_request_cancel_of_unknown_or_terminal_records(store: SqlStore) -> None:
    (run,) = await insert(store, make_run(status=FAILED, duration=1))
    with pytest.raises(ExecutionNotFound):
        await store.request_cancel("unknown", at(1))
    with pytest.raises(ExecutionNotRunning) as caught:
        await store.request_cancel(run.id, at(1))
    assert caught.value.status == "failed"


async def test_delete_removes_a_terminal_record_and_its_log(store: SqlStore) -> None:
    done, running = await insert(store, make_run("a", status=SUCCESS, duration=1), make_run("b"))
    await store.append_log([LogLine(execution_id=done.id, seq=1, at=at(0.5), level="INFO", message="hi")])
    await store.delete_execution(done.id)
    with pytest.raises(ExecutionNotFound):
        await store.get_execution(done.id)
    assert await store.read_log(done.id) == []
    with pytest.raises(ExecutionStillRunning):
        await store.delete_execution(running.id)
    with pytest.raises(ExecutionNotFound):
        await store.delete_execution("unknown")
    assert (await store.get_execution(running.id)).status is RUNNING


# -- running, stale, failing -------------------------------------------------------------------------------------


async def test_running_executions_oldest_first_by_job_and_host(store: SqlStore) -> None:
    late, early, other = await insert(
        store,
        make_run("a", start=20, host="h1"),
        make_run("a", start=10, host="h2"),
        make_run("b", start=15, host="h1"),
    )
    await insert(store, make_run("a", start=5, status=SUCCESS, duration=1, host="h1"))
    assert ids(await store.running_executions()) == [early.id, other.id, late.id]
    assert ids(await store.running_executions(job_id="a")) == [early.id, late.id]
    assert ids(await store.running_executions(host="h1")) == [other.id, late.id]
    assert ids(await store.running_executions(job_id="a", host="h1")) == [late.id]
    assert await store.count_running() == {"a": 2, "b": 1}


async def test_running_counts_can_leave_out_one_process(store: SqlStore) -> None:
    await insert(
        store,
        make_run("a", start=1, host="h1", pid=10),
        make_run("a", start=2, host="h1", pid=11),  # same host, another process
        make_run("a", start=3, host="h2", pid=10),  # same pid, another host
        make_run("b", start=4, host="h1", pid=10),
        make_run("d", start=5),  # no host or pid: nobody's, counted for everyone
    )
    await insert(store, make_run("c", start=6, status=SUCCESS, duration=1, host="h2", pid=20))
    assert await store.count_running(other_than=("h1", 10)) == {"a": 2, "d": 1}
    assert await store.count_running(other_than=("h9", 99)) == {"a": 3, "b": 1, "d": 1}


async def test_stale_executions_go_by_heartbeat_not_start(store: SqlStore) -> None:
    silent, healthy_long, recently_started = await insert(
        store, make_run("silent", start=0), make_run("long", start=-3600), make_run("fresh", start=100)
    )
    await insert(store, make_run("done", start=-7200, status=SUCCESS, duration=1))
    await store.heartbeat([healthy_long.id], at(95))
    stale = await store.stale_executions(heartbeat_before=at(60))
    assert ids(stale) == [silent.id]
    assert recently_started.id not in ids(stale)


async def test_fail_executions_closes_only_running_ones(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("jobdeck.store.repositories.executions.CHUNK", 2)
    running = await insert(store, *(make_run(f"job{i}", start=i) for i in range(3)))
    (done,) = await insert(store, make_run("done", status=SUCCESS, duration=1))
    closed = await store.fail_executions([*ids(running), done.id, "unknown"], finished_at=at(70), message="zombie")
    assert closed == 3
    for run in running:
        failed = await store.get_execution(run.id)
        assert (failed.status, failed.error_message, failed.finished_at) == (FAILED, "zombie", at(70))
    assert await store.get_execution(done.id) == done
    assert await store.fail_executions([], finished_at=at(80), message="x") == 0


# -- listing -----------------------------------------------------------------------------------------------------


@pytest.fixture
async def history(store: SqlStore) -> dict[str, Execution]:
    """Seven runs of two jobs, one every 10 s from T0."""
    runs = {
        "a1": make_run("a", start=0, status=SUCCESS, duration=1),
        "b1": make_run("b", start=10, status=FAILED, duration=2),
        "a2": make_run("a", start=20, status=SUCCESS, duration=3, trigger=TriggerKind.MANUAL),
        "a3": make_run("a", start=30, status=MISSED),
        "b2": make_run("b", start=40, status=SUCCESS, duration=1, trigger=TriggerKind.MANUAL),
        "a4": make_run("a", start=50, status=FAILED, duration=4, trigger=TriggerKind.RETRY),
        "a5": make_run("a", start=60),
    }
    await insert(store, *runs.values())
    return runs


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (ExecutionQuery(), ["a5", "a4", "b2", "a3", "a2", "b1", "a1"]),
        (ExecutionQuery(job_id="a"), ["a5", "a4", "a3", "a2", "a1"]),
        (ExecutionQuery(status=SUCCESS), ["b2", "a2", "a1"]),
        (ExecutionQuery(job_id="a", status=FAILED), ["a4"]),
        (ExecutionQuery(is_manual=True), ["b2", "a2"]),
        (ExecutionQuery(is_manual=False, job_id="a"), ["a5", "a4", "a3", "a1"]),
        (ExecutionQuery(since=at(20), until=at(50)), ["b2", "a3", "a2"]),  # since inclusive, until exclusive
        (ExecutionQuery(job_id="nobody"), []),
    ],
    ids=["all", "job", "status", "job+status", "manual", "not-manual", "since-until", "no-match"],
)
async def test_list_filters_newest_first_with_totals(
    store: SqlStore, history: dict[str, Execution], query: ExecutionQuery, expected: list[str]
) -> None:
    page = await store.list_executions(query)
    assert ids(page.items) == [history[name].id for name in expected]
    assert (page.total, page.limit, page.offset) == (len(expected), 50, 0)


async def test_list_pages_through_with_offset(store: SqlStore, history: dict[str, Execution]) -> None:
    order = ["a5", "a4", "b2", "a3", "a2", "b1", "a1"]
    pages = [await store.list_executions(ExecutionQuery(limit=3, offset=offset)) for offset in (0, 3, 6, 9)]
    assert [ids(p.items) for p in pages] == [[history[n].id for n in order[i : i + 3]] for i in (0, 3, 6, 9)]
    assert {p.total for p in pages} == {7}
    filtered = await store.list_executions(ExecutionQuery(job_id="a", limit=2, offset=2))
    assert (ids(filtered.items), filtered.total) == ([history["a3"].id, history["a2"].id], 5)


async def test_totals_stay_exact_through_claims_closes_deletes_and_prunes(store: SqlStore) -> None:
    # limit=1 keeps every page full, so each total below is counted, not inferred from the page.
    async def totals() -> dict[str, int]:
        queries = {
            "all": ExecutionQuery(limit=1),
            "a": ExecutionQuery(job_id="a", limit=1),
            "running": ExecutionQuery(status=RUNNING, limit=1),
            "a running": ExecutionQuery(job_id="a", status=RUNNING, limit=1),
            "success": ExecutionQuery(status=SUCCESS, limit=1),
            "a failed": ExecutionQuery(job_id="a", status=FAILED, limit=1),
        }
        return {name: (await store.list_executions(q)).total for name, q in queries.items()}

    a1, a2, a3, b1 = await insert(
        store, make_run("a", start=1), make_run("a", start=2), make_run("a", start=3), make_run("b", start=4)
    )
    await insert(store, make_run("a", start=5, status=MISSED))
    assert await totals() == {"all": 5, "a": 4, "running": 4, "a running": 3, "success": 0, "a failed": 0}
    await store.close_execution(a1.id, status=SUCCESS, finished_at=at(10))
    await store.close_execution(a2.id, status=FAILED, finished_at=at(10))
    await store.close_execution(b1.id, status=SUCCESS, finished_at=at(10))
    assert await totals() == {"all": 5, "a": 4, "running": 1, "a running": 1, "success": 2, "a failed": 1}
    await store.delete_execution(a2.id)
    assert await totals() == {"all": 4, "a": 3, "running": 1, "a running": 1, "success": 2, "a failed": 0}
    assert await store.prune_executions(finished_before=at(100)) == 3  # a1, b1 and the missed fire
    assert await totals() == {"all": 1, "a": 1, "running": 1, "a running": 1, "success": 0, "a failed": 0}
    stats = await store.execution_stats("a")
    assert (stats.total, stats.running, stats.success, stats.failed, stats.missed) == (1, 1, 0, 0, 0)
    await store.close_execution(a3.id, status=CANCELLED, finished_at=at(11))
    stats = await store.execution_stats("a")
    assert (stats.total, stats.running, stats.cancelled) == (1, 0, 1)


async def test_list_breaks_ties_on_start_time_by_id(store: SqlStore) -> None:
    runs = await insert(store, *(make_run(trigger=TriggerKind.MANUAL) for _ in range(3)))
    page = await store.list_executions(ExecutionQuery())
    assert ids(page.items) == sorted(ids(runs), reverse=True)


# -- statistics --------------------------------------------------------------------------------------------------


async def test_execution_stats_counts_times_and_last_run(store: SqlStore) -> None:
    finished = [SUCCESS] * 14 + [FAILED] * 4 + [CANCELLED] * 2
    for i, status in enumerate(finished):  # run i lasts i + 1 seconds: 1 … 20
        (run,) = await insert(store, make_run(start=100 * i))
        await store.close_execution(run.id, status=status, finished_at=at(100 * i + i + 1))
    await insert(store, make_run(start=3000, status=MISSED), make_run(start=3100, status=SKIPPED))
    (last,) = await insert(store, make_run(start=3200))
    await insert(store, make_run("other", start=5000, status=SUCCESS, duration=1000))
    stats = await store.execution_stats("sync")
    assert (stats.total, stats.success, stats.failed, stats.cancelled) == (23, 14, 4, 2)
    assert (stats.missed, stats.skipped, stats.running) == (1, 1, 1)
    assert stats.success_rate == 70.0
    assert stats.avg_execution_time == pytest.approx(10.5)
    assert stats.p50_execution_time == pytest.approx(10.5)
    assert stats.p95_execution_time == pytest.approx(19.05)  # linear interpolation between ranks
    assert stats.last_execution == last


async def test_execution_stats_percentiles_cover_the_newest_runs_only(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("jobdeck.store._counts.PERCENTILE_WINDOW", 5)
    monkeypatch.setattr("jobdeck.store._memory_runs.PERCENTILE_WINDOW", 5)
    # Five old runs of 100 s, then five new ones of 1 … 5 s: the percentiles see only the new ones, the average all.
    durations = [100.0] * 5 + [1.0, 2.0, 3.0, 4.0, 5.0]
    await insert(store, *(make_run(start=10 * i, status=SUCCESS, duration=d) for i, d in enumerate(durations)))
    stats = await store.execution_stats("sync")
    assert stats.p50_execution_time == pytest.approx(3.0)
    assert stats.p95_execution_time == pytest.approx(4.8)
    assert stats.avg_execution_time == pytest.approx(51.5)


async def test_execution_stats_of_a_job_without_runs(store: SqlStore) -> None:
    stats = await store.execution_stats("never")
    assert stats.total == 0
    assert stats.last_execution is None
    assert stats.avg_execution_time is None
    assert stats.p95_execution_time is None


async def test_status_counts_since(store: SqlStore, history: dict[str, Execution]) -> None:
    counts = await store.status_counts(since=at(20))
    assert counts[SUCCESS] == 2
    assert counts[FAILED] == 1
    assert counts[MISSED] == 1
    assert counts[RUNNING] == 1
    assert counts[CANCELLED] == 0
    assert counts[SKIPPED] == 0
    assert sum((await store.status_counts(since=at(0))).values()) == 7


async def test_status_counts_since_span_hours_and_follow_closes_and_deletes(store: SqlStore) -> None:
    # T0 is 07:58:00.12; since = 06:58:00.12 cuts the 06:xx hour: its earlier rows are out, its later ones in.
    hour = 3600
    (early, late, running) = await insert(
        store,
        make_run("a", start=-hour - 60, status=SUCCESS, duration=1),  # 06:57 — before since
        make_run("a", start=-hour + 60, status=SUCCESS, duration=1),  # 06:59 — in the partial hour
        make_run("b", start=2 * hour),  # 09:58, running
    )
    await insert(
        store,
        make_run("a", start=0, status=FAILED, duration=1),  # 07:58
        make_run("b", start=hour + 60, status=MISSED),  # 08:59
        make_run("c", start=-3 * hour, status=SUCCESS, duration=1),  # 04:58 — out
    )

    async def counts() -> dict[ExecutionStatus, int]:
        found = await store.status_counts(since=at(-hour))
        return {status: n for status, n in found.items() if n}

    assert await counts() == {SUCCESS: 1, FAILED: 1, MISSED: 1, RUNNING: 1}
    await store.close_execution(running.id, status=CANCELLED, finished_at=at(2 * hour + 5))
    assert await counts() == {SUCCESS: 1, FAILED: 1, MISSED: 1, CANCELLED: 1}
    await store.delete_execution(late.id)
    await store.delete_execution(early.id)
    assert await counts() == {FAILED: 1, MISSED: 1, CANCELLED: 1}
    assert sum((await store.status_counts(since=at(-4 * hour))).values()) == 4
    on_the_hour = T0.replace(minute=0, second=0, microsecond=0)  # 07:00:00 exactly: no partial hour
    assert (await store.status_counts(since=on_the_hour))[FAILED] == 1
    assert await store.prune_executions(finished_before=at(10 * hour)) == 4
    assert sum((await store.status_counts(since=at(-4 * hour))).values()) == 0


# -- retention ---------------------------------------------------------------------------------------------------


async def test_prune_deletes_old_terminal_runs_and_their_logs(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("jobdeck.store.repositories.executions.CHUNK", 2)  # several batches
    old = await insert(store, *(make_run(f"old{i}", start=i, status=SUCCESS, duration=1) for i in range(5)))
    (old_missed,) = await insert(store, make_run("missed", start=5, status=MISSED))
    (old_running,) = await insert(store, make_run("stuck", start=0))
    (recent,) = await insert(store, make_run("new", start=0, status=SUCCESS, duration=500))
    await store.append_log([LogLine(execution_id=old[0].id, seq=1, at=at(0.5), level="INFO", message="x")])
    assert await store.prune_executions(finished_before=at(100)) == 6
    remaining = await store.list_executions(ExecutionQuery())
    assert set(ids(remaining.items)) == {old_running.id, recent.id}
    assert await store.read_log(old[0].id) == []
    assert old_missed.id not in ids(remaining.items)
    assert await store.prune_executions(finished_before=at(100)) == 0


# -- logs --------------------------------------------------------------------------------------------------------


async def test_log_tail_and_follow(store: SqlStore) -> None:
    (run,) = await insert(store, make_run())
    lines = [LogLine(execution_id=run.id, seq=n, at=at(n), level="INFO", message=f"line {n}") for n in range(1, 11)]
    await store.append_log(lines[:6])
    await store.append_log(lines[4:])  # a retried flush: lines 5 and 6 are kept once
    assert [ln.seq for ln in await store.read_log(run.id, limit=3)] == [8, 9, 10]
    assert [ln.seq for ln in await store.read_log(run.id, after=3, limit=4)] == [4, 5, 6, 7]
    assert await store.read_log(run.id, after=10) == []
    assert (await store.read_log(run.id, after=0, limit=1))[0] == lines[-1]


# -- job state and metadata --------------------------------------------------------------------------------------


async def test_paused_flag_and_schedule_override_round_trip(store: SqlStore) -> None:
    assert await store.job_states() == {}
    await store.set_paused("sync", True, at=at(1), actor="alice")
    await store.set_schedule_override("sync", "*/10 * * * *", at=at(2), actor="bob")
    state = (await store.job_states())["sync"]
    assert (state.paused, state.schedule_override, state.updated_at, state.updated_by) == (
        True,
        "*/10 * * * *",
        at(2),
        "bob",
    )
    await store.set_schedule_override("sync", None, at=at(3), actor="bob")
    await store.set_paused("sync", False, at=at(4), actor="alice")
    await store.set_paused("other", True, at=at(5), actor="alice")
    states = await store.job_states()
    assert (states["sync"].paused, states["sync"].schedule_override) == (False, None)
    assert (states["other"].paused, states["other"].schedule_override) == (True, None)


async def test_seed_creates_rows_and_refreshes_those_no_operator_edited(store: SqlStore) -> None:
    await store.seed_metadata(
        [JobMetadata(job_id="a", display_name="A", description="first"), JobMetadata(job_id="b", display_name="B")],
        at=at(1),
    )
    await store.seed_metadata([JobMetadata(job_id="a", display_name="A2", description=None)], at=at(2))
    meta = await store.job_metadata()
    assert (meta["a"].display_name, meta["a"].description, meta["a"].updated_at, meta["a"].updated_by) == (
        "A2",
        None,
        at(2),
        None,
    )
    assert (meta["b"].display_name, meta["b"].updated_at) == ("B", at(1))


async def test_an_operator_edit_survives_reseeding(store: SqlStore) -> None:
    await store.seed_metadata([JobMetadata(job_id="a", display_name="A", description="configured")], at=at(1))
    edited = await store.update_metadata("a", display_name="Alpha", description=None, at=at(2), actor="alice")
    assert (edited.display_name, edited.description, edited.updated_by, edited.updated_at) == (
        "Alpha",
        "configured",
        "alice",
        at(2),
    )
    await store.seed_metadata([JobMetadata(job_id="a", display_name="A-new", description="new")], at=at(3))
    assert (await store.job_metadata())["a"] == edited


async def test_update_metadata_none_leaves_and_empty_clears(store: SqlStore) -> None:
    await store.seed_metadata([JobMetadata(job_id="a", display_name="A", description="about a")], at=at(1))
    cleared = await store.update_metadata("a", display_name=None, description="", at=at(2), actor="alice")
    assert (cleared.display_name, cleared.description) == ("A", "")  # "" (cleared), not None (never set)
    created = await store.update_metadata("new", display_name="New", description=None, at=at(3), actor="bob")
    assert (created.job_id, created.display_name, created.description, created.updated_by) == (
        "new",
        "New",
        None,
        "bob",
    )
    assert set(await store.job_metadata()) == {"a", "new"}


# -- audit -------------------------------------------------------------------------------------------------------


async def test_audit_filters_and_pages_newest_first(store: SqlStore) -> None:
    def entry(second: int, action: str, job: str | None, ok: bool = True) -> AuditEntry:
        outcome = AuditOutcome.SUCCESS if ok else AuditOutcome.FAILED
        return AuditEntry(
            id=new_id(at(second)),
            timestamp=at(second),
            actor="alice",
            action=action,
            status=outcome,
            job_id=job,
            execution_id=None if ok else "01EXEC",
            error_message=None if ok else "not running",
            details={"force": True, "n": second},
        )

    entries = [
        entry(1, "pause", "a"),
        entry(2, "trigger", "a"),
        entry(3, "cancel", "b", ok=False),
        entry(4, "resume", "a"),
        entry(5, "login", None),
    ]
    for e in entries:
        await store.append_audit(e)
    page = await store.list_audit(AuditQuery())
    assert page.items == entries[::-1]
    assert page.total == 5
    by_job = await store.list_audit(AuditQuery(job_id="a", limit=2, offset=1))
    assert (by_job.items, by_job.total) == ([entries[1], entries[0]], 3)
    failed = await store.list_audit(AuditQuery(status=AuditOutcome.FAILED))
    assert (failed.items, failed.total) == ([entries[2]], 1)
    paused = await store.list_audit(AuditQuery(action="pause"))
    assert (paused.items, paused.total) == ([entries[0]], 1)
    beyond = await store.list_audit(AuditQuery(offset=10))
    assert (beyond.items, beyond.total) == ([], 5)


# -- users, tokens, settings -------------------------------------------------------------------------------------


async def test_users_are_unique_by_name(store: SqlStore) -> None:
    bob = User(username="bob", role=Role.VIEWER, password_hash="h1", created_at=at(2))
    alice = User(username="alice", role=Role.ADMIN, password_hash="h0", created_at=at(1), disabled=True)
    await store.create_user(bob)
    await store.create_user(alice)
    with pytest.raises(UserExists):
        await store.create_user(replace(bob, role=Role.ADMIN))
    assert await store.get_user("bob") == bob
    assert await store.list_users() == [alice, bob]
    assert await store.count_users() == 2
    with pytest.raises(UserNotFound):
        await store.get_user("carol")


async def test_password_and_role_changes(store: SqlStore) -> None:
    await store.create_user(User(username="bob", role=Role.VIEWER, password_hash="h1", created_at=at(1)))
    await store.set_password_hash("bob", "h2")
    await store.set_user_role("bob", Role.ADMIN)
    bob = await store.get_user("bob")
    assert (bob.password_hash, bob.role) == ("h2", Role.ADMIN)
    with pytest.raises(UserNotFound):
        await store.set_password_hash("carol", "x")
    with pytest.raises(UserNotFound):
        await store.set_user_role("carol", Role.ADMIN)


async def test_api_token_lifecycle(store: SqlStore) -> None:
    old = ApiToken(id=new_id(at(1)), name="ci", role=Role.ADMIN, token_hash="a" * 64, created_at=at(1), created_by="x")
    new = ApiToken(id=new_id(at(2)), name="grafana", role=Role.VIEWER, token_hash="b" * 64, created_at=at(2))
    await store.create_token(old)
    await store.create_token(new)
    assert await store.token_by_hash("a" * 64) == old
    assert await store.token_by_hash("c" * 64) is None
    assert await store.list_tokens() == [new, old]
    await store.touch_token(old.id, at=at(10))
    await store.revoke_token(old.id, at=at(20))
    await store.revoke_token(old.id, at=at(30))  # the first revocation time stays
    used = await store.token_by_hash("a" * 64)
    assert used is not None
    assert (used.last_used_at, used.revoked_at) == (at(10), at(20))
    with pytest.raises(TokenNotFound):
        await store.revoke_token("unknown", at=at(1))


async def test_the_first_stored_setting_wins(store: SqlStore) -> None:
    values = await asyncio.gather(*(store.set_setting_if_absent("secret_key", f"v{i}") for i in range(5)))
    assert len(set(values)) == 1
    assert await store.set_setting_if_absent("secret_key", "later") == values[0]
