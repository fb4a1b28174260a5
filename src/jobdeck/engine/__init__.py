"""The execution engine: fires jobs on their schedules, runs them, records every execution.

Names are loaded on first use, so a job module doing ``from jobdeck.engine import JobContext`` does not pull in
APScheduler or the rest of the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "Engine",
    "EngineHandle",
    "EngineOptions",
    "Executor",
    "ExecutorRegistry",
    "JobCancelled",
    "JobContext",
    "JobView",
    "ThreadedEngine",
    "current_context",
    "update_job_progress",
]

_WHERE = {
    "Engine": "jobdeck.engine.core",
    "EngineHandle": "jobdeck.engine.threaded",
    "EngineOptions": "jobdeck.engine.options",
    "Executor": "jobdeck.engine.executors.base",
    "ExecutorRegistry": "jobdeck.engine.executors.registry",
    "JobCancelled": "jobdeck.engine.context",
    "JobContext": "jobdeck.engine.context",
    "JobView": "jobdeck.engine.core",
    "ThreadedEngine": "jobdeck.engine.threaded",
    "current_context": "jobdeck.engine.context",
    "update_job_progress": "jobdeck.engine.context",
}

if TYPE_CHECKING:
    from jobdeck.engine.context import JobCancelled, JobContext, current_context, update_job_progress
    from jobdeck.engine.core import Engine, JobView
    from jobdeck.engine.executors import Executor, ExecutorRegistry
    from jobdeck.engine.options import EngineOptions
    from jobdeck.engine.threaded import EngineHandle, ThreadedEngine


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'jobdeck.engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value
