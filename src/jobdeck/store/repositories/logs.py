"""The bounded logs of runs: :class:`ExecutionLogs`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from jobdeck.models import LogLine
from jobdeck.store import _rows
from jobdeck.store.database import Database
from jobdeck.store.schema import execution_logs

__all__ = ["ExecutionLogs"]


class ExecutionLogs:
    """The ``execution_logs`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def append_log(self, lines: Sequence[LogLine]) -> None:
        if not lines:
            return
        rows = [
            {"execution_id": ln.execution_id, "seq": ln.seq, "at": ln.at, "level": ln.level, "message": ln.message}
            for ln in lines
        ]
        async with self._db.tx(write=True) as conn:
            # A line written twice (a retried flush) is kept once.
            await conn.execute(self._db.insert(execution_logs).on_conflict_do_nothing(), rows)

    async def read_log(self, execution_id: str, *, after: int = 0, limit: int = 200) -> list[LogLine]:
        stmt = select(execution_logs).where(execution_logs.c.execution_id == execution_id)
        if after > 0:
            stmt = stmt.where(execution_logs.c.seq > after).order_by(execution_logs.c.seq).limit(limit)
        else:
            stmt = stmt.order_by(execution_logs.c.seq.desc()).limit(limit)
        async with self._db.tx() as conn:
            lines = [_rows.to_log_line(r) for r in (await conn.execute(stmt)).mappings()]
        return lines if after > 0 else lines[::-1]

    async def trim_log(self, execution_id: str, *, keep_from_seq: int, note: str, at: datetime) -> None:
        c = execution_logs.c
        note_line = {"execution_id": execution_id, "seq": 0, "at": at, "level": "warning", "message": note}
        ins = self._db.insert(execution_logs).values(note_line)
        upsert = ins.on_conflict_do_update(
            index_elements=[c.execution_id, c.seq], set_={"message": note, "at": ins.excluded.at}
        )
        async with self._db.tx(write=True) as conn:
            await conn.execute(
                execution_logs.delete().where(c.execution_id == execution_id, c.seq > 0, c.seq < keep_from_seq)
            )
            await conn.execute(upsert)
