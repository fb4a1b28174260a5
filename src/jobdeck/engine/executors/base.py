"""The executor seam: where a run happens. One protocol, its contract written once here.

Executors today: :mod:`~jobdeck.engine.executors.python` (a coroutine on the engine's loop, or a sync function in
its thread pool), :mod:`~jobdeck.engine.executors.command` (a subprocess) and :mod:`~jobdeck.engine.executors.http`
(one HTTP request). The runner knows only :class:`Executor`; which one runs a job is the
:class:`~jobdeck.engine.executors.registry.ExecutorRegistry`'s answer for the job's kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Executor as ThreadPool
from dataclasses import dataclass
from typing import Any, Protocol

from jobdeck.engine.context import JobContext
from jobdeck.models import JobSpec

__all__ = ["Executor", "ExecutorFactory", "JobCall", "JobExit", "JobFailure", "UntypedExecutor"]


class JobFailure(Exception):
    """An executor's own way of failing (a command's exit code, an HTTP status): the run is recorded ``failed``
    with this message as its error and ``detail`` (stderr's last lines, the response body) instead of a Python
    traceback."""

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail


class JobExit(Exception):
    """A job called ``sys.exit()``. Re-raised as an ordinary error so it fails the run, not the whole process."""

    def __init__(self, code: object) -> None:
        super().__init__(f"the job called sys.exit({code!r})")
        self.code = code


@dataclass(frozen=True, kw_only=True, slots=True)
class JobCall:
    """One invocation: the run's context, the effective keyword arguments, and the pool for blocking code."""

    ctx: JobContext
    kwargs: Mapping[str, Any]
    """The job's configured kwargs merged with the run's own (the run's win); ``force`` is never in here."""
    threads: ThreadPool


class Executor(Protocol):
    """Runs the jobs of one kind, one run per :meth:`invoke`. One executor may serve several jobs; it keeps no
    state per run.

    The life of a run, as the runner drives it:

    * **start** — the runner claims the run (its ``running`` record is committed) and then creates a task on the
      engine's loop awaiting :meth:`invoke`. Nothing of the job happens before the claim.
    * **progress and logs** — the executor (or the job) reports through ``call.ctx``
      (:meth:`JobContext.progress`, :meth:`JobContext.log`): in memory, written by the engine in batches. Safe
      from any thread.
    * **heartbeat** — the engine heartbeats every run whose ``invoke`` is still pending, from its own loop; an
      executor does nothing for it. An executor whose work happens elsewhere (a worker process, a remote queue)
      must therefore keep ``invoke`` pending exactly as long as the work goes on, and raise when it loses track of
      it (the run is then recorded ``failed`` rather than heartbeating forever).
    * **cancel** — soft first: ``call.ctx`` gets its cancel flag and calls the callbacks registered with
      :meth:`JobContext.on_cancel` (a command sends SIGTERM); a job checking the flag raises
      :class:`~jobdeck.engine.context.JobCancelled`. After the cancel grace (or at a timeout or shutdown) the task
      awaiting ``invoke`` is cancelled — which stops the work only when :attr:`interruptible` is true.
    * **result** — ``invoke`` returns the run's result (stored as its return value, JSON-rendered and cut) or
      raises: :class:`JobFailure` for the executor's own failures, :class:`JobCancelled` for a cancelled run, any
      other exception as the job's error (recorded with its traceback).
    """

    @property
    def interruptible(self) -> bool:
        """Whether cancelling the task that awaits :meth:`invoke` stops the work itself (true for coroutines,
        commands and requests; false for code in a worker thread, which Python cannot kill)."""
        ...

    @property
    def parameters(self) -> dict[str, Any] | None:
        """The JSON schema of the kwargs the job takes, or None when the kind has no typed parameters."""
        ...

    def check_kwargs(self, job_id: str, kwargs: Mapping[str, Any]) -> None:
        """Validate a run's (merged) kwargs before anything starts.

        :raises KwargsInvalid: naming the parameter at fault
        """
        ...

    async def invoke(self, call: JobCall) -> Any:
        """Run the job once and return its result; its exceptions propagate unchanged (see above)."""
        ...


class UntypedExecutor:
    """What an :class:`Executor` whose work a cancelled task stops, and whose jobs take untyped kwargs, answers to
    everything but :meth:`~Executor.invoke` (a command, an HTTP request, work on a remote worker)."""

    @property
    def interruptible(self) -> bool:
        return True

    @property
    def parameters(self) -> dict[str, Any] | None:
        return None

    def check_kwargs(self, job_id: str, kwargs: Mapping[str, Any]) -> None:
        return None


class ExecutorFactory(Protocol):
    """Makes the executor of a job of the kind it is registered for."""

    def __call__(self, spec: JobSpec) -> Executor:
        """The executor for ``spec``.

        :raises ConfigError: the spec cannot run on this executor (its function cannot be imported, its target is
            missing)
        """
        ...
