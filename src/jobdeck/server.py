"""The ``jobdeck serve`` process: uvicorn, with the interpreter tuned for a long-lived server that owns its process.

Both settings below change the whole process, which a library embedded in someone else's app must not do; a
process started to be jobdeck's server may. With the engine on its own thread (``Settings.engine_thread``, which
``jobdeck serve`` turns on) they are what keeps scheduled starts on time while the API is busy:

* **The start-up heap is frozen** (``gc.freeze()`` once the app has started): the modules, the app and the
  registered jobs — about 130,000 objects — leave the garbage collector's sight. Every full collection walked them
  all; on the reference 2-core VM that took 100–150 ms, during which nothing in the process runs, so every start
  due meanwhile was that late (p99 of scheduled starts under API load: ≈ 200 ms → ≈ 40 ms). Objects made later are
  collected as before; only a reference cycle among start-up objects would no longer be freed.
* **The interpreter switches threads every 0.1 ms** (``sys.setswitchinterval``; Python's default is 5 ms): a thread
  woken while another holds the GIL waits up to one interval for it, and a scheduled start wakes the engine's
  thread several times (timer, the store's answers, the job's first step) while the HTTP thread is busy.
"""

from __future__ import annotations

import gc
import socket
import sys
from typing import Any

from jobdeck.config import Settings
from jobdeck.store import is_in_memory

__all__ = ["SWITCH_INTERVAL", "freeze_startup_heap", "run_server", "server_settings"]

SWITCH_INTERVAL = 0.0001
"""Seconds, for :func:`sys.setswitchinterval` (see the module docstring)."""


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


def run_server(app: Any, *, host: str, port: int, **uvicorn_options: Any) -> None:
    """Serve ``app`` with uvicorn until stopped, in a process tuned as the module docstring says.
    ``uvicorn_options`` go to :class:`uvicorn.Config`."""
    import uvicorn

    from jobdeck.api.routes.events import end_event_streams

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            freeze_startup_heap()  # after the lifespan: the runtime and its jobs are part of the start-up heap

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # uvicorn waits for open responses before the lifespan's shutdown: open event streams end first.
            end_event_streams(app)
            await super().shutdown(sockets=sockets)

    sys.setswitchinterval(SWITCH_INTERVAL)
    Server(uvicorn.Config(app, host=host, port=port, **uvicorn_options)).run()
