"""The execution records and logs of :class:`~jobdeck.store.memory.MemoryStore`, and the helpers both parts use."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from jobdeck.clock import ensure_utc
from jobdeck.errors import (
    ExecutionNotFound,
    ExecutionNotRunning,
    ExecutionStillRunning,
)
from jobdeck.models import (
    Execution,
    ExecutionClose,
    ExecutionQuery,
    ExecutionStats,
    ExecutionStatus,
    LogLine,
    Page,
    ProgressUpdate,
    TriggerKind,
)

__all__ = ["PERCENTILE_WINDOW", "MemoryRuns", "json_copy", "page_of", "utc"]

PERCENTILE_WINDOW = 1000
"""A job's p50 / p95 run times cover its newest this many finished runs (as the SQL store's)."""

_CLAIMED = (TriggerKind.SCHEDULE, TriggerKind.RETRY)  # keyed unique on (job_id, scheduled_time, attempt)
_FINISHED = (ExecutionStatus.SUCCESS, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)
_MAX_CHAIN = 1000
_RUNNING = ExecutionStatus.RUNNING
_EXECUTION_TIMES = ("scheduled_time", "started_at", "updated_at", "finished_at", "heartbeat_at", "retry_at")

T = TypeVar("T")

utc = ensure_utc  # every time kept is aware UTC; a naive one is refused (ValueError), as the SQL store does


def json_copy(value: Mapping[str, Any]) -> dict[str, Any]:
    """What the SQL store's JSON columns give back: a fresh dict of JSON values (a tuple comes back a list)."""
    loaded: dict[str, Any] = json.loads(json.dumps(dict(value), default=str))
    return loaded


def _newest_first(execution: Execution) -> tuple[datetime, str]:
    return execution.started_at, execution.id


def page_of(items: Sequence[T], limit: int, offset: int) -> Page[T]:
    """The page of ``items`` (all the matches, in order) at ``offset``, with their total."""
    return Page(items=list(items[offset : offset + limit]), total=len(items), limit=limit, offset=offset)


def _percentile(ordered: Sequence[float], pct: int) -> float | None:
    # Linear interpolation between the closest ranks (PostgreSQL's percentile_cont, numpy's default).
    if not ordered:
        return None
    position = (len(ordered) - 1) * pct / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class MemoryRuns:
    """The execution records and their logs of a :class:`~jobdeck.store.memory.MemoryStore` (its base: the part of
    the store the engine writes most)."""

    def __init__(self) -> None:
        self._executions: dict[str, Execution] = {}
        self._durations: dict[str, float] = {}  # of terminal records, as the SQL store's duration column
        self._claims: dict[tuple[str, datetime, int], str] = {}
        self._logs: dict[str, dict[int, LogLine]] = {}

    # -- executions ------------------------------------------------------------------------------------------

    def _running(self, execution_id: str) -> Execution | None:
        found = self._executions.get(execution_id)
        return found if found is not None and found.status is _RUNNING else None

    def _put(self, execution: Execution) -> None:
        self._executions[execution.id] = execution
        if execution.status.is_terminal and execution.finished_at is not None:
            self._durations[execution.id] = (execution.finished_at - execution.started_at).total_seconds()

    def _forget(self, execution_id: str) -> None:
        execution = self._executions.pop(execution_id)
        self._durations.pop(execution_id, None)
        self._logs.pop(execution_id, None)
        key = (execution.job_id, execution.scheduled_time, execution.attempt)
        if self._claims.get(key) == execution_id:
            del self._claims[key]

    def _insert(self, execution: Execution) -> bool:
        times: dict[str, Any] = {
            name: utc(v) for name in _EXECUTION_TIMES if (v := getattr(execution, name)) is not None
        }
        record = dataclasses.replace(execution, kwargs=json_copy(execution.kwargs), **times)
        if record.id in self._executions:
            raise ValueError(f"an execution with id {record.id!r} exists already")
        key = (record.job_id, record.scheduled_time, record.attempt)
        if record.trigger in _CLAIMED:
            if key in self._claims:
                return False
            self._claims[key] = record.id
        self._put(record)
        return True

    async def insert_execution(self, execution: Execution) -> bool:
        return self._insert(execution)

    async def insert_executions(self, executions: Sequence[Execution]) -> list[bool | Exception]:
        results: list[bool | Exception] = []
        for execution in executions:
            try:
                results.append(self._insert(execution))
            except Exception as exc:
                results.append(exc)
        return results

    async def get_execution(self, execution_id: str) -> Execution:
        found = self._executions.get(execution_id)
        if found is None:
            raise ExecutionNotFound(execution_id)
        return found

    def _select(self, keep: Callable[[Execution], bool]) -> list[Execution]:
        return [e for e in self._executions.values() if keep(e)]

    async def list_executions(self, query: ExecutionQuery) -> Page[Execution]:
        since = None if query.since is None else utc(query.since)
        until = None if query.until is None else utc(query.until)

        def keep(e: Execution) -> bool:
            return (
                (query.job_id is None or e.job_id == query.job_id)
                and (query.status is None or e.status is query.status)
                and (query.is_manual is None or e.is_manual == query.is_manual)
                and (since is None or e.started_at >= since)
                and (until is None or e.started_at < until)
            )

        return page_of(sorted(self._select(keep), key=_newest_first, reverse=True), query.limit, query.offset)

    async def running_executions(self, *, job_id: str | None = None, host: str | None = None) -> list[Execution]:
        found = self._select(
            lambda e: e.status is _RUNNING and job_id in (None, e.job_id) and (host is None or e.host == host)
        )
        return sorted(found, key=_newest_first)

    async def count_running(self, *, other_than: tuple[str, int] | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self._executions.values():
            if e.status is _RUNNING and (other_than is None or (e.host, e.pid) != other_than):
                counts[e.job_id] = counts.get(e.job_id, 0) + 1
        return counts

    async def write_progress(self, updates: Sequence[ProgressUpdate]) -> None:
        for u in updates:
            if (e := self._running(u.execution_id)) is None:
                continue
            changes: dict[str, Any] = {
                "progress": u.progress,
                "progress_message": u.message,
                "current_item": u.current_item,
                "total_items": u.total_items,
                "processed_items": u.processed_items,
            }
            fields = {name: value for name, value in changes.items() if value is not None}
            self._executions[e.id] = dataclasses.replace(e, **fields, updated_at=utc(u.at))

    async def heartbeat(self, execution_ids: Sequence[str], at: datetime) -> None:
        at = utc(at)
        for execution_id in execution_ids:
            if (e := self._running(execution_id)) is not None:
                self._executions[e.id] = dataclasses.replace(e, heartbeat_at=at)

    async def request_cancel(self, execution_id: str, at: datetime) -> Execution:
        found = await self.get_execution(execution_id)
        if found.status is not _RUNNING:
            raise ExecutionNotRunning(execution_id, found.status.value)
        flagged = dataclasses.replace(found, cancel_requested=True, updated_at=utc(at))
        self._executions[execution_id] = flagged
        return flagged

    def _close(self, close: ExecutionClose) -> bool:
        if not close.status.is_terminal:
            raise ValueError("closing needs a terminal status")
        finished_at = utc(close.finished_at)
        retry_at = None if close.retry_at is None else utc(close.retry_at)
        if (e := self._running(close.execution_id)) is None:
            return False
        closed = dataclasses.replace(
            e,
            status=close.status,
            finished_at=finished_at,
            updated_at=finished_at,
            return_value=close.return_value,
            error_message=close.error_message,
            traceback=close.traceback,
            retry_at=retry_at,
        )
        self._put(closed)
        return True

    async def close_execution(
        self,
        execution_id: str,
        *,
        status: ExecutionStatus,
        finished_at: datetime,
        return_value: str | None = None,
        error_message: str | None = None,
        traceback: str | None = None,
        retry_at: datetime | None = None,
    ) -> bool:
        return self._close(
            ExecutionClose(
                execution_id=execution_id,
                status=status,
                finished_at=finished_at,
                return_value=return_value,
                error_message=error_message,
                traceback=traceback,
                retry_at=retry_at,
            )
        )

    async def close_executions(self, closes: Sequence[ExecutionClose]) -> list[bool | Exception]:
        if any(not close.status.is_terminal for close in closes):
            raise ValueError("closing needs terminal statuses")
        results: list[bool | Exception] = []
        for close in closes:
            try:
                results.append(self._close(close))
            except Exception as exc:
                results.append(exc)
        return results

    async def pending_retries(self) -> list[Execution]:
        retried = {e.retry_of for e in self._executions.values() if e.retry_of is not None}
        found = self._select(
            lambda e: e.retry_at is not None and e.status is ExecutionStatus.FAILED and e.id not in retried
        )
        return sorted(found, key=lambda e: (e.retry_at, e.id))

    async def retry_chain(self, execution_id: str) -> list[Execution]:
        chain = [await self.get_execution(execution_id)]
        seen = {execution_id}
        while (back := chain[0].retry_of) is not None and back not in seen and len(chain) < _MAX_CHAIN:
            if (earlier := self._executions.get(back)) is None:
                break  # the earlier attempt was deleted
            chain.insert(0, earlier)
            seen.add(back)
        while len(chain) < _MAX_CHAIN:
            later = sorted(e.id for e in self._executions.values() if e.retry_of == chain[-1].id)
            if not later or later[0] in seen:
                break
            chain.append(self._executions[later[0]])
            seen.add(later[0])
        return chain

    async def fail_executions(self, execution_ids: Sequence[str], *, finished_at: datetime, message: str) -> int:
        finished_at = utc(finished_at)
        closed = 0
        for execution_id in execution_ids:
            if (e := self._running(execution_id)) is not None:
                failed = dataclasses.replace(
                    e,
                    status=ExecutionStatus.FAILED,
                    finished_at=finished_at,
                    updated_at=finished_at,
                    error_message=message,
                )
                self._put(failed)
                closed += 1
        return closed

    async def stale_executions(self, *, heartbeat_before: datetime) -> list[Execution]:
        before = utc(heartbeat_before)
        found = self._select(lambda e: e.status is _RUNNING and (e.heartbeat_at or e.started_at) < before)
        return sorted(found, key=_newest_first)

    async def delete_execution(self, execution_id: str) -> None:
        found = await self.get_execution(execution_id)
        if found.status is _RUNNING:
            raise ExecutionStillRunning(execution_id)
        self._forget(execution_id)

    async def execution_stats(self, job_id: str) -> ExecutionStats:
        runs = sorted(self._select(lambda e: e.job_id == job_id), key=_newest_first, reverse=True)
        counts = dict.fromkeys(ExecutionStatus, 0)
        for e in runs:
            counts[e.status] += 1
        timed = [self._durations[e.id] for e in runs if e.status in _FINISHED and e.id in self._durations]
        recent = sorted(timed[:PERCENTILE_WINDOW])
        return ExecutionStats(
            total=len(runs),
            **{status.value: n for status, n in counts.items()},
            avg_execution_time=sum(timed) / len(timed) if timed else None,
            p50_execution_time=_percentile(recent, 50),
            p95_execution_time=_percentile(recent, 95),
            last_execution=runs[0] if runs else None,
        )

    async def status_counts(self, *, since: datetime) -> dict[ExecutionStatus, int]:
        since = utc(since)
        counts = dict.fromkeys(ExecutionStatus, 0)
        for e in self._executions.values():
            if e.started_at >= since:
                counts[e.status] += 1
        return counts

    async def prune_executions(self, *, finished_before: datetime) -> int:
        before = utc(finished_before)
        old = [
            e.id for e in self._executions.values() if e.status.is_terminal and (e.finished_at or e.started_at) < before
        ]
        for execution_id in old:
            self._forget(execution_id)
        return len(old)

    # -- execution logs --------------------------------------------------------------------------------------

    async def append_log(self, lines: Sequence[LogLine]) -> None:
        for line in lines:  # a line written twice (a retried flush) is kept once
            self._logs.setdefault(line.execution_id, {}).setdefault(
                line.seq, dataclasses.replace(line, at=utc(line.at))
            )

    async def read_log(self, execution_id: str, *, after: int = 0, limit: int = 200) -> list[LogLine]:
        lines = sorted(self._logs.get(execution_id, {}).items())
        if after > 0:
            return [line for seq, line in lines if seq > after][:limit]
        return [line for _, line in lines[-limit:]] if limit > 0 else []

    async def trim_log(self, execution_id: str, *, keep_from_seq: int, note: str, at: datetime) -> None:
        lines = self._logs.setdefault(execution_id, {})
        for seq in [seq for seq in lines if 0 < seq < keep_from_seq]:
            del lines[seq]
        earlier = lines.get(0)
        level = "warning" if earlier is None else earlier.level
        lines[0] = LogLine(execution_id=execution_id, seq=0, at=utc(at), level=level, message=note)
