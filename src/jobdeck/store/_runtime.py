"""The job runtime's part of :class:`~jobdeck.store.sql.SqlStore`: fire marks, retries, log bounds, idempotency keys."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, or_, select

from jobdeck.errors import ExecutionNotFound
from jobdeck.models import Execution, ExecutionStatus
from jobdeck.store import _rows
from jobdeck.store._jobs import JobsStore
from jobdeck.store.schema import execution_logs, executions, idempotency_keys, jobs_state

__all__ = ["RuntimeStore"]

_MAX_CHAIN = 1000
"""A safety bound on how far :meth:`RuntimeStore.retry_chain` follows links."""


class RuntimeStore(JobsStore):
    # -- fire marks ----------------------------------------------------------------------------------------------

    async def record_fire(self, job_id: str, fire_time: datetime) -> None:
        # Every fire writes this: group-committed, the fires of a batch in one executemany (keeping the latest time
        # whatever the order, it may run before the batch's claims). A transaction per fire would queue for SQLite's
        # write lock behind the writer's batches, and a burst of fires would time out on it.
        await self._writes.merge(
            "record_fire", self._fire_mark, {"job_id": job_id, "last_fire_time": fire_time}, key=job_id
        )

    async def record_fires(self, fires: Sequence[tuple[str, datetime]]) -> None:
        # The latest fire of each job only: the mark keeps the latest anyway.
        latest: dict[str, datetime] = {}
        for job_id, fire_time in fires:
            if job_id not in latest or fire_time > latest[job_id]:
                latest[job_id] = fire_time
        marks = [(job_id, {"job_id": job_id, "last_fire_time": fire_time}) for job_id, fire_time in latest.items()]
        await self._writes.merge_many("record_fire", self._fire_mark, marks)

    @functools.cached_property
    def _fire_mark(self) -> Any:
        # Built once: constructing the upsert (its ``excluded`` alias copies every column) costs more than running it.
        ins = self._insert(jobs_state)
        last = jobs_state.c.last_fire_time
        return ins.on_conflict_do_update(
            index_elements=[jobs_state.c.job_id],
            set_={"last_fire_time": ins.excluded.last_fire_time},
            where=or_(last.is_(None), last < ins.excluded.last_fire_time),
        )

    # -- retries -------------------------------------------------------------------------------------------------

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
        async with self._tx() as conn:
            return [_rows.to_execution(r) for r in await conn.execute(stmt)]

    async def retry_chain(self, execution_id: str) -> list[Execution]:
        async with self._tx() as conn:
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

    # -- log bounds ----------------------------------------------------------------------------------------------

    async def trim_log(self, execution_id: str, *, keep_from_seq: int, note: str, at: datetime) -> None:
        c = execution_logs.c
        note_line = {"execution_id": execution_id, "seq": 0, "at": at, "level": "warning", "message": note}
        ins = self._insert(execution_logs).values(note_line)
        upsert = ins.on_conflict_do_update(
            index_elements=[c.execution_id, c.seq], set_={"message": note, "at": ins.excluded.at}
        )
        async with self._tx(write=True) as conn:
            await conn.execute(
                execution_logs.delete().where(c.execution_id == execution_id, c.seq > 0, c.seq < keep_from_seq)
            )
            await conn.execute(upsert)

    # -- idempotency keys ----------------------------------------------------------------------------------------

    async def claim_idempotency_key(
        self, job_id: str, key: str, execution_id: str, *, at: datetime, not_before: datetime
    ) -> str:
        c = idempotency_keys.c
        ins = self._insert(idempotency_keys).values(job_id=job_id, key=key, execution_id=execution_id, created_at=at)
        stmt = ins.on_conflict_do_update(
            index_elements=[c.job_id, c.key],
            set_={"execution_id": execution_id, "created_at": at},
            where=c.created_at < not_before,  # an expired key is taken over
        ).returning(c.execution_id)
        async with self._tx(write=True) as conn:
            won = (await conn.execute(stmt)).scalar()
            if won is not None:
                return str(won)
            current = select(c.execution_id).where(c.job_id == job_id, c.key == key)
            return str((await conn.execute(current)).scalar_one())

    async def release_idempotency_key(self, job_id: str, key: str, execution_id: str) -> None:
        c = idempotency_keys.c
        async with self._tx(write=True) as conn:
            await conn.execute(
                idempotency_keys.delete().where(and_(c.job_id == job_id, c.key == key, c.execution_id == execution_id))
            )

    async def prune_idempotency_keys(self, *, before: datetime) -> int:
        async with self._tx(write=True) as conn:
            result = await conn.execute(idempotency_keys.delete().where(idempotency_keys.c.created_at < before))
            return int(result.rowcount)
