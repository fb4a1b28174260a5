"""Runtime: the composition root — store → engine → service → auth, started and stopped together.

``create_app`` and ``JobDeck`` build one per application; nothing here is a module-level singleton.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast
from zoneinfo import ZoneInfo

from jobdeck._version import __version__
from jobdeck.admin import AdminService
from jobdeck.auth import Authenticator, resolve_secret_key
from jobdeck.clock import Clock, SystemClock
from jobdeck.config import Settings
from jobdeck.engine import Engine, EngineHandle, EngineOptions, ThreadedEngine
from jobdeck.errors import ConfigError, InvalidSchedule
from jobdeck.events import EventBus, PublishingStore
from jobdeck.login_throttle import LoginLimits
from jobdeck.models import JobMetadata, JobSpec, JobState
from jobdeck.schedules import LATEST, check_schedule, parse_schedule
from jobdeck.service import SchedulerService
from jobdeck.store import SchedulerLock, is_in_memory, open_store, scheduler_lock
from jobdeck.store.base import Store

__all__ = ["Runtime"]

log = logging.getLogger("jobdeck")

TAKEOVER_INTERVAL = 1.0
"""Seconds between an API-only process's tries of the scheduling lock (a non-blocking flock: nearly free)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Runtime:
    """Everything a running jobdeck needs, built by :meth:`start` and released by :meth:`stop`."""

    settings: Settings
    clock: Clock
    store: Store
    engine: EngineHandle
    service: SchedulerService
    auth: Authenticator
    admin: AdminService
    """Sign-in, sign-out, users and tokens, audited (on the service's audit trail)."""
    events: EventBus
    """Change events of this process (the SSE stream and live pages listen here)."""
    display_tz: ZoneInfo
    lock: SchedulerLock | None = None
    """The SQLite file's scheduling lock (held while this process schedules); None on PostgreSQL."""
    takeover: asyncio.Task[None] | None = None
    """API-only: the task waiting for the lock, to take over scheduling when the holder exits."""

    @classmethod
    async def start(cls, settings: Settings, specs: Sequence[JobSpec], *, clock: Clock | None = None) -> Runtime:
        """Open the store (migrating it), make sure an admin exists, register the jobs and start firing."""
        clock = clock or SystemClock()
        events = EventBus(clock)
        if settings.engine_thread and is_in_memory(settings.database_url):
            # The engine's thread opens a store of its own, which would be another, empty, database.
            raise ConfigError("needs a database file or server, not in-memory SQLite", field="engine_thread")
        store = cast(Store, PublishingStore(open_store(settings.database_url), events))
        await store.open()
        lock: SchedulerLock | None = None
        try:
            auth = Authenticator(
                store,
                secret_key=await resolve_secret_key(store, settings.secret_key),
                token_ttl=settings.token_ttl,
                clock=clock,
                login_limits=LoginLimits(
                    per_user=settings.login_user_failures,
                    per_address=settings.login_address_failures,
                    window=settings.login_window,
                    max_lockout=settings.login_max_lockout,
                ),
            )
            generated = await auth.ensure_admin(settings.admin_password)
            if generated:
                _announce_admin_password(generated)
            now = clock.now()
            await store.seed_metadata(
                [JobMetadata(job_id=s.id, display_name=s.display_name, description=s.description) for s in specs],
                at=now,
            )
            options = EngineOptions(
                heartbeat_interval=settings.heartbeat_interval,
                zombie_after=settings.zombie_after,
                cancel_grace=settings.cancel_grace,
                shutdown_grace=settings.shutdown_grace,
                # Sweep at least twice per threshold, so a dead run is closed within 1.5 × zombie_after.
                zombie_sweep_interval=min(30.0, settings.zombie_after / 2),
                retention_days=settings.retention_days,
                command_env=settings.command_env_patterns,
            )
            states = _usable_states(specs, await store.job_states(), now)
            lock = scheduler_lock(settings.database_url)
            scheduling = lock is None or lock.try_acquire()
            if not scheduling:
                log.warning(
                    "jobdeck: another process schedules the jobs of this database (it holds %s): this one serves the "
                    "API and dashboard only and takes over scheduling when that process exits",
                    lock.path if lock is not None else "?",
                )
            engine: EngineHandle
            if settings.engine_thread:
                engine = await ThreadedEngine.start(
                    lambda: _open_engine_store(settings, events, specs, states, clock, options, scheduling)
                )
            else:
                engine = await _start_engine(store, specs, states, clock, options, scheduling)
        except BaseException:
            if lock is not None:
                lock.release()
            await store.close()
            raise
        service = SchedulerService(store=store, engine=engine, clock=clock, version=__version__, events=events)
        takeover = None
        if lock is not None and not scheduling:
            takeover = asyncio.get_running_loop().create_task(
                _take_over(lock, store, engine, specs, clock), name="jobdeck-takeover"
            )
        return cls(
            settings=settings,
            clock=clock,
            store=store,
            engine=engine,
            service=service,
            auth=auth,
            admin=AdminService(store=store, auth=auth, audit=service.audit, clock=clock),
            events=events,
            display_tz=ZoneInfo(settings.timezone),
            lock=lock,
            takeover=takeover,
        )

    async def stop(self) -> None:
        """Stop firing, let running jobs finish within the shutdown grace, close every record, close the store;
        then let another process schedule."""
        if self.takeover is not None:
            self.takeover.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.takeover
        try:
            await self.engine.shutdown()
            with contextlib.suppress(Exception):
                await self.service.audit.flush()
        finally:
            self.auth.close()
            try:
                await self.store.close()
            finally:
                if self.lock is not None:
                    self.lock.release()


def _usable_states(specs: Sequence[JobSpec], states: Mapping[str, JobState], now: datetime) -> dict[str, JobState]:
    """The stored job states minus what cannot be applied: a bad saved state must never keep jobdeck (or the job)
    from starting. A schedule override that does not parse or compute is skipped (the configured schedule
    applies), a pause end out of range dropped (the job stays paused); each is logged at ERROR."""
    usable = dict(states)
    for spec in specs:
        state = states.get(spec.id)
        if state is None:
            continue
        if state.schedule_override:
            try:
                check_schedule(
                    parse_schedule(state.schedule_override, timezone=spec.timezone), now=now, allow_past=True
                )
            except InvalidSchedule as exc:
                log.error(
                    "jobdeck: job %s: the stored schedule override %r cannot be applied (%s); skipped, the "
                    "configured schedule %r applies",
                    *(spec.id, state.schedule_override, exc.reason, spec.schedule.expression),
                )
                state = dataclasses.replace(state, schedule_override=None)
        if state.paused_until is not None and state.paused_until > LATEST:
            log.error(
                "jobdeck: job %s: the stored pause end %s is out of range; dropped, the job stays paused until resumed",
                *(spec.id, state.paused_until.isoformat()),
            )
            state = dataclasses.replace(state, paused_until=None)
        usable[spec.id] = state
    return usable


async def _start_engine(
    store: Store,
    specs: Sequence[JobSpec],
    states: Mapping[str, JobState],
    clock: Clock,
    options: EngineOptions,
    scheduling: bool = True,
) -> Engine:
    engine = Engine(store, clock=clock, options=options)
    for spec in specs:
        engine.register(spec, states.get(spec.id))
    await engine.start(scheduling=scheduling)
    return engine


async def _take_over(
    lock: SchedulerLock, store: Store, engine: EngineHandle, specs: Sequence[JobSpec], clock: Clock
) -> None:
    """API-only: wait for the scheduling lock, then schedule with the jobs' states as stored now (the previous
    scheduler's pauses and overrides, not the ones read at this process's start)."""
    while True:
        await asyncio.sleep(TAKEOVER_INTERVAL)
        try:
            if not lock.try_acquire():
                continue
            states = _usable_states(specs, await store.job_states(), clock.now())
            await engine.start_scheduling(states)
        except Exception:
            lock.release()  # try again at the next turn, rather than hold the lock without scheduling
            log.exception("jobdeck: taking over scheduling failed; trying again")
            continue
        log.warning("jobdeck: the process that scheduled the jobs of this database exited; this one schedules now")
        return


async def _open_engine_store(
    settings: Settings,
    events: EventBus,
    specs: Sequence[JobSpec],
    states: Mapping[str, JobState],
    clock: Clock,
    options: EngineOptions,
    scheduling: bool,
) -> tuple[Engine, Store]:
    """On the engine's own thread: its own store (connections belong to the loop that opened them), publishing
    to the runtime's event bus, and the engine started on it."""
    # The loop is the engine's alone: SQLite calls run on it rather than hopping to the driver's thread.
    store = cast(Store, PublishingStore(open_store(settings.database_url, inline_sqlite=True), events))
    await store.open()
    try:
        return await _start_engine(store, specs, states, clock, options, scheduling), store
    except BaseException:
        await store.close()
        raise


def _announce_admin_password(password: str) -> None:
    # Printed once, to the terminal of whoever started jobdeck; it is never stored in clear.
    banner = "=" * 64
    print(
        f"\n{banner}\n  jobdeck created the user 'admin' with the generated password:\n\n      {password}\n\n"
        f"  Sign in with it, then change it: jobdeck users set-password admin\n{banner}\n",
        file=sys.stderr,
        flush=True,
    )
