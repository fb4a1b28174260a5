"""Group commit: the execution writes of a process — claims, closes, progress, heartbeats — go through one writer
task that commits whatever is queued in one transaction, instead of one transaction (and, on SQLite, one round of
write-lock contention) per record.

Guarantees, the same as a transaction per call:

* **Durable before answered.** A caller's ``await`` returns (or raises) only after the transaction holding its write
  committed (or failed); a claim that lost (``ON CONFLICT DO NOTHING``) answers False.
* **In order.** Writes run in the order they were submitted, each seeing the ones before it (a close queued behind
  its claim finds the record).
* **Isolated failures.** When a batch fails for any reason but an unreachable database, its writes are retried one
  transaction each, so only the faulty write fails.
* **Held, never dropped.** When the database cannot take a batch (unreachable, SQLite locked past its busy timeout,
  a PostgreSQL lock or connection error: :class:`~jobdeck.errors.StoreUnavailable`) the batch goes back to the head
  of the queue and is retried, with a growing pause, until it lands; writes submitted meanwhile queue behind it, in
  order, and their callers wait. Past :data:`HELD_IN_MEMORY` held writes, claims and closes are also spooled to disk
  (see :mod:`~jobdeck.store.held`), and whatever is still held when the store closes is spooled and then failed.
  One WARNING is logged when writes start failing (or wait longer than :data:`LAG_S`), one when they land again.

A terminal record never changes again: a close updates only rows still ``running`` (``FOR UPDATE`` on PostgreSQL
makes the check and the update one step against other replicas).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from jobdeck.errors import StoreUnavailable
from jobdeck.models import Execution
from jobdeck.store._batch import BatchApply, Work, _Write, claim_key, duration_between
from jobdeck.store._raw import RawSqlite
from jobdeck.store._shared_read import SharedRead
from jobdeck.store.held import LAG_S, Spool, SpooledWrite, WriteStatus, read_spool

__all__ = ["CLOSED", "LAG_S", "GroupCommit", "SharedRead", "duration_between"]

CLOSED = "The store is closed"
"""The message of the StoreUnavailable raised by a closed store (never held: nothing will take it any more)."""

MAX_BATCH = 2000
"""Writes per transaction at most: keeps a batch's lock time (and a failed batch's retry) bounded."""
HELD_IN_MEMORY = 1000
"""Held writes kept in memory only; past this many, held claims and closes are also appended to the spool."""
_RETRY_FIRST, _RETRY_MAX = 0.05, 2.0
"""Pause before retrying held writes: doubling from the first to the last (SQLite adds its busy timeout)."""

TxFactory = Callable[..., AbstractAsyncContextManager[AsyncConnection]]
OnLane = Callable[[Callable[[sqlite3.Connection], list[Any]]], Awaitable[list[Any]]]


class GroupCommit:
    """The writer of one store. Use from the event loop the store is used on; writes submitted from any other loop
    run directly in a transaction of their own."""

    def __init__(
        self,
        tx: TxFactory,
        dialect: str,
        *,
        on_lane: OnLane | None = None,
        after_commit: Callable[[], None] | None = None,
        spool: Spool | None = None,
        held_in_memory: int = HELD_IN_MEMORY,
    ) -> None:
        self._tx = tx
        self._after_commit = after_commit
        """Called after each transaction committed on the SQLite lane (``tx`` transactions report their own)."""
        self._batches = BatchApply(dialect)
        # SQLite: batches of claims, closes and fire marks run in one call on the SQLite lane (see _raw).
        self._on_lane = on_lane
        self._queue: list[_Write] = []
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._raw = RawSqlite() if on_lane is not None else None
        self._log = logging.getLogger(__name__)
        # Health, kept on the write path (see status()): when the oldest waiting write was queued, what fails.
        self._queue_since: float | None = None
        self._batch: list[_Write] = []
        self._batch_since: float | None = None
        # When a batch last started or ended: a queue that moves is busy, not lagging (a burst's 10,000 claims).
        self._moved_at = 0.0
        self._failing: str | None = None
        self._failing_since = 0.0
        self._attempts = 0
        self._lagging = False
        self._spool = spool
        self._held_in_memory = held_in_memory
        self._spooled = 0
        """Spooled writes not committed yet (the spool file is removed when none is left)."""
        self._abandoned = False

    @property
    def failing(self) -> bool:
        """Whether writes are being held because the database refuses them."""
        return self._failing is not None

    @property
    def spool(self) -> Spool | None:
        return self._spool

    def status(self, reads: Sequence[SharedRead] = ()) -> WriteStatus:
        """The writer's health now, from what its writes met (no query). Safe from another thread. ``reads``:
        reads on the way to a record (a fire's running count): one waiting long means records lag too."""
        now = time.monotonic()
        batch = len(self._batch)
        waiting = len(self._queue) + batch
        since = [t for t in (self._batch_since if batch else None, self._queue_since) if t is not None]
        age = round(now - min(since), 3) if since and waiting else None
        stalled = now - max(min(since), self._moved_at) if since and waiting else None
        read_since = [t for read in reads if (t := read.waiting_since()) is not None]
        read_age = round(now - min(read_since), 3) if read_since else None
        failing = self._failing
        if failing is not None:
            reason = f"database writes failing, {waiting} held: {failing}"
        elif stalled is not None and stalled >= LAG_S:
            reason = f"database writes waiting for {stalled:.1f} s (the database is busy or locked)"
        elif read_age is not None and read_age >= LAG_S:
            reason = f"fires waiting {read_age:.1f} s for the database to count running executions (busy or locked)"
        else:
            reason = None
        if read_age is not None and (age is None or read_age > age):
            age = read_age
        return WriteStatus(
            ok=reason is None,
            reason=reason,
            waiting=waiting,
            held=waiting if failing is not None else 0,
            spooled=self._spooled,
            oldest_age_s=age,
        )

    # -- submitting ------------------------------------------------------------------------------------------

    async def insert(self, record: Execution) -> bool:
        """Insert the record's executions row unless its claim key is taken; True when written."""
        return bool(await self._submit(_Write("insert", self._new_future(), record=record, key=record.id)))

    async def insert_many(self, records: Sequence[Execution]) -> list[bool | Exception]:
        """:meth:`insert` for several records, queued together: for each, True / False, or the exception of its
        write."""
        writes = [_Write("insert", self._new_future(), record=record, key=record.id) for record in records]
        await self._submit_many(writes)
        return [_outcome(write.future) for write in writes]

    async def close(self, execution_id: str, values: dict[str, Any]) -> bool:
        """Set ``values`` (must include ``finished_at``; ``duration`` is computed) on a running execution; False,
        changing nothing, when it is not running or does not exist."""
        return bool(await self._submit(_Write("close", self._new_future(), values=values, key=execution_id)))

    async def close_many(self, closes: Sequence[tuple[str, dict[str, Any]]]) -> list[bool | Exception]:
        """:meth:`close` for several ``(execution_id, values)``, queued together: for each, True / False, or the
        exception of its write."""
        writes = [
            _Write("close", self._new_future(), values=values, key=execution_id) for execution_id, values in closes
        ]
        await self._submit_many(writes)
        return [_outcome(write.future) for write in writes]

    async def merge(self, group: str, statement: Any, params: dict[str, Any], *, key: str) -> None:
        """Execute ``statement`` with ``params`` in the next batch, together with the other merges of the same
        ``group`` (one executemany of the group's first statement: same SQL, other parameters). For writes whose
        order matters neither among themselves nor against the batch's other writes (e.g. an upsert keeping the
        latest of two values): they run before the rest. Writes with the same ``key`` still run in submission
        order."""
        write = _Write("merge", self._new_future(), values=params, key=key, statement=statement, group=group)
        await self._submit(write)

    async def merge_many(self, group: str, statement: Any, params: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """:meth:`merge` for several ``(key, params)`` in one write (committed, or failing, together)."""
        if params:
            write = _Write("merge", self._new_future(), statement=statement, group=group, rows=list(params))
            await self._submit(write)

    async def run(self, work: Work) -> Any:
        """Run ``work(conn)`` inside the next batch's transaction; its result once committed."""
        return await self._submit(_Write("work", self._new_future(), work=work))

    def _new_future(self) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    async def _submit(self, write: _Write) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is None or self._loop.is_closed() or (self._task is not None and self._task.done()):
            self._loop, self._task, self._wakeup = loop, None, asyncio.Event()
        if loop is not self._loop:
            return await self._alone(write)
        assert self._wakeup is not None
        if not self._queue:
            self._queue_since = time.monotonic()
        self._queue.append(write)
        self._wakeup.set()
        if self._task is None:
            self._task = loop.create_task(self._pump(), name="jobdeck-store-writer")
        return await write.future

    async def _submit_many(self, writes: Sequence[_Write]) -> None:
        """Queue ``writes`` in one step (one wake-up of the writer for all) and wait until each is answered."""
        if not writes:
            return
        loop = asyncio.get_running_loop()
        if self._loop is None or self._loop.is_closed() or (self._task is not None and self._task.done()):
            self._loop, self._task, self._wakeup = loop, None, asyncio.Event()
        if loop is not self._loop:
            for write in writes:
                try:
                    write.future.set_result(await self._alone(write))
                except Exception as exc:
                    _fail(write, exc)
            return
        assert self._wakeup is not None
        if not self._queue:
            self._queue_since = time.monotonic()
        self._queue.extend(writes)
        self._wakeup.set()
        if self._task is None:
            self._task = loop.create_task(self._pump(), name="jobdeck-store-writer")
        # Writes are answered in submission order, so the last one answered means all were: one wait, not one
        # callback per write (a burst's claims are thousands).
        await asyncio.wait([writes[-1].future])
        pending = [write.future for write in writes if not write.future.done()]
        if pending:  # pragma: no cover - defensive: answered out of order
            await asyncio.wait(pending)

    async def drain(self) -> None:
        """Wait until everything submitted so far is committed (or failed)."""
        pending = [w.future for w in self._queue]
        if pending:
            await asyncio.wait(pending)
        if self._task is not None and not self._task.done() and asyncio.get_running_loop() is self._loop:
            # The batch in flight, if any.
            await self.run(_nothing)

    # -- the writer task -------------------------------------------------------------------------------------

    async def _pump(self) -> None:
        assert self._wakeup is not None
        while True:
            if not self._queue:
                self._wakeup.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), 60.0)
                if not self._queue:
                    self._task = None  # idle for a minute: stop; the next write starts a new one
                    return
            # One turn of the loop lets every task that is ready to write (a burst of fires) queue first.
            await asyncio.sleep(0)
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            self._batch, self._batch_since = batch, self._queue_since
            self._queue_since = self._batch_since if self._queue else None
            lag = asyncio.get_running_loop().call_later(LAG_S, self._lag)
            self._moved_at = time.monotonic()
            try:
                await self._commit(batch)
            finally:
                lag.cancel()
                self._batch = []
                self._moved_at = time.monotonic()

    def _lag(self) -> None:
        # A batch has been waiting for LAG_S (e.g. PostgreSQL's LOCK TABLE makes it wait, without an error).
        if self._batch and not self._lagging and self._failing is None:
            self._lagging = True
            self._log.warning(
                "jobdeck: database writes are waiting (%d for more than %.0f s): the database is busy or locked",
                len(self._batch) + len(self._queue),
                LAG_S,
            )

    def _hold(self, batch: list[_Write], exc: StoreUnavailable) -> float:
        """Put a batch the database refused back at the head of the queue; the pause before the next attempt."""
        self._queue[:0] = batch
        self._batch = []  # back in the queue: counted there while the retry waits
        self._queue_since = self._batch_since if self._batch_since is not None else time.monotonic()
        if self._failing is None:
            self._failing_since = time.monotonic()
            self._attempts = 0
            self._log.warning(
                "jobdeck: database writes failing (%s); holding %d write(s) and retrying until they land",
                exc.message,
                len(self._queue),
            )
        self._failing = exc.message
        self._attempts += 1
        if self._spool is not None and len(self._queue) > self._held_in_memory:
            self._spill(self._queue[self._held_in_memory :])
        return min(_RETRY_MAX, _RETRY_FIRST * 2.0 ** min(self._attempts - 1, 16))

    def _spill(self, writes: Sequence[_Write]) -> None:
        """Append the claims and closes among ``writes`` not spooled yet to the spool (durably)."""
        assert self._spool is not None
        todo = [w for w in writes if not w.spooled and w.kind in ("insert", "close")]
        if not todo:
            return
        try:
            self._spool.append([SpooledWrite(kind=w.kind, record=w.record, key=w.key, values=w.values) for w in todo])
        except OSError as exc:
            self._log.error("jobdeck: cannot spool %d held write(s) to %s: %s", len(todo), self._spool.path, exc)
            return
        for write in todo:
            write.spooled = True
        self._spooled += len(todo)

    def _landed(self, batch: list[_Write]) -> None:
        """A batch committed after writes had failed, lagged or been spooled."""
        if self._failing is not None:
            self._log.warning(
                "jobdeck: database writes recovered after %.1f s; %d held write(s) landing in order",
                time.monotonic() - self._failing_since,
                len(batch) + len(self._queue),
            )
            self._failing = None
        elif self._lagging:
            self._log.warning("jobdeck: database writes landing again")
        self._lagging = False
        if self._spooled:
            self._spooled -= sum(1 for w in batch if w.spooled)
            if self._spooled <= 0 and self._spool is not None:
                self._spooled = 0
                self._spool.clear()

    async def replay(self) -> int:
        """Write what stores that died before their held writes landed left in spool files of this database
        (in their order), then remove those files. Returns how many writes were replayed."""
        if self._spool is None:
            return 0
        replayed = 0
        for path in self._spool.leftovers():
            spooled = read_spool(path)
            writes = [
                _Write(s.kind, self._new_future(), record=s.record, key=s.key, values=s.values, spooled=True)
                for s in spooled
            ]
            self._spooled += len(writes)
            await self._submit_many(writes)
            errors = [w.future.exception() for w in writes if w.future.exception() is not None]
            for error in errors[:1]:
                self._log.error("jobdeck: %d spooled write(s) of %s failed", len(errors), path, exc_info=error)
            claims = sum(1 for s in spooled if s.kind == "insert")
            self._log.warning(
                "jobdeck: replayed %d write(s) (%d claims, %d closes) that a stopped process held in %s",
                len(writes),
                claims,
                len(writes) - claims,
                path,
            )
            replayed += len(writes)
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                self._log.warning("jobdeck: could not remove the spool %s: %s", path, exc)
        return replayed

    async def shut(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait up to ``timeout`` seconds for every write to land; then spool the claims and closes still held
        and fail every waiting write with StoreUnavailable (the next start replays the spool)."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.drain(), timeout)
        if not self._queue and not self._batch:
            return
        self._abandoned = True
        held = [*self._batch, *self._queue]
        if self._spool is not None:
            self._spill(held)
        spooled = sum(1 for w in held if w.spooled)
        self._log.error(
            "jobdeck: the store closed with %d write(s) that the database did not take (%s); %s",
            len(held),
            self._failing or "still waiting",
            f"{spooled} spooled to {self._spool.path}, replayed at the next start"
            if self._spool is not None and spooled
            else "they are lost",
        )
        error = StoreUnavailable(f"the store closed with {len(held)} write(s) held: {self._failing or 'waiting'}")
        self._queue = []
        for write in held:
            _fail(write, error)
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def _commit(self, batch: list[_Write]) -> None:
        try:
            results = await self._transaction(batch)
        except StoreUnavailable as exc:
            if self._abandoned or exc.message == CLOSED:
                for write in batch:
                    _fail(write, exc)
                return
            await asyncio.sleep(self._hold(batch, exc))
            return
        except Exception:
            if len(batch) > 1:
                self._log.warning("jobdeck: a batch of %d writes failed; retrying them one by one", len(batch))
            for i, write in enumerate(batch):
                unavailable = await self._one(write)
                if unavailable is not None:  # the database went away meanwhile: hold this write and the rest
                    await asyncio.sleep(self._hold(batch[i:], unavailable))
                    return
            return
        except BaseException as exc:  # cancelled (loop shutting down): nothing was committed
            for write in batch:
                _fail(write, StoreUnavailable(f"the store writer stopped: {exc!r}"))
            raise
        if self._failing is not None or self._lagging or self._spooled:
            self._landed(batch)
        for write, result in zip(batch, results, strict=True):
            if not write.future.done():
                write.future.set_result(result)

    async def _one(self, write: _Write) -> StoreUnavailable | None:
        """Apply one write alone; answer it — or, when the database cannot be reached, return why (to hold it)."""
        try:
            (result,) = await self._transaction([write])
        except StoreUnavailable as exc:
            if self._abandoned or exc.message == CLOSED:
                _fail(write, exc)
                return None
            return exc
        except Exception as exc:
            _fail(write, exc)
        else:
            if self._failing is not None or self._lagging or self._spooled:
                self._landed([write])
            if not write.future.done():
                write.future.set_result(result)
        return None

    async def _alone(self, write: _Write) -> Any:
        (result,) = await self._transaction([write])
        return result

    async def _transaction(self, batch: list[_Write]) -> list[Any]:
        """Apply ``batch`` in one transaction; each write's result, in order."""
        if self._on_lane is not None and self._raw is not None and all(w.kind != "work" for w in batch):
            results = await self._on_lane(self._raw.plan(batch, self._batches.close_statement, claim_key))
            if self._after_commit is not None:
                self._after_commit()
            return results
        async with self._tx(write=True) as conn:
            return await self._batches.apply(conn, batch)


async def _nothing(conn: AsyncConnection) -> None:
    return None


def _fail(write: _Write, exc: BaseException) -> None:
    if not write.future.done():
        write.future.set_exception(exc)
        write.future.exception()


def _outcome(future: asyncio.Future[Any]) -> bool | Exception:
    error = future.exception()
    if error is None:
        return bool(future.result())
    if isinstance(error, Exception):
        return error
    raise error
