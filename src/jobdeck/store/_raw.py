"""The writer's batches on SQLite, done in one call on the SQLite lane (see ``_lane``).

A batch is planned on the loop (statements compiled once by SQLAlchemy, values converted by the column types' own
bind processors, so SQL and stored values are the same) and executed by one function: BEGIN IMMEDIATE, the
statements as ``executemany`` / multi-row inserts of plain tuples, COMMIT. Why: docs/performance.md, "The store".
"""

from __future__ import annotations

import functools
import itertools
import operator
import sqlite3
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Boolean, Dialect
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.sql import ClauseElement

from jobdeck.models import Execution
from jobdeck.store._counts import SQLITE_CLOSED_ROWS, SqliteCloseCounts, sqlite_closed_after
from jobdeck.store._rows import execution_row
from jobdeck.store.schema import UtcDateTime, executions

__all__ = ["RawSqlite", "merge_layers"]

_Processor = Callable[[Any], Any] | None
_Step = Callable[[sqlite3.Connection], None]

_COLUMNS = [column.name for column in executions.columns]
_CHUNK = 500
"""Ids per ``IN (…)``."""
_MAX_PARAMETERS = 14_000
"""Parameters per multi-row insert: below SQLite's limit (32,766 since 3.32)."""
_NO_VALUES = (None,) * len(_COLUMNS)


class Write(Protocol):
    """What the plan reads of a queued write (``jobdeck.store._batch._Write``)."""

    kind: str
    values: dict[str, Any]
    record: Execution | None
    key: str
    statement: Any
    group: str
    rows: list[tuple[str, dict[str, Any]]] | None


class _Compiled:
    __slots__ = ("processors", "sql")

    def __init__(self, sql: str, processors: list[tuple[str, _Processor, bool, Any]]) -> None:
        self.sql = sql
        self.processors = processors
        """Per placeholder: the parameter's name, its bind processor, and whether it is a constant of the
        statement itself (a bound literal, with its already processed value)."""

    def row(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(
            constant if fixed else values[name] if proc is None else proc(values[name])
            for name, proc, fixed, constant in self.processors
        )


class RawSqlite:
    """Plans write batches for one SQLite store (compiled statements are kept, by key)."""

    def __init__(self) -> None:
        self._dialect: Dialect = SQLiteDialect_aiosqlite()
        self._compiled: dict[Hashable, _Compiled] = {}
        processors = [_processor(executions.c[name].type, self._dialect) for name in _COLUMNS]
        self._insert_converted = [(i, processor) for i, processor in enumerate(processors) if processor is not None]
        """Positions of a claim row converted by their column type (the rest go to the driver as they are)."""
        self._insert_sql: dict[tuple[tuple[bool, ...], int], str] = {}

    def plan(
        self,
        batch: Sequence[Write],
        close_statement: Callable[[tuple[str, ...]], ClauseElement],
        claim_order: Callable[[Any], Any],
    ) -> Callable[[sqlite3.Connection], list[Any]]:
        """The function applying ``batch`` in one transaction; it returns each write's result, in order (None for a
        merge, True / False for a claim or a close). Same order and semantics as the writer's own ``_apply``:
        merges first (same-key merges in submission order), then the other writes in submission order."""
        results: list[Any] = [None] * len(batch)
        steps: list[_Step] = []
        merges: dict[str, list[Write]] = {}
        for write in batch:
            if write.kind == "merge":
                merges.setdefault(write.group, []).append(write)
        for group, writes in merges.items():
            for layer in merge_layers(writes):
                names = list(layer[0])
                compiled = self._statement(
                    ("merge", group, *names), names, functools.partial(_same, writes[0].statement)
                )
                steps.append(_many(compiled.sql, [compiled.row(values) for values in layer]))
        ordered = [(i, w) for i, w in enumerate(batch) if w.kind != "merge"]
        start = 0
        while start < len(ordered):
            kind = ordered[start][1].kind
            end = start + 1
            while end < len(ordered) and ordered[end][1].kind == kind:
                end += 1
            run = ordered[start:end]
            if kind == "insert":
                steps += self._claims(run, results, claim_order)
            elif kind == "close":
                steps.append(self._closes(run, results, close_statement))
            else:
                raise ValueError(f"cannot plan a {kind!r} write")
            start = end

        def apply(db: sqlite3.Connection) -> list[Any]:
            db.execute("BEGIN IMMEDIATE")
            try:
                for step in steps:
                    step(db)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            return results

        return apply

    def _claims(
        self, run: list[tuple[int, Write]], results: list[Any], claim_order: Callable[[Any], Any]
    ) -> list[_Step]:
        # In claim-key order, as the writer does (replicas then take the unique index's locks in the same order).
        # Only the columns a row sets are named: a claim's row is mostly NULLs, and a NULL bound and stored costs
        # about as much as a value (a burst's claims took half the time naming the 14 columns they set, not 28).
        # (No column of executions has a default: one not named is NULL.) Rows setting the same columns — all of a
        # burst's, usually — go in one multi-row insert.
        ordered = sorted(run, key=lambda item: claim_order(item[1]))
        by_columns: dict[tuple[bool, ...], list[tuple[int, Write, list[Any]]]] = {}
        for index, write in ordered:
            assert write.record is not None, "an insert write carries its record"
            row = self._insert_row(write.record)
            by_columns.setdefault(tuple(map(operator.is_not, row, _NO_VALUES)), []).append((index, write, row))
        steps: list[_Step] = []
        for present, rows in by_columns.items():
            names = list(itertools.compress(_COLUMNS, present))
            per_statement = _MAX_PARAMETERS // len(names)
            for offset in range(0, len(rows), per_statement):
                chunk = rows[offset : offset + per_statement]
                sql = self._insert_sql.get((present, len(chunk)))
                if sql is None:
                    one = "(" + ", ".join("?" * len(names)) + ")"
                    sql = self._insert_sql[present, len(chunk)] = (
                        f"INSERT INTO executions ({', '.join(names)}) VALUES {', '.join([one] * len(chunk))} "
                        "ON CONFLICT DO NOTHING"
                    )
                flat: list[Any] = []
                for _, _, row in chunk:
                    flat += itertools.compress(row, present)
                keys = [(index, write.key) for index, write, _ in chunk]
                steps.append(functools.partial(_claim, sql, flat, keys, results))
        return steps

    def _insert_row(self, record: Execution) -> list[Any]:
        row = execution_row(record)
        for i, processor in self._insert_converted:
            value = row[i]
            if value is not None:  # a claim's row is mostly NULLs: their processors would return None
                row[i] = processor(value)
        return row

    def _closes(
        self,
        run: list[tuple[int, Write]],
        results: list[Any],
        close_statement: Callable[[tuple[str, ...]], ClauseElement],
    ) -> _Step:
        planned = []
        for index, write in run:
            keys = tuple(sorted(write.values))
            names = ["_id", *(f"_v_{k}" for k in keys)]
            compiled = self._statement(("close", keys), names, functools.partial(close_statement, keys))
            params = {"_id": write.key, **{f"_v_{k}": v for k, v in write.values.items()}}
            values = write.values
            planned.append(
                (index, write.key, values["status"], values["finished_at"], compiled.sql, compiled.row(params))
            )
        ids = [key for _, key, _, _, _, _ in planned]

        def step(db: sqlite3.Connection) -> None:
            running: dict[str, tuple[str, str, str]] = {}
            for offset in range(0, len(ids), _CHUNK):
                chunk = ids[offset : offset + _CHUNK]
                marks = ", ".join("?" * len(chunk))
                found = db.execute(
                    f"SELECT {SQLITE_CLOSED_ROWS} FROM executions WHERE id IN ({marks}) AND status = 'running'", chunk
                )
                for found_id, job_id, hour, started_at in found.fetchall():
                    running[str(found_id)] = (job_id, hour, started_at)
            updates: dict[str, list[tuple[Any, ...]]] = {}
            counts = SqliteCloseCounts()
            for index, key, status, finished_at, sql, row in planned:
                # pop: a second close of the same record in this batch finds it closed
                keys = running.pop(key, None)
                results[index] = keys is not None
                if keys is not None:
                    updates.setdefault(sql, []).append(row)
                    counts.add(keys[0], keys[1], status, sqlite_closed_after(keys[2], finished_at))
            for sql, rows in updates.items():
                db.executemany(sql, rows)
            for sql, counter_rows in counts.statements():
                db.executemany(sql, counter_rows)

        return step

    def _statement(self, key: Hashable, names: list[str], build: Callable[[], ClauseElement]) -> _Compiled:
        """The statement ``build()`` compiled for parameters ``names`` (built and compiled once per ``key``)."""
        compiled = self._compiled.get(key)
        if compiled is None:
            # column_keys: an INSERT names only the columns given, as SQLAlchemy's own execution would.
            sql: Any = build().compile(dialect=self._dialect, column_keys=names)
            processors: list[tuple[str, _Processor, bool, Any]] = []
            for name in sql.positiontup:
                bind = sql.binds[name]
                processor = _processor(bind.type, self._dialect)
                if name in names:
                    processors.append((name, processor, False, None))
                else:  # a literal of the statement (e.g. a format string of the duration formula)
                    value = bind.effective_value
                    processors.append((name, None, True, value if processor is None else processor(value)))
            compiled = self._compiled[key] = _Compiled(sql.string, processors)
        return compiled


def _claim(sql: str, flat: list[Any], keys: list[tuple[int, str]], results: list[Any], db: sqlite3.Connection) -> None:
    # Not RETURNING id (a step, and a GIL hand-over, per row: see docs/performance.md): all written when the row
    # count says so; else a look at which ids are in the table (a new id is there only if its own insert won).
    if db.execute(sql, flat).rowcount == len(keys):
        for index, _ in keys:
            results[index] = True
        return
    ids = [key for _, key in keys]
    found = db.execute(f"SELECT id FROM executions WHERE id IN ({', '.join('?' * len(ids))})", ids)
    written = {str(found_id) for (found_id,) in found.fetchall()}
    for index, key in keys:
        results[index] = key in written


def _same(statement: ClauseElement) -> ClauseElement:
    return statement


def _many(sql: str, rows: list[tuple[Any, ...]]) -> _Step:
    def step(db: sqlite3.Connection) -> None:
        db.executemany(sql, rows)

    return step


def merge_layers(writes: Sequence[Write]) -> list[list[dict[str, Any]]]:
    """The parameter sets of merge writes in layers in which every key appears once (each layer one executemany):
    same-key parameter sets keep their submission order."""
    layers: list[list[dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for write in writes:
        for key, values in write.rows if write.rows is not None else ((write.key, write.values),):
            depth = seen.get(key, 0)
            seen[key] = depth + 1
            if depth == len(layers):
                layers.append([])
            layers[depth].append(values)
    return layers


def _processor(type_: Any, dialect: Dialect) -> _Processor:
    if isinstance(type_, Boolean):
        return None  # sqlite3 binds a bool as the integer 1 / 0, what SQLAlchemy's processor would make of it
    processor: _Processor = type_.dialect_impl(dialect).bind_processor(dialect)
    if processor is None:
        return None
    if isinstance(type_, UtcDateTime):
        return _LastOf(processor)
    inner = processor
    return lambda value: None if value is None else inner(value)


class _LastOf:
    """A timestamp processor remembering its last conversion: the records of a burst share their instants (the
    fire time, the start), and formatting one costs more than the rest of its row. Equal aware datetimes are the
    same instant, so they convert to the same UTC text whatever their objects or time zones (a naive value is
    never equal to the aware one remembered, and goes to the processor, which refuses it)."""

    __slots__ = ("_processor", "_result", "_value")

    def __init__(self, processor: Callable[[Any], Any]) -> None:
        self._processor = processor
        self._value: Any = None
        self._result: Any = None

    def __call__(self, value: Any) -> Any:
        if value is None:
            return None
        if value is not self._value and value != self._value:
            self._result = self._processor(value)
            self._value = value
        return self._result
