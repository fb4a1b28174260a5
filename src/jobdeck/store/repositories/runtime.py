"""The operators' steering of jobs and the scheduler's fire marks: :class:`RuntimeState`."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from jobdeck.models import JobState
from jobdeck.store import _rows
from jobdeck.store.database import Database
from jobdeck.store.schema import jobs_state

__all__ = ["RuntimeState"]


class RuntimeState:
    """The ``jobs_state`` table: pauses, schedule overrides, the last fire time of each job."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def job_states(self) -> dict[str, JobState]:
        async with self._db.tx() as conn:
            return {r["job_id"]: _rows.to_job_state(r) for r in (await conn.execute(select(jobs_state))).mappings()}

    async def _upsert_state(self, job_id: str, fields: dict[str, Any], *, at: datetime, actor: str) -> None:
        ins = self._db.insert(jobs_state).values({"job_id": job_id, **fields, "updated_at": at, "updated_by": actor})
        stmt = ins.on_conflict_do_update(
            index_elements=[jobs_state.c.job_id],
            set_={**fields, "updated_at": at, "updated_by": actor},
        )
        async with self._db.tx(write=True) as conn:
            await conn.execute(stmt)

    async def set_paused(
        self, job_id: str, paused: bool, *, at: datetime, actor: str, until: datetime | None = None
    ) -> None:
        fields = {"paused": paused, "paused_until": until if paused else None}
        await self._upsert_state(job_id, fields, at=at, actor=actor)

    async def set_schedule_override(self, job_id: str, expression: str | None, *, at: datetime, actor: str) -> None:
        await self._upsert_state(job_id, {"schedule_override": expression}, at=at, actor=actor)

    async def record_fire(self, job_id: str, fire_time: datetime) -> None:
        # Group-committed as one executemany per batch (the mark keeps the latest time, so order does not matter):
        # a transaction per fire would queue for SQLite's write lock behind the writer's batches.
        await self._db.writes.merge(
            "record_fire", self._fire_mark, {"job_id": job_id, "last_fire_time": fire_time}, key=job_id
        )

    async def record_fires(self, fires: Sequence[tuple[str, datetime]]) -> None:
        # The latest fire of each job only: the mark keeps the latest anyway.
        latest: dict[str, datetime] = {}
        for job_id, fire_time in fires:
            if job_id not in latest or fire_time > latest[job_id]:
                latest[job_id] = fire_time
        marks = [(job_id, {"job_id": job_id, "last_fire_time": fire_time}) for job_id, fire_time in latest.items()]
        await self._db.writes.merge_many("record_fire", self._fire_mark, marks)

    @functools.cached_property
    def _fire_mark(self) -> Any:
        # Built once: constructing the upsert (its ``excluded`` alias copies every column) costs more than running it.
        ins = self._db.insert(jobs_state)
        last = jobs_state.c.last_fire_time
        return ins.on_conflict_do_update(
            index_elements=[jobs_state.c.job_id],
            set_={"last_fire_time": ins.excluded.last_fire_time},
            where=or_(last.is_(None), last < ins.excluded.last_fire_time),
        )
