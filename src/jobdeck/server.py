"""The ``jobdeck serve`` process: uvicorn, with the interpreter tuned for a long-lived server that owns its process.

The settings below change the whole process, which a library embedded in someone else's app must not do (the engine
never touches ``gc``); a process started to be jobdeck's server may. With the engine on its own thread
(``Settings.engine_thread``, which ``jobdeck serve`` turns on) they keep scheduled starts on time while the API is
busy (the measurements are in docs/performance.md, "The engine"):

* **The start-up heap is frozen** (``gc.freeze()`` once the app has started): the modules, the app and the
  registered jobs leave the garbage collector's sight, so a full collection no longer walks them all. Objects made
  later are collected as before; only a reference cycle among start-up objects would no longer be freed.
* **Collection pauses during a burst** of fires (:func:`pause_collection_in_bursts`, through the engine's neutral
  hook :mod:`jobdeck.engine.bursts`): what a burst allocates stays alive until its runs are started, so a
  collection meanwhile frees nothing and only delays the starts.
* **The interpreter switches threads every 0.1 ms** (``sys.setswitchinterval``; Python's default is 5 ms): a
  scheduled start wakes the engine's thread several times while the HTTP thread is busy.

All three are on by default for ``jobdeck serve`` — the process is jobdeck's, and the benchmark targets are met with
them — and off with ``JOBDECK_SERVE_GC_TUNING=false`` (``Settings.serve_gc_tuning``; for a host that tunes its
interpreter itself, or to compare).
"""

from __future__ import annotations

import asyncio
import gc
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from jobdeck.config import Settings
from jobdeck.engine.bursts import add_burst_listener
from jobdeck.store import is_in_memory

__all__ = [
    "SWITCH_INTERVAL",
    "freeze_startup_heap",
    "pause_collection_in_bursts",
    "run_server",
    "server_settings",
]

SWITCH_INTERVAL = 0.0001
"""Seconds, for :func:`sys.setswitchinterval` (see the module docstring)."""
BURST_PAUSE_MAX = 10.0
"""Seconds after which a burst's pause of the collector ends even if the burst and its closes are not done."""


def server_settings(settings: Settings) -> Settings:
    """The settings a server process runs with: the engine on a thread of its own unless ``engine_thread`` is set
    (or the database is in-memory SQLite, which a second store cannot open)."""
    if settings.engine_thread is None and not is_in_memory(settings.database_url):
        return settings.model_copy(update={"engine_thread": True})
    return settings


def freeze_startup_heap() -> None:
    """Collect once, then move every object alive to the collector's permanent generation (see above)."""
    gc.collect()
    gc.freeze()


class _CollectionPause:
    """Pauses of automatic collection that nest (bursts of several engines, or overlapping ones): the collector is
    enabled again by the last resume, and only if it was enabled before the first pause."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pauses = 0
        self._paused = False

    def pause(self) -> Callable[[], None]:
        """Pause until the returned function is called (once is enough; later calls do nothing)."""
        with self._lock:
            if self._pauses == 0 and gc.isenabled():
                gc.disable()
                self._paused = True
            self._pauses += 1
        resumed = False

        def resume() -> None:
            nonlocal resumed
            with self._lock:
                if resumed:
                    return
                resumed = True
                self._pauses -= 1
                if self._pauses == 0 and self._paused:
                    self._paused = False
                    gc.enable()

        return resume

    def during_burst(self, size: int) -> Callable[[], None]:
        """A :data:`~jobdeck.engine.bursts.BurstListener`: paused until the burst is over, at most
        :data:`BURST_PAUSE_MAX` seconds."""
        resume = self.pause()
        limit = asyncio.get_running_loop().call_later(BURST_PAUSE_MAX, resume)

        def over() -> None:
            limit.cancel()
            resume()

        return over


_COLLECTION = _CollectionPause()


def pause_collection_in_bursts() -> Callable[[], None]:
    """Pause automatic garbage collection while an engine of this process starts a burst of fires (see the module
    docstring). Returns the function that stops doing so."""
    return add_burst_listener(_COLLECTION.during_burst)


def run_server(app: Any, *, host: str, port: int, gc_tuning: bool = True, **uvicorn_options: Any) -> None:
    """Serve ``app`` with uvicorn until stopped, in a process tuned as the module docstring says (unless
    ``gc_tuning`` is false: ``Settings.serve_gc_tuning``). ``uvicorn_options`` go to :class:`uvicorn.Config`."""
    import uvicorn

    from jobdeck.api.routes.events import end_event_streams

    tune = gc_tuning

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if tune:
                freeze_startup_heap()  # after the lifespan: the runtime and its jobs are part of the start-up heap

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # uvicorn waits for open responses before the lifespan's shutdown: open event streams end first.
            end_event_streams(app)
            await super().shutdown(sockets=sockets)

    sys.setswitchinterval(SWITCH_INTERVAL)
    if tune:
        sys.setswitchinterval(SWITCH_INTERVAL)
        pause_collection_in_bursts()
    Server(uvicorn.Config(app, host=host, port=port, **uvicorn_options)).run()
