"""The audit trail: :class:`AuditTrail`."""

from __future__ import annotations

import functools
import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.sql.elements import ColumnElement

from jobdeck.models import AuditEntry, AuditQuery, Page
from jobdeck.store import _rows
from jobdeck.store.database import Database, page_total
from jobdeck.store.schema import SQLITE_FORMAT, audit

__all__ = ["AuditTrail"]


class AuditTrail:
    """The ``audit`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def append_audit(self, entry: AuditEntry) -> None:
        async with self._db.tx(write=True) as conn:
            await conn.execute(audit.insert().values(_rows.audit_values(entry)))

    async def roll_up_audit(self, entry: AuditEntry, *, count: int) -> None:
        values = _rows.audit_values(entry)
        values["details"] = {**values["details"], "count": count}
        if self._db.dialect == "sqlite":
            # One upsert in one lane call: a transaction through the loop would hold the write lock across its turns
            # while the engine's claims wait (a login flood; see docs/performance.md).
            await self._db.run_sqlite(functools.partial(_sqlite_roll_up, values))
            self._db.wrote()
            return
        # PostgreSQL: insert, or add to the row under its lock (FOR UPDATE), so concurrent roll-ups add up.
        insert = self._db.insert(audit).values(values).on_conflict_do_nothing(index_elements=[audit.c.id])
        async with self._db.tx(write=True) as conn:
            if (await conn.execute(insert.returning(audit.c.id))).first() is not None:
                return
            stmt = select(audit.c.details).where(audit.c.id == entry.id).with_for_update()
            row = (await conn.execute(stmt)).one()
            details = {**(row[0] or {}), **entry.details}
            details["count"] = int((row[0] or {}).get("count", 0)) + count
            details["first"] = (row[0] or {}).get("first", details.get("first"))
            changes = {"timestamp": entry.timestamp, "error_message": entry.error_message, "details": details}
            await conn.execute(update(audit).where(audit.c.id == entry.id).values(changes))

    async def prune_audit(self, *, before: datetime) -> int:
        async with self._db.tx(write=True) as conn:
            result = await conn.execute(delete(audit).where(audit.c.timestamp < before))
        return int(result.rowcount or 0)

    async def list_audit(self, query: AuditQuery) -> Page[AuditEntry]:
        conditions: list[ColumnElement[bool]] = []
        if query.job_id is not None:
            conditions.append(audit.c.job_id == query.job_id)
        if query.status is not None:
            conditions.append(audit.c.status == query.status.value)
        if query.action is not None:
            conditions.append(audit.c.action == str(query.action))
        page = (
            select(audit)
            .where(*conditions)
            .order_by(audit.c.timestamp.desc(), audit.c.id.desc())
            .limit(query.limit)
            .offset(query.offset)
        )
        async with self._db.tx() as conn:
            rows = (await conn.execute(page)).mappings().all()
            total = page_total(query.offset, query.limit, len(rows))
            if total is None:
                count = select(func.count()).select_from(audit).where(*conditions)
                total = int((await conn.execute(count)).scalar_one())
        return Page(items=[_rows.to_audit(r) for r in rows], total=total, limit=query.limit, offset=query.offset)


_SQLITE_ROLL_UP = """
    INSERT INTO audit (id, timestamp, actor, action, status, job_id, execution_id, error_message, details)
    VALUES (:id, :timestamp, :actor, :action, :status, :job_id, :execution_id, :error_message, :details)
    ON CONFLICT (id) DO UPDATE SET
        timestamp = excluded.timestamp,
        error_message = excluded.error_message,
        details = json_set(
            excluded.details,
            '$.count', coalesce(json_extract(audit.details, '$.count'), 0) + json_extract(excluded.details, '$.count'),
            '$.first', coalesce(json_extract(audit.details, '$.first'), json_extract(excluded.details, '$.first'))
        )
"""


def _sqlite_roll_up(values: dict[str, Any], db: sqlite3.Connection) -> None:
    row = {
        **values,
        "timestamp": values["timestamp"].astimezone(UTC).strftime(SQLITE_FORMAT),
        "details": json.dumps(values["details"], default=str, separators=(",", ":"), ensure_ascii=False),
    }
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(_SQLITE_ROLL_UP, row)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
