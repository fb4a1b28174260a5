"""The writer's batches on SQLite, handed to the driver in one call each.

SQLAlchemy Core processes every parameter of every row of an executemany through its generic machinery, and on
aiosqlite a multi-row insert with RETURNING goes through several driver calls, each a hop to the driver's thread: at
a thousand claims that costs several times what SQLite itself spends on them. Here the statement is compiled once by
SQLAlchemy (same SQL), each value goes through the column type's own bind processor (same conversions, e.g. aware
datetimes to jobdeck's fixed-width UTC text), and the rows reach the driver as plain tuples in one call.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from sqlalchemy import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement

from jobdeck.store.schema import executions

__all__ = ["RawSqlite"]

_Processor = Callable[[Any], Any] | None

_INSERT_COLUMNS = [column.name for column in executions.columns]


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
    """Compiled statements (kept by key) executed through the DB-API cursor of a SQLAlchemy connection."""

    def __init__(self) -> None:
        self._compiled: dict[Hashable, _Compiled] = {}
        self._insert_processors: list[tuple[str, _Processor]] | None = None

    def _compile(self, key: Hashable, statement: ClauseElement, dialect: Dialect, names: list[str]) -> _Compiled:
        compiled = self._compiled.get(key)
        if compiled is None:
            # column_keys: an INSERT names only the columns given, as SQLAlchemy's own execution would.
            sql: Any = statement.compile(dialect=dialect, column_keys=names)
            processors = []
            for position in compiled_names(sql):
                bind = sql.binds[position]
                processor = _processor(bind.type, dialect)
                if position in names:
                    processors.append((position, processor, False, None))
                else:  # a literal of the statement (e.g. a format string of the duration formula)
                    value = bind.effective_value
                    processors.append((position, None, True, value if processor is None else processor(value)))
            compiled = self._compiled[key] = _Compiled(sql.string, processors)
        return compiled

    async def executemany(
        self,
        conn: AsyncConnection,
        key: Hashable,
        statement: ClauseElement,
        params: Sequence[Mapping[str, Any]],
    ) -> None:
        """Run ``statement`` for every parameter set (all with the same names), in one driver call. The statement is
        compiled the first time ``key`` is seen with these names; later calls with that key must pass the same
        statement."""
        if not params:
            return
        names = list(params[0])
        compiled = self._compile((key, *names), statement, conn.dialect, names)
        await conn.exec_driver_sql(compiled.sql, [compiled.row(values) for values in params])

    async def insert_executions(self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """``INSERT … ON CONFLICT DO NOTHING RETURNING id`` of executions rows (every column given); the ids
        written."""
        if not rows:
            return []
        processors = self._insert_processors
        if processors is None:
            dialect = conn.dialect
            processors = self._insert_processors = [
                (name, _processor(executions.c[name].type, dialect)) for name in _INSERT_COLUMNS
            ]
        one = "(" + ", ".join("?" * len(processors)) + ")"
        sql = (
            f"INSERT INTO executions ({', '.join(_INSERT_COLUMNS)}) VALUES {', '.join([one] * len(rows))} "
            "ON CONFLICT DO NOTHING RETURNING id"
        )
        flat = [row[name] if proc is None else proc(row[name]) for row in rows for name, proc in processors]
        result = await conn.exec_driver_sql(sql, tuple(flat))
        return [str(found) for (found,) in result.all()]


def _processor(type_: Any, dialect: Dialect) -> _Processor:
    processor: _Processor = type_.dialect_impl(dialect).bind_processor(dialect)
    return processor


def compiled_names(statement: Any) -> list[str]:
    """The bind parameter names of a compiled qmark statement, in the order of its placeholders."""
    names = statement.positiontup
    if names is None:
        raise ValueError("not a positional statement")
    return list(names)
