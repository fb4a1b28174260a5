"""Runtime: the composition root — store → engine → service → auth, started and stopped together.

``create_app`` and ``JobDeck`` build one per application; nothing here is a module-level singleton.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast
from zoneinfo import ZoneInfo

from jobdeck import __version__
from jobdeck.auth import Authenticator, resolve_secret_key
from jobdeck.clock import Clock, SystemClock
from jobdeck.config import Settings
from jobdeck.engine import Engine, EngineHandle, EngineOptions, ThreadedEngine
from jobdeck.errors import ConfigError, InvalidSchedule
from jobdeck.events import EventBus, PublishingStore
from jobdeck.login_throttle import LoginLimits
from jobdeck.models import JobMetadata, JobSpec, JobState
from jobdeck.service import SchedulerService
from jobdeck.store import SqlStore, is_in_memory
from jobdeck.store.base import Store

__all__ = ["Runtime"]

log = logging.getLogger("jobdeck")


@dataclass(frozen=True, kw_only=True, slots=True)
class Runtime:
    """Everything a running jobdeck needs, built by :meth:`start` and released by :meth:`stop`."""

    settings: Settings
    clock: Clock
    store: Store
    engine: EngineHandle
    service: SchedulerService
    auth: Authenticator
    events: EventBus
    """Change events of this process (the SSE stream and live pages listen here)."""
    display_tz: ZoneInfo

    @classmethod
    async def start(cls, settings: Settings, specs: Sequence[JobSpec], *, clock: Clock | None = None) -> Runtime:
        """Open the store (migrating it), make sure an admin exists, register the jobs and start firing."""
        clock = clock or SystemClock()
        events = EventBus(clock)
        if settings.engine_thread and is_in_memory(settings.database_url):
            # The engine's thread opens a store of its own, which would be another, empty, database.
            raise ConfigError("needs a database file or server, not in-memory SQLite", field="engine_thread")
        store = cast(Store, PublishingStore(SqlStore(settings.database_url), events))
        await store.open()
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
            states = await store.job_states()
            engine: EngineHandle
            if settings.engine_thread:
                engine = await ThreadedEngine.start(
                    lambda: _open_engine_store(settings, events, specs, states, clock, options)
                )
            else:
                engine = await _start_engine(store, specs, states, clock, options)
        except BaseException:
            await store.close()
            raise
        service = SchedulerService(store=store, engine=engine, clock=clock, version=__version__)
        return cls(
            settings=settings,
            clock=clock,
            store=store,
            engine=engine,
            service=service,
            auth=auth,
            events=events,
            display_tz=ZoneInfo(settings.timezone),
        )

    async def stop(self) -> None:
        """Stop firing, let running jobs finish within the shutdown grace, close every record, close the store."""
        try:
            await self.engine.shutdown()
            with contextlib.suppress(Exception):
                await self.service.audit.flush()
        finally:
            self.auth.close()
            await self.store.close()


async def _start_engine(
    store: Store, specs: Sequence[JobSpec], states: Mapping[str, JobState], clock: Clock, options: EngineOptions
) -> Engine:
    engine = Engine(store, clock=clock, options=options)
    for spec in specs:
        state = states.get(spec.id)
        try:
            engine.register(spec, state)
        except InvalidSchedule as exc:
            # A stored override that no longer parses must not keep the job (or jobdeck) from starting.
            log.warning("job %s: ignoring stored schedule override: %s", spec.id, exc.message)
            assert state is not None
            engine.register(spec, dataclasses.replace(state, schedule_override=None))
    await engine.start()
    return engine


async def _open_engine_store(
    settings: Settings,
    events: EventBus,
    specs: Sequence[JobSpec],
    states: Mapping[str, JobState],
    clock: Clock,
    options: EngineOptions,
) -> tuple[Engine, Store]:
    """On the engine's own thread: its own store (connections belong to the loop that opened them), publishing
    to the runtime's event bus, and the engine started on it."""
    # The loop is the engine's alone: SQLite calls run on it rather than hopping to the driver's thread.
    store = cast(Store, PublishingStore(SqlStore(settings.database_url, inline_sqlite=True), events))
    await store.open()
    try:
        return await _start_engine(store, specs, states, clock, options), store
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
