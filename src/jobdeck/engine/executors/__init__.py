"""Executors: where a run happens (see :class:`~jobdeck.engine.executors.base.Executor` for the contract)."""

from __future__ import annotations

from jobdeck.engine.executors.base import Executor, ExecutorFactory, JobCall, JobExit, JobFailure, UntypedExecutor
from jobdeck.engine.executors.registry import ExecutorRegistry

__all__ = ["Executor", "ExecutorFactory", "ExecutorRegistry", "JobCall", "JobExit", "JobFailure", "UntypedExecutor"]
