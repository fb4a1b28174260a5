"""The engine's tuning knobs."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

__all__ = ["EngineOptions"]


@dataclass(frozen=True, kw_only=True, slots=True)
class EngineOptions:
    """Intervals and limits of the engine. Durations are in seconds.

    ``host`` and ``pid`` identify this process on the records it writes (start-up recovery and the zombie sweep
    read them back); tests override them to play another process.
    """

    heartbeat_interval: float = 10.0
    """How often every local running execution gets ``heartbeat_at = now`` (one batched write)."""
    zombie_after: float = 60.0
    """A running record whose heartbeat is older than this belongs to a dead process."""
    cancel_grace: float = 10.0
    """After a cancel request, how long an async job may take to stop by itself before its task is cancelled."""
    shutdown_grace: float = 30.0
    """At shutdown, how long running jobs may take to finish before they are cancelled."""
    zombie_sweep_interval: float = 30.0
    progress_flush_interval: float = 1.0
    """How often pending progress and log lines are written (latest progress per execution wins)."""
    retention_days: int = 90
    """Finished executions older than this are pruned daily; 0 or less keeps everything."""
    log_max_lines: int = 2000
    """A run's log keeps its last this many lines (older ones are dropped, with a note saying how many)."""
    log_max_bytes: int = 512 * 1024
    """… and at most this many bytes of messages."""
    command_env: tuple[str, ...] = ("*",)
    """Names or patterns of this process's environment variables command jobs get (``JOBDECK_*`` never)."""
    max_threads: int = 32
    """Worker threads for sync jobs (a thread job that cannot be stopped holds its thread until it returns)."""
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)

    def __post_init__(self) -> None:
        for name in (
            "heartbeat_interval",
            "zombie_after",
            "zombie_sweep_interval",
            "progress_flush_interval",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"EngineOptions.{name} must be positive, got {getattr(self, name)!r}")
        for name in ("cancel_grace", "shutdown_grace"):
            if getattr(self, name) < 0:
                raise ValueError(f"EngineOptions.{name} must not be negative, got {getattr(self, name)!r}")
        if self.max_threads < 1:
            raise ValueError(f"EngineOptions.max_threads must be at least 1, got {self.max_threads!r}")
