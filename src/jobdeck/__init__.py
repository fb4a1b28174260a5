"""jobdeck: a control plane for scheduled jobs.

Public names are loaded on first use, so ``from jobdeck import JobContext`` in a job module stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from jobdeck._version import __version__ as __version__

__all__ = [
    "ExecutionStatus",
    "JobCancelled",
    "JobContext",
    "JobDeck",
    "JobdeckError",
    "Principal",
    "Role",
    "Settings",
    "create_app",
    "update_job_progress",
]

_WHERE = {
    "ExecutionStatus": "jobdeck.models",
    "JobCancelled": "jobdeck.engine.context",
    "JobContext": "jobdeck.engine.context",
    "JobDeck": "jobdeck.api.app",
    "JobdeckError": "jobdeck.errors",
    "Principal": "jobdeck.models",
    "Role": "jobdeck.models",
    "Settings": "jobdeck.config",
    "create_app": "jobdeck.api.app",
    "update_job_progress": "jobdeck.engine.context",
}

if TYPE_CHECKING:
    from jobdeck.api.app import JobDeck, create_app
    from jobdeck.config import Settings
    from jobdeck.engine.context import JobCancelled, JobContext, update_job_progress
    from jobdeck.errors import JobdeckError
    from jobdeck.models import ExecutionStatus, Principal, Role


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'jobdeck' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value
