"""The reads of executions: :class:`ExecutionReads` — pages, a job's statistics, the status counts of a window,
every job's newest run, retries. Counted totals and counts come from the counters of revisions 0004 / 0005
(:mod:`jobdeck.store._counts`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, func, literal, select, union_all
from sqlalchemy.sql.elements import ColumnElement

from jobdeck.errors import ExecutionNotFound
from jobdeck.models import Execution, ExecutionQuery, ExecutionStats, ExecutionStatus, Page
from jobdeck.store import _rows
from jobdeck.store._counts import (
    average_duration,
    counted_query,
    counted_total,
    duration_percentiles,
    status_counts_since,
)
from jobdeck.store.database import Database, page_total
from jobdeck.store.schema import IS_RUNNING, NOT_RUNNING, execution_counts, executions

__all__ = ["ExecutionReads"]

_NEWEST_FIRST = (executions.c.started_at.desc(), executions.c.id.desc())
_MAX_CHAIN = 1000
"""A safety bound on how far :meth:`ExecutionReads.retry_chain` follows links."""


class ExecutionReads:
    """Reads of the ``executions`` table (and its counters)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_execution(self, execution_id: str) -> Execution:
        async with self._db.tx() as conn:
            row = (await conn.execute(select(executions).where(executions.c.id == execution_id))).first()
        if row is None:
            raise ExecutionNotFound(execution_id)
        return _rows.to_execution(row)

    async def list_executions(self, query: ExecutionQuery) -> Page[Execution]:
        conditions: list[ColumnElement[bool]] = []
        if query.job_id is not None:
            conditions.append(executions.c.job_id == query.job_id)
        if query.status is not None:
            conditions.append(executions.c.status == query.status.value)
            if query.status is not ExecutionStatus.RUNNING:
                conditions.append(NOT_RUNNING)  # ix_executions_job_status_started holds finished rows only
        if query.is_manual is not None:
            manual = executions.c.trigger == "manual"
            conditions.append(manual if query.is_manual else ~manual)
        if query.since is not None:
            conditions.append(executions.c.started_at >= query.since)
        if query.until is not None:
            conditions.append(executions.c.started_at < query.until)
        counted = counted_query(query)
        # A counted total rides along as a column of the page, so the page and its total are one round trip.
        columns = [executions, counted_total(query).label("_total")] if counted else [executions]
        page = select(*columns).where(*conditions).order_by(*_NEWEST_FIRST).limit(query.limit)
        if query.offset:
            # A deep page: find its ids in the filter's index first, then read only those rows (PostgreSQL would
            # otherwise read every skipped row from the table; SQLite is faster this way too).
            keys = (
                select(executions.c.id)
                .where(*conditions)
                .order_by(*_NEWEST_FIRST)
                .limit(query.limit)
                .offset(query.offset)
                .subquery("page_keys")
            )
            page = select(*columns).join(keys, executions.c.id == keys.c.id).order_by(*_NEWEST_FIRST)
        async with self._db.tx() as conn:
            rows = (await conn.execute(page)).all()
            total = page_total(query.offset, query.limit, len(rows))
            if total is None and counted and rows:
                total = int(rows[0]._mapping["_total"])
            if total is None:
                count = (
                    select(counted_total(query))
                    if counted
                    else select(func.count()).select_from(executions).where(*conditions)
                )
                total = int((await conn.execute(count)).scalar_one())
        return Page(items=[_rows.to_execution(r) for r in rows], total=total, limit=query.limit, offset=query.offset)

    async def running_executions(self, *, job_id: str | None = None, host: str | None = None) -> list[Execution]:
        stmt = select(executions).where(IS_RUNNING)
        if job_id is not None:
            stmt = stmt.where(executions.c.job_id == job_id)
        if host is not None:
            stmt = stmt.where(executions.c.host == host)
        stmt = stmt.order_by(executions.c.started_at, executions.c.id)
        async with self._db.tx() as conn:
            return [_rows.to_execution(r) for r in await conn.execute(stmt)]

    async def execution_stats(self, job_id: str) -> ExecutionStats:
        c = executions.c
        of_job = c.job_id == job_id
        # Finished runs from their counters, running ones (not counted there) from their partial index.
        counts_stmt = union_all(
            select(execution_counts.c.status, execution_counts.c.n).where(
                execution_counts.c.job_id == job_id, execution_counts.c.n > 0
            ),
            select(literal(ExecutionStatus.RUNNING.value), func.count())
            .select_from(executions)
            .where(of_job, IS_RUNNING),
        )
        # The average covers every finished run (from its counters); p50 / p95 the newest PERCENTILE_WINDOW (see
        # duration_percentiles).
        avg_stmt = select(average_duration(job_id))
        last_stmt = select(executions).where(of_job).order_by(*_NEWEST_FIRST).limit(1)
        async with self._db.tx() as conn:
            counts = {status: int(n) for status, n in await conn.execute(counts_stmt)}
            average = (await conn.execute(avg_stmt)).scalar()
            p50, p95 = await duration_percentiles(conn, self._db.dialect, job_id)
            last = (await conn.execute(last_stmt)).first()
        return ExecutionStats(
            total=sum(counts.values()),
            **{status.value: counts.get(status.value, 0) for status in ExecutionStatus},
            avg_execution_time=None if average is None else float(average),
            p50_execution_time=p50,
            p95_execution_time=p95,
            last_execution=None if last is None else _rows.to_execution(last),
        )

    async def status_counts(self, *, since: datetime) -> dict[ExecutionStatus, int]:
        # Every status is present (0 when none), so callers can render the whole breakdown. The rows of the partial
        # hour after `since` are counted, whole hours come from execution_hourly_counts, running rows (not in the
        # counters) from their partial index.
        stmt = status_counts_since(self._db.dialect, since)
        async with self._db.tx() as conn:
            found = {status: int(n) for status, n in await conn.execute(stmt)}
        return {status: found.get(status.value, 0) for status in ExecutionStatus}

    async def pending_retries(self) -> list[Execution]:
        retry = executions.alias("retry")
        stmt = (
            select(executions)
            .where(
                executions.c.retry_at.is_not(None),
                executions.c.status == ExecutionStatus.FAILED.value,
                ~exists().where(retry.c.retry_of == executions.c.id),
            )
            .order_by(executions.c.retry_at, executions.c.id)
        )
        async with self._db.tx() as conn:
            return [_rows.to_execution(r) for r in await conn.execute(stmt)]

    async def retry_chain(self, execution_id: str) -> list[Execution]:
        async with self._db.tx() as conn:
            row = (await conn.execute(select(executions).where(executions.c.id == execution_id))).first()
            if row is None:
                raise ExecutionNotFound(execution_id)
            chain = [_rows.to_execution(row)]
            seen = {execution_id}
            while (back := chain[0].retry_of) is not None and back not in seen and len(chain) < _MAX_CHAIN:
                found = (await conn.execute(select(executions).where(executions.c.id == back))).first()
                if found is None:
                    break  # the earlier attempt was deleted
                chain.insert(0, _rows.to_execution(found))
                seen.add(back)
            while len(chain) < _MAX_CHAIN:
                stmt = select(executions).where(executions.c.retry_of == chain[-1].id).order_by(executions.c.id)
                found = (await conn.execute(stmt.limit(1))).first()
                if found is None or found.id in seen:
                    break
                chain.append(_rows.to_execution(found))
                seen.add(found.id)
        return chain
