"""Housekeeping: the zombie sweep, start-up recovery and retention.

This is jobdeck's own machinery, an asyncio task of the engine — never an APScheduler job — so it never appears
among the user's jobs. Every step is idempotent: all replicas run it, and closing a record twice is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from jobdeck.clock import Clock
from jobdeck.engine.options import EngineOptions
from jobdeck.engine.runner import format_seconds
from jobdeck.models import Execution
from jobdeck.store.base import Housekeeping

__all__ = ["Watchdog", "pid_alive"]

_PRUNE_EVERY = 24 * 3600.0
IDEMPOTENCY_KEYS_KEPT = timedelta(hours=24)
"""How long a trigger's ``Idempotency-Key`` is remembered (the service honours keys this young)."""


class Watchdog:
    """Closes records whose process is gone and prunes old executions.

    ``local_ids`` returns the executions running in this process: they are never taken for zombies, whatever
    their heartbeat says (this process is alive by definition).
    """

    def __init__(
        self, store: Housekeeping, *, clock: Clock, options: EngineOptions, local_ids: Callable[[], Collection[str]]
    ) -> None:
        self._store = store
        self._clock = clock
        self._options = options
        self._local_ids = local_ids
        self._log = logging.getLogger(__name__)

    async def sweep_zombies(self, now: datetime) -> int:
        """Fail every running record (any host) whose heartbeat is older than ``zombie_after`` at ``now``, except
        this process's own runs. Returns how many records were closed."""
        stale = await self._store.stale_executions(heartbeat_before=now - timedelta(seconds=self._options.zombie_after))
        local = set(self._local_ids())
        by_message: dict[str, list[str]] = defaultdict(list)
        for execution in stale:
            if execution.id not in local:
                by_message[self._zombie_message(execution, now)].append(execution.id)
        closed = 0
        for message, ids in by_message.items():
            closed += await self._store.fail_executions(ids, finished_at=now, message=message)
        if closed:
            self._log.warning("jobdeck: closed %d execution(s) whose process stopped heartbeating", closed)
        return closed

    def _zombie_message(self, execution: Execution, now: datetime) -> str:
        last = execution.heartbeat_at or execution.started_at
        silent = max(0, round((now - last).total_seconds()))
        return (
            f"no heartbeat for {silent} s (zombie_after={format_seconds(self._options.zombie_after)} s): "
            f"the process running it (host {execution.host or '?'}, pid {execution.pid or '?'}) is gone"
        )

    async def recover_on_startup(self, now: datetime) -> int:
        """Fail at once the running records this host's dead processes left behind: their pid is not alive, or
        is our own pid (a previous incarnation — containers reuse pid 1). Records of live processes on this
        host and of other hosts are left to the zombie sweep. Returns how many records were closed."""
        own = self._options.pid
        local = set(self._local_ids())
        by_pid: dict[int, list[str]] = defaultdict(list)
        for execution in await self._store.running_executions(host=self._options.host):
            pid = execution.pid
            if execution.id in local or pid is None:
                continue
            if pid == own or not pid_alive(pid):
                by_pid[pid].append(execution.id)
        closed = 0
        for pid, ids in by_pid.items():
            message = (
                f"jobdeck on {self._options.host} (pid {pid}) stopped while this run was going; closed at start-up"
            )
            closed += await self._store.fail_executions(ids, finished_at=now, message=message)
        if closed:
            self._log.warning("jobdeck: closed %d execution(s) left running by a previous process", closed)
        return closed

    async def prune(self, now: datetime) -> int:
        """Delete executions finished more than ``retention_days`` before ``now`` and audit entries older than
        that (nothing when retention is 0 or less), and trigger idempotency keys older than a day. Returns how
        many executions were deleted."""
        await self._store.prune_idempotency_keys(before=now - IDEMPOTENCY_KEYS_KEPT)
        if self._options.retention_days <= 0:
            return 0
        before = now - timedelta(days=self._options.retention_days)
        await self._store.prune_audit(before=before)
        return await self._store.prune_executions(finished_before=before)

    async def run(self) -> None:
        """Forever: prune at start and then once a day; sweep every ``zombie_sweep_interval`` (the first sweep
        one interval after start — start-up recovery has just handled this host). Errors are logged and the
        next round tries again."""
        loop = asyncio.get_running_loop()
        next_prune = loop.time()
        while True:
            if loop.time() >= next_prune:
                next_prune = loop.time() + _PRUNE_EVERY
                try:
                    pruned = await self.prune(self._clock.now())
                    if pruned:
                        self._log.info("jobdeck: pruned %d execution(s) past retention", pruned)
                except Exception:
                    self._log.exception("jobdeck: retention clean-up failed")
            await asyncio.sleep(self._options.zombie_sweep_interval)
            try:
                await self.sweep_zombies(self._clock.now())
            except Exception:
                self._log.exception("jobdeck: zombie sweep failed")


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine (signal 0 probes without sending anything)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    except OSError:
        return True  # cannot tell: assume alive, the zombie sweep will decide by heartbeat
    return True
