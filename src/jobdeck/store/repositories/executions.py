"""The records of runs, as the engine writes them: :class:`Executions` — claims, closes, progress, heartbeats,
cancel requests, the count of running executions, deletion and pruning.

Every update of an execution carries ``WHERE status = 'running'``: a terminal record never changes again.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Float, Integer, and_, bindparam, func, literal, literal_column, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from jobdeck.errors import ExecutionNotFound, ExecutionNotRunning, ExecutionStillRunning
from jobdeck.models import Execution, ExecutionClose, ExecutionStatus, ProgressUpdate
from jobdeck.store import _rows
from jobdeck.store._counts import (
    SQLITE_COUNT_RUNNING,
    SQLITE_COUNT_RUNNING_ELSEWHERE,
    SQLITE_STARTED_HOUR,
    SqliteCloseCounts,
)
from jobdeck.store._writer import SharedRead, duration_between
from jobdeck.store.database import Database
from jobdeck.store.schema import IS_RUNNING, UtcDateTime, execution_hourly_counts, execution_logs, executions

__all__ = ["CHUNK", "Executions"]

CHUNK = 1000
"""Ids per ``IN (…)`` list: well below the bind-parameter limits of both databases."""
_NOT_RUNNING = executions.c.status != literal_column("'running'")


def _chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    return [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]


class Executions:
    """Writes of the ``executions`` table (claims and closes group-committed by the database's writer)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._running_counts = SharedRead(self._count_running, watched="count of running executions")
        db.record_reads.append(self._running_counts)  # every fire waits for it: its lag is the records' lag

    def _duration_until(self, finished_at: datetime) -> ColumnElement[float]:
        """``finished_at - started_at`` in seconds, computed by the database for the row being updated."""
        return duration_between(self._db.dialect, literal(finished_at, UtcDateTime()))

    # -- executions --------------------------------------------------------------------------------------------

    async def insert_execution(self, execution: Execution) -> bool:
        # ON CONFLICT DO NOTHING against uq_executions_claim (partial: schedule / retry triggers only), group-committed
        # with the other claims and closes in flight; answered once durable.
        return await self._db.writes.insert(execution)

    async def insert_executions(self, executions: Sequence[Execution]) -> list[bool | Exception]:
        # Queued in one step: a burst of fires claims in one batch (or a few), not in one wake-up each.
        return await self._db.writes.insert_many(executions)

    async def count_running(self, *, other_than: tuple[str, int] | None = None) -> dict[str, int]:
        if other_than is not None:
            return await self._count_running(other_than)
        # Every fire asks (max_instances): concurrent callers share one query (see SharedRead).
        return dict(await self._running_counts())

    async def _count_running(self, other_than: tuple[str, int] | None = None) -> dict[str, int]:
        if self._db.dialect == "sqlite":
            # Asked for every burst of fires: one lane call instead of a transaction's hops.
            rows = await self._db.run_sqlite(functools.partial(_count_running_sqlite, other_than=other_than))
            return {job_id: int(n) for job_id, n in rows}
        stmt = select(executions.c.job_id, func.count()).where(IS_RUNNING).group_by(executions.c.job_id)
        if other_than is not None:
            c = executions.c
            # IS NOT DISTINCT FROM: a row without host or pid (written by hand) is nobody's and so counts.
            stmt = stmt.where(
                ~and_(c.host.is_not_distinct_from(other_than[0]), c.pid.is_not_distinct_from(other_than[1]))
            )
        async with self._db.tx() as conn:
            return {job_id: int(n) for job_id, n in await conn.execute(stmt)}

    async def write_progress(self, updates: Sequence[ProgressUpdate]) -> None:
        if not updates:
            return
        c = executions.c
        # One statement for every update (executemany): a None parameter keeps the column as it is.
        stmt = (
            update(executions)
            .where(c.id == bindparam("_id"), IS_RUNNING)
            .values(
                progress=func.coalesce(bindparam("_progress", type_=Float()), c.progress),
                progress_message=func.coalesce(
                    bindparam("_message", type_=c.progress_message.type), c.progress_message
                ),
                current_item=func.coalesce(bindparam("_item", type_=c.current_item.type), c.current_item),
                total_items=func.coalesce(bindparam("_total", type_=Integer()), c.total_items),
                processed_items=func.coalesce(bindparam("_processed", type_=Integer()), c.processed_items),
                updated_at=bindparam("_at", type_=UtcDateTime()),
            )
        )
        params = [
            {
                "_id": u.execution_id,
                "_progress": u.progress,
                "_message": u.message,
                "_item": u.current_item,
                "_total": u.total_items,
                "_processed": u.processed_items,
                "_at": u.at,
            }
            for u in updates
        ]
        await self._db.writes.run(lambda conn: conn.execute(stmt, params))

    async def heartbeat(self, execution_ids: Sequence[str], at: datetime) -> None:
        if not execution_ids:
            return

        async def beat(conn: AsyncConnection) -> None:
            for chunk in _chunks(execution_ids):
                await conn.execute(
                    update(executions).where(executions.c.id.in_(chunk), IS_RUNNING).values(heartbeat_at=at)
                )

        await self._db.writes.run(beat)

    async def request_cancel(self, execution_id: str, at: datetime) -> Execution:
        stmt = (
            update(executions)
            .where(executions.c.id == execution_id, IS_RUNNING)
            .values(cancel_requested=True, updated_at=at)
            .returning(*executions.c)
        )
        async with self._db.tx(write=True) as conn:
            row = (await conn.execute(stmt)).first()
            if row is not None:
                return _rows.to_execution(row)
            status = (await conn.execute(select(executions.c.status).where(executions.c.id == execution_id))).scalar()
        if status is None:
            raise ExecutionNotFound(execution_id)
        raise ExecutionNotRunning(execution_id, status)

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
        if not status.is_terminal:
            raise ValueError("close_execution needs a terminal status")
        values = {
            "status": status.value,
            "finished_at": finished_at,
            "updated_at": finished_at,
            "return_value": return_value,
            "error_message": error_message,
            "traceback": traceback,
            "retry_at": retry_at,
        }
        # Group-committed; the writer computes ``duration`` and touches only a record still running.
        return await self._db.writes.close(execution_id, values)

    async def close_executions(self, closes: Sequence[ExecutionClose]) -> list[bool | Exception]:
        if any(not close.status.is_terminal for close in closes):
            raise ValueError("close_executions needs terminal statuses")
        return await self._db.writes.close_many(
            [
                (
                    close.execution_id,
                    {
                        "status": close.status.value,
                        "finished_at": close.finished_at,
                        "updated_at": close.finished_at,
                        "return_value": close.return_value,
                        "error_message": close.error_message,
                        "traceback": close.traceback,
                        "retry_at": close.retry_at,
                    },
                )
                for close in closes
            ]
        )

    async def fail_executions(self, execution_ids: Sequence[str], *, finished_at: datetime, message: str) -> int:
        closed = 0
        if not execution_ids:
            return closed
        values = {
            "status": ExecutionStatus.FAILED.value,
            "finished_at": finished_at,
            "updated_at": finished_at,
            "duration": self._duration_until(finished_at),
            "error_message": message,
        }
        sqlite = self._db.dialect == "sqlite"
        counts = SqliteCloseCounts()
        async with self._db.tx(write=True) as conn:
            for chunk in _chunks(execution_ids):
                stmt = update(executions).where(executions.c.id.in_(chunk), IS_RUNNING).values(values)
                if not sqlite:  # PostgreSQL's counters are kept by its trigger
                    closed += (await conn.execute(stmt)).rowcount
                    continue
                closed_rows = stmt.returning(executions.c.job_id, SQLITE_STARTED_HOUR, executions.c.duration)
                for job_id, started_hour, duration in await conn.execute(closed_rows):
                    counts.add(job_id, started_hour, ExecutionStatus.FAILED.value, duration)
                    closed += 1
            for sql, counter_rows in counts.statements():
                await conn.exec_driver_sql(sql, counter_rows)
        return closed

    async def stale_executions(self, *, heartbeat_before: datetime) -> list[Execution]:
        last_sign = func.coalesce(executions.c.heartbeat_at, executions.c.started_at)
        stmt = (
            select(executions)
            .where(IS_RUNNING, last_sign < heartbeat_before)
            .order_by(executions.c.started_at, executions.c.id)
        )
        async with self._db.tx() as conn:
            return [_rows.to_execution(r) for r in await conn.execute(stmt)]

    async def delete_execution(self, execution_id: str) -> None:
        async with self._db.tx(write=True) as conn:
            status = (await conn.execute(select(executions.c.status).where(executions.c.id == execution_id))).scalar()
            if status is None:
                raise ExecutionNotFound(execution_id)
            if status == ExecutionStatus.RUNNING.value:
                raise ExecutionStillRunning(execution_id)
            await conn.execute(execution_logs.delete().where(execution_logs.c.execution_id == execution_id))
            await conn.execute(executions.delete().where(executions.c.id == execution_id, _NOT_RUNNING))

    async def prune_executions(self, *, finished_before: datetime) -> int:
        # In batches, each its own short transaction, so a large clean-up never holds SQLite's write lock for long.
        c = executions.c
        old = and_(
            _NOT_RUNNING,
            or_(c.finished_at < finished_before, and_(c.finished_at.is_(None), c.started_at < finished_before)),
        )
        pruned = 0
        while True:
            async with self._db.tx(write=True) as conn:
                ids = list((await conn.execute(select(c.id).where(old).limit(CHUNK))).scalars())
                if ids:
                    await conn.execute(execution_logs.delete().where(execution_logs.c.execution_id.in_(ids)))
                    await conn.execute(executions.delete().where(c.id.in_(ids)))
            pruned += len(ids)
            if len(ids) < CHUNK:
                break
        async with self._db.tx(write=True) as conn:  # the hours that no longer have executions
            await conn.execute(execution_hourly_counts.delete().where(execution_hourly_counts.c.n <= 0))
        return pruned

    # -- execution logs ----------------------------------------------------------------------------------------


def _count_running_sqlite(db: sqlite3.Connection, *, other_than: tuple[str, int] | None) -> list[tuple[str, int]]:
    # One statement in autocommit mode: it reads one snapshot, like the query in a transaction of its own.
    if other_than is None:
        return list(db.execute(SQLITE_COUNT_RUNNING).fetchall())
    return list(db.execute(SQLITE_COUNT_RUNNING_ELSEWHERE, other_than).fetchall())
