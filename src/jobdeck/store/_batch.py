"""Applying one batch of the store writer's writes in one transaction (see ``_writer``): the write's shape, and
claims (``INSERT … ON CONFLICT DO NOTHING``), closes (running rows only; SQLite's own close counting), merges and
work, each kind run together in submission order.

:class:`BatchApply` is a part of :class:`~jobdeck.store._writer.GroupCommit` (which holds one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Integer, bindparam, cast, extract, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from jobdeck.models import Execution
from jobdeck.store._counts import SQLITE_CLOSED_ROWS, SqliteCloseCounts, sqlite_closed_after
from jobdeck.store._raw import merge_layers
from jobdeck.store._rows import execution_values
from jobdeck.store.schema import IS_RUNNING, UtcDateTime, executions

__all__ = ["CHUNK", "BatchApply", "Work", "claim_key", "duration_between"]

CHUNK = 500

Work = Callable[[AsyncConnection], Awaitable[Any]]


def duration_between(dialect: str, finished: ColumnElement[Any]) -> ColumnElement[float]:
    """``finished - started_at`` in seconds, computed by the database for the row being updated."""
    started = executions.c.started_at
    if dialect == "postgresql":
        return cast(extract("epoch", finished - started), Float)
    # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff": whole seconds from strftime('%s') plus the microsecond digits,
    # exact where julianday() would round to milliseconds.
    whole = cast(func.strftime("%s", func.substr(finished, 1, 19)), Integer) - cast(
        func.strftime("%s", func.substr(started, 1, 19)), Integer
    )
    micros = cast(func.substr(finished, 21), Integer) - cast(func.substr(started, 21), Integer)
    return cast(whole, Float) + micros / 1_000_000.0


@dataclass(eq=False)
class _Write:
    kind: str
    """``insert`` (record: the execution; key: its id), ``close`` (values: the columns to set; key: the id),
    ``merge`` or ``work``."""
    future: asyncio.Future[Any]
    values: dict[str, Any] = field(default_factory=dict)
    record: Execution | None = None
    key: str = ""
    work: Work | None = None
    statement: Any = None
    """``merge``: the statement executed (many at once) with ``values`` as parameters."""
    group: str = ""
    rows: list[tuple[str, dict[str, Any]]] | None = None
    """``merge`` of several ``(key, params)`` at once (instead of ``key`` / ``values``)."""
    spooled: bool = False
    """Also kept in the spool file (held past the memory bound, or replayed from a spool)."""


class BatchApply:
    """Applies batches of writes through SQLAlchemy, in ``dialect``'s SQL."""

    def __init__(self, dialect: str) -> None:
        self._dialect = dialect

    async def apply(self, conn: AsyncConnection, batch: Sequence[_Write]) -> list[Any]:
        """Apply ``batch`` inside the transaction of ``conn``: merges first, the rest in order; each write's result
        (None for a merge)."""
        merges = [w for w in batch if w.kind == "merge"]
        if merges:
            await self._merges(conn, merges)
        ordered = iter(await self._ordered(conn, [w for w in batch if w.kind != "merge"]))
        return [None if w.kind == "merge" else next(ordered) for w in batch]

    async def _merges(self, conn: AsyncConnection, merges: Sequence[_Write]) -> None:
        groups: dict[str, list[_Write]] = {}
        for write in merges:
            groups.setdefault(write.group, []).append(write)
        for writes in groups.values():
            for layer in merge_layers(writes):
                await conn.execute(writes[0].statement, layer)

    async def _ordered(self, conn: AsyncConnection, batch: Sequence[_Write]) -> list[Any]:
        results: list[Any] = []
        i = 0
        while i < len(batch):
            kind = batch[i].kind
            j = i + 1
            if kind != "work":
                while j < len(batch) and batch[j].kind == kind:
                    j += 1
            run = batch[i:j]
            if kind == "insert":
                results += await self._inserts(conn, run)
            elif kind == "close":
                results += await self._closes(conn, run)
            else:
                work = run[0].work
                assert work is not None
                results.append(await work(conn))
            i = j
        return results

    async def _inserts(self, conn: AsyncConnection, run: Sequence[_Write]) -> list[bool]:
        # ON CONFLICT DO NOTHING against uq_executions_claim; RETURNING tells which rows were written.
        insert = postgresql.insert(executions) if self._dialect == "postgresql" else sqlite.insert(executions)
        stmt = insert.on_conflict_do_nothing().returning(executions.c.id)
        written: set[str] = set()
        # In claim-key order (stable: equal keys keep their submission order, so the first claim still wins):
        # replicas inserting the same fires then take the unique index's locks in the same order.
        for chunk in _chunks(sorted(run, key=claim_key)):
            params = [execution_values(_record(w)) for w in chunk]
            written.update((await conn.execute(stmt, params)).scalars())
        return [w.key in written for w in run]

    async def _closes(self, conn: AsyncConnection, run: Sequence[_Write]) -> list[bool]:
        c = executions.c
        sqlite = self._dialect == "sqlite"
        # id → its counter keys (job, hour) and start on SQLite, where the store counts its closes; None on PostgreSQL.
        running: dict[str, tuple[str, str, str] | None] = {}
        for chunk in _chunks(run):
            found = c.id.in_([w.key for w in chunk]), IS_RUNNING
            if sqlite:
                query = select(text(SQLITE_CLOSED_ROWS)).select_from(executions).where(*found)
                running.update(
                    (found_id, (job_id, hour, started)) for found_id, job_id, hour, started in await conn.execute(query)
                )
            else:
                query = select(c.id).where(*found).with_for_update()
                running.update(dict.fromkeys((await conn.execute(query)).scalars()))
        results = []
        todo: list[_Write] = []
        counts = SqliteCloseCounts()
        for write in run:
            ok = write.key in running
            if ok:
                counter_keys = running.pop(write.key)  # a second close of one record in a batch finds it closed
                todo.append(write)
                if counter_keys is not None:
                    job_id, hour, started_at = counter_keys
                    duration = sqlite_closed_after(started_at, write.values["finished_at"])
                    counts.add(job_id, hour, write.values["status"], duration)
            results.append(ok)
        # In status order: each close moves counter rows of its status (per job, per hour), and replicas that close
        # in one order take the hourly rows' locks without waiting on each other in a cycle.
        todo.sort(key=_counter_key)
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for write in todo:
            groups.setdefault(tuple(sorted(write.values)), []).append(
                {"_id": write.key, **{f"_v_{k}": v for k, v in write.values.items()}}
            )
        for keys, params in groups.items():
            await conn.execute(self.close_statement(keys), params)
        if sqlite:  # PostgreSQL's counters are kept by its trigger
            for sql, counter_rows in counts.statements():
                await conn.exec_driver_sql(sql, counter_rows)
        return results

    def close_statement(self, keys: tuple[str, ...]) -> Any:
        """The UPDATE of a close setting the columns ``keys`` (parameters ``_id`` and ``_v_<column>``)."""
        c = executions.c
        values: dict[str, Any] = {k: bindparam(f"_v_{k}", type_=c[k].type) for k in keys}
        values["duration"] = duration_between(self._dialect, bindparam("_v_finished_at", type_=UtcDateTime()))
        return update(executions).where(c.id == bindparam("_id"), IS_RUNNING).values(values)


def _record(write: _Write) -> Execution:
    assert write.record is not None, "an insert write carries its record"
    return write.record


def claim_key(write: _Write) -> tuple[str, datetime, int]:
    # The unique claim index's own order (aware datetimes compare as instants).
    record = _record(write)
    return (record.job_id, record.scheduled_time, record.attempt)


def _counter_key(write: _Write) -> tuple[str, str]:
    return (str(write.values.get("status")), write.key)


def _chunks(run: Sequence[_Write]) -> list[Sequence[_Write]]:
    return [run[i : i + CHUNK] for i in range(0, len(run), CHUNK)]
