"""Shared pieces of the runtime tests: fast engine options, job specs of every kind, an engine context."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from jobdeck.clock import Clock, SystemClock
from jobdeck.engine import Engine, EngineOptions
from jobdeck.models import CommandTarget, Execution, ExecutionQuery, JobKind, JobSpec, JobState
from jobdeck.schedules import parse_schedule
from jobdeck.store.sql import SqlStore

NEVER = "2099-01-01T00:00:00+00:00"
FAST = EngineOptions(
    heartbeat_interval=0.2,
    progress_flush_interval=0.05,
    cancel_grace=0.3,
    shutdown_grace=0.5,
    zombie_sweep_interval=60.0,
)


def py_job(job_id: str, function: Callable[..., Any], *, schedule: str = NEVER, **fields: Any) -> JobSpec:
    return JobSpec(id=job_id, func=f"tests:{job_id}", function=function, schedule=parse_schedule(schedule), **fields)


def command_job(job_id: str, script: str, *, schedule: str = NEVER, **fields: Any) -> JobSpec:
    """A command job running ``script`` with /bin/sh (argv form: no shell between jobdeck and sh)."""
    target = CommandTarget(argv=("/bin/sh", "-c", script), **fields.pop("target", {}))
    return JobSpec(
        id=job_id, func="", kind=JobKind.COMMAND, command=target, schedule=parse_schedule(schedule), **fields
    )


@asynccontextmanager
async def started(
    store: SqlStore,
    *specs: JobSpec,
    clock: Clock | None = None,
    states: dict[str, JobState] | None = None,
    **options: Any,
) -> AsyncIterator[Engine]:
    engine = Engine(store, clock=clock or SystemClock(), options=dataclasses.replace(FAST, **options))
    for spec in specs:
        engine.register(spec, (states or {}).get(spec.id))
    await engine.start()
    try:
        yield engine
    finally:
        await engine.shutdown()


async def executions_of(store: SqlStore, job_id: str) -> list[Execution]:
    """Oldest first."""
    return list((await store.list_executions(ExecutionQuery(job_id=job_id, limit=200))).items)[::-1]


def process_alive(pid: int) -> bool:
    """Whether the pid names a live process (a zombie waiting to be reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        state = stat.read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
