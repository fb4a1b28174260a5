"""Which executor runs a job: a registry keyed by job kind."""

from __future__ import annotations

from jobdeck.engine.executors.base import Executor, ExecutorFactory
from jobdeck.engine.executors.command import CommandExecutor
from jobdeck.engine.executors.python import PythonExecutors
from jobdeck.errors import ConfigError
from jobdeck.models import JobKind, JobSpec

__all__ = ["ExecutorRegistry"]


class ExecutorRegistry:
    """The executor factory of each job kind. A new place to run jobs (a worker queue, say) is a new kind
    registered here; the engine and its runner do not change.

    :meth:`default` registers the built-in kinds: ``python``, ``command`` and ``http``.
    """

    def __init__(self) -> None:
        self._factories: dict[JobKind, ExecutorFactory] = {}

    @classmethod
    def default(cls, *, command_env: tuple[str, ...] = ("*",)) -> ExecutorRegistry:
        """The built-in executors. ``command_env``: the variables of this process command jobs get (see
        :func:`~jobdeck.engine.executors.command.command_environment`)."""
        registry = cls()
        registry.register(JobKind.PYTHON, PythonExecutors())
        registry.register(JobKind.COMMAND, _CommandExecutors(command_env))
        registry.register(JobKind.HTTP, _http_executor)
        return registry

    def register(self, kind: JobKind, factory: ExecutorFactory) -> None:
        """Run the jobs of ``kind`` on the executors ``factory`` makes (replacing the kind's factory, if any)."""
        self._factories[kind] = factory

    def for_spec(self, spec: JobSpec) -> Executor:
        """The executor that runs ``spec``.

        :raises ConfigError: no executor is registered for the job's kind, or its factory refuses the spec
        """
        factory = self._factories.get(spec.kind)
        if factory is None:
            raise ConfigError(f"job kind {spec.kind!r} is not supported by this engine", job_id=spec.id, field="kind")
        return factory(spec)


class _CommandExecutors:
    def __init__(self, pass_env: tuple[str, ...]) -> None:
        self._pass_env = pass_env

    def __call__(self, spec: JobSpec) -> Executor:
        if spec.command is None:
            raise ConfigError(f"job kind {spec.kind!r} is not supported by this engine", job_id=spec.id, field="kind")
        return CommandExecutor(spec.command, pass_env=self._pass_env)


def _http_executor(spec: JobSpec) -> Executor:
    from jobdeck.engine.executors.http import HttpExecutor  # httpx is imported only by a process with HTTP jobs

    if spec.http is None:
        raise ConfigError(f"job kind {spec.kind!r} is not supported by this engine", job_id=spec.id, field="kind")
    return HttpExecutor(spec.http)
