"""A hook on big bursts of fires, for the process that hosts the engine.

The engine itself does nothing process-wide during a burst. A process that owns itself (``jobdeck serve``: see
:mod:`jobdeck.server`) may register a listener here to tune the interpreter while a burst is being started.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["BURST_SIZE", "BurstListener", "add_burst_listener", "burst_started"]

BURST_SIZE = 500
"""Fires due at one instant from which they count as a burst (smaller ones reach no listener)."""

BurstListener = Callable[[int], Callable[[], None]]
"""Called on the engine's loop with a burst's size as it starts; returns what to call when it is over: its fires
claimed and started and the runs that ended meanwhile closed (called once, on the engine's loop)."""

_listeners: list[BurstListener] = []
_lock = threading.Lock()


def add_burst_listener(listener: BurstListener) -> Callable[[], None]:
    """Call ``listener`` at the start of every burst of every engine in this process (adding one twice changes
    nothing); returns the function that removes it again."""
    with _lock:
        if listener not in _listeners:
            _listeners.append(listener)

    def remove() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return remove


def burst_started(size: int) -> Callable[[], None]:
    """Tell the listeners a burst of ``size`` fires starts; returns the function that tells them it is over."""
    with _lock:
        listeners = list(_listeners)
    if not listeners:
        return _nothing
    ends = [end for listener in listeners if (end := _call(listener, size)) is not None]

    def over() -> None:
        for end in ends:
            _call(end)

    return over


def _call(function: Callable[..., Any], *args: Any) -> Any:
    # A listener's failure is the host's business: the burst goes on (its fires must not be lost to it).
    try:
        return function(*args)
    except Exception:
        logging.getLogger(__name__).exception("jobdeck: a burst listener failed")
        return None


def _nothing() -> None:
    return None
