"""What jobdeck keeps about each job besides its runs: :class:`Jobs` (metadata, idempotency keys)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select

from jobdeck.models import JobMetadata
from jobdeck.store import _rows
from jobdeck.store._shared_read import SharedRead
from jobdeck.store.database import Database
from jobdeck.store.schema import idempotency_keys, job_metadata

__all__ = ["METADATA_TTL", "Jobs"]

METADATA_TTL = 1.0
"""Seconds a job-metadata read is reused. Writes through this store drop it at once; the bound covers writes
of other processes on the same database (another replica, ``jobdeck`` CLI commands)."""


class Jobs:
    """The ``job_metadata`` and ``idempotency_keys`` tables."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # Every job list and every signed-in request read the metadata: concurrent callers share one query.
        self._metadata_read = SharedRead(self._read_metadata)
        self._metadata_cache: tuple[float, dict[str, JobMetadata]] | None = None
        self._metadata_generation = 0
        # A job list during an outage answers 503 like every other read, not from a cache of before it.
        db.on_lost(self._forget_metadata)

    async def job_metadata(self) -> dict[str, JobMetadata]:
        # Every job list reads it; it changes only when an operator (or a configuration change) writes it.
        started = time.monotonic()
        cached = self._metadata_cache
        if cached is not None and started < cached[0]:
            return dict(cached[1])
        generation = self._metadata_generation
        metadata: dict[str, JobMetadata] = await self._metadata_read()
        if generation == self._metadata_generation:  # no write of ours went in while it was read
            self._metadata_cache = (started + METADATA_TTL, metadata)
        return dict(metadata)

    def _forget_metadata(self) -> None:
        self._metadata_cache = None
        self._metadata_generation += 1

    async def seed_metadata(self, entries: Sequence[JobMetadata], *, at: datetime) -> None:
        self._forget_metadata()
        try:
            await self._seed_metadata(entries, at=at)
        finally:
            self._forget_metadata()

    async def update_metadata(
        self, job_id: str, *, display_name: str | None, description: str | None, at: datetime, actor: str
    ) -> JobMetadata:
        self._forget_metadata()
        try:
            return await self._update_metadata(
                job_id, display_name=display_name, description=description, at=at, actor=actor
            )
        finally:
            self._forget_metadata()

    async def _read_metadata(self) -> dict[str, JobMetadata]:
        async with self._db.tx() as conn:
            rows = (await conn.execute(select(job_metadata))).mappings()
            return {r["job_id"]: _rows.to_job_metadata(r) for r in rows}

    async def _seed_metadata(self, entries: Sequence[JobMetadata], *, at: datetime) -> None:
        if not entries:
            return
        ins = self._db.insert(job_metadata)
        c = job_metadata.c
        stmt = ins.on_conflict_do_update(
            index_elements=[c.job_id],
            set_={
                "display_name": ins.excluded.display_name,
                "description": ins.excluded.description,
                "updated_at": ins.excluded.updated_at,
            },
            # Only rows that still mirror the configuration, and only when the configuration changed.
            where=and_(
                c.updated_by.is_(None),
                or_(
                    c.display_name.is_distinct_from(ins.excluded.display_name),
                    c.description.is_distinct_from(ins.excluded.description),
                ),
            ),
        )
        rows = [
            {
                "job_id": e.job_id,
                "display_name": e.display_name,
                "description": e.description,
                "updated_at": at,
                "updated_by": None,
            }
            for e in entries
        ]
        async with self._db.tx(write=True) as conn:
            await conn.execute(stmt, rows)

    async def _update_metadata(
        self,
        job_id: str,
        *,
        display_name: str | None,
        description: str | None,
        at: datetime,
        actor: str,
    ) -> JobMetadata:
        # A cleared field is stored as "" (not NULL), so readers can tell "cleared by an operator" from "never set"
        # and do not fall back to the configured value.
        ins = self._db.insert(job_metadata).values(
            job_id=job_id, display_name=display_name, description=description, updated_at=at, updated_by=actor
        )
        changes: dict[str, Any] = {"updated_at": at, "updated_by": actor}
        if display_name is not None:
            changes["display_name"] = display_name
        if description is not None:
            changes["description"] = description
        stmt = ins.on_conflict_do_update(index_elements=[job_metadata.c.job_id], set_=changes).returning(
            *job_metadata.c
        )
        async with self._db.tx(write=True) as conn:
            row = (await conn.execute(stmt)).mappings().one()
        return _rows.to_job_metadata(row)

    async def claim_idempotency_key(
        self, job_id: str, key: str, execution_id: str, *, at: datetime, not_before: datetime
    ) -> str:
        c = idempotency_keys.c
        ins = self._db.insert(idempotency_keys).values(job_id=job_id, key=key, execution_id=execution_id, created_at=at)
        stmt = ins.on_conflict_do_update(
            index_elements=[c.job_id, c.key],
            set_={"execution_id": execution_id, "created_at": at},
            where=c.created_at < not_before,  # an expired key is taken over
        ).returning(c.execution_id)
        async with self._db.tx(write=True) as conn:
            won = (await conn.execute(stmt)).scalar()
            if won is not None:
                return str(won)
            current = select(c.execution_id).where(c.job_id == job_id, c.key == key)
            return str((await conn.execute(current)).scalar_one())

    async def release_idempotency_key(self, job_id: str, key: str, execution_id: str) -> None:
        c = idempotency_keys.c
        async with self._db.tx(write=True) as conn:
            await conn.execute(
                idempotency_keys.delete().where(and_(c.job_id == job_id, c.key == key, c.execution_id == execution_id))
            )

    async def prune_idempotency_keys(self, *, before: datetime) -> int:
        async with self._db.tx(write=True) as conn:
            result = await conn.execute(idempotency_keys.delete().where(idempotency_keys.c.created_at < before))
            return int(result.rowcount)
