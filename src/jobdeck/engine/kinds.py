"""Job kinds: how one kind of job is called — Python callables here, commands (``kinds_command``) and HTTP requests
(``kinds_http``) beside.

The runner needs from a kind: ``invoke()`` (run the job once, return its result or raise), ``interruptible``
(whether cancelling the asyncio task running ``invoke()`` actually stops the job — true for coroutines, commands
and requests, false for code in a worker thread, which Python cannot kill), and the job's ``parameters`` (a JSON
schema, or None) with ``check_kwargs()`` validating a run's kwargs against them.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import importlib
import inspect
import typing
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Protocol

from jobdeck.engine.context import JobContext
from jobdeck.engine.parameters import Parameters
from jobdeck.errors import ConfigError
from jobdeck.models import JobKind, JobSpec

__all__ = [
    "JobCall",
    "JobExit",
    "JobFailure",
    "JobInvoker",
    "PythonInvoker",
    "invoker_for",
    "resolve_callable",
]


class JobFailure(Exception):
    """A job kind's own way of failing (a command's exit code, an HTTP status): the run is recorded ``failed``
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
    threads: Executor


class JobInvoker(Protocol):
    """Runs one kind of job."""

    @property
    def interruptible(self) -> bool:
        """Whether cancelling the task that awaits :meth:`invoke` stops the job itself."""
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
        """Run the job once and return its result; its exceptions propagate unchanged."""
        ...


class PythonInvoker:
    """A Python callable: coroutine functions run on the loop, everything else in the thread pool.

    A parameter named ``ctx`` (or annotated ``JobContext``) receives the context; a parameter named ``force``
    receives the trigger's force flag. Sync functions run in a copy of the caller's contextvars context, so
    :func:`~jobdeck.engine.context.update_job_progress` finds its run from the worker thread too.
    """

    def __init__(self, function: Callable[..., Any]) -> None:
        self._function = function
        self._is_async = _is_coroutine_callable(function)
        self._ctx_params, self._takes_force = _special_parameters(function)
        self._parameters = Parameters(function, skip={*self._ctx_params, "force"})

    @property
    def interruptible(self) -> bool:
        return self._is_async

    @property
    def parameters(self) -> dict[str, Any] | None:
        return self._parameters.schema

    def check_kwargs(self, job_id: str, kwargs: Mapping[str, Any]) -> None:
        self._parameters.check(job_id, kwargs)

    async def invoke(self, call: JobCall) -> Any:
        kwargs = self._parameters.coerce(call.kwargs)
        for name in self._ctx_params:
            kwargs[name] = call.ctx
        if self._takes_force:
            kwargs["force"] = call.ctx.force
        if self._is_async:
            try:
                return await self._function(**kwargs)
            except SystemExit as exc:
                raise JobExit(exc.code) from exc
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        result = await loop.run_in_executor(
            call.threads, functools.partial(context.run, _call_in_thread, self._function, kwargs)
        )
        if inspect.isawaitable(result):
            # A sync wrapper that hands back a coroutine (a lambda around an async function, say): finish it here.
            result = await result
        return result


def _call_in_thread(function: Callable[..., Any], kwargs: Mapping[str, Any]) -> Any:
    try:
        return function(**kwargs)
    except SystemExit as exc:
        raise JobExit(exc.code) from exc


def invoker_for(
    spec: JobSpec, cache: dict[int, tuple[object, JobInvoker]] | None = None, *, command_env: tuple[str, ...] = ("*",)
) -> JobInvoker:
    """The invoker for a job, resolving ``spec.func`` when ``spec.function`` is not set.

    ``command_env``: the variables of this process command jobs get (see :class:`CommandInvoker`). ``cache`` (by
    the callable's identity) shares one invoker between the jobs of one Python callable: an invoker
    holds nothing per job, and its parameter model (a pydantic class) is the largest part of a registered job.

    :raises ConfigError: the kind is not supported, or the function cannot be imported
    """
    if spec.kind is JobKind.PYTHON:
        function = spec.function if spec.function is not None else resolve_callable(spec.func, job_id=spec.id)
        if cache is None:
            return PythonInvoker(function)
        # The cached pair keeps the callable alive, so its id cannot be reused by another object.
        known = cache.get(id(function))
        if known is None or known[0] is not function:
            known = cache[id(function)] = (function, PythonInvoker(function))
        return known[1]
    if spec.kind is JobKind.COMMAND and spec.command is not None:
        from jobdeck.engine.kinds_command import CommandInvoker

        return CommandInvoker(spec.command, pass_env=command_env)
    if spec.kind is JobKind.HTTP and spec.http is not None:
        from jobdeck.engine.kinds_http import HttpInvoker

        return HttpInvoker(spec.http)
    raise ConfigError(f"job kind {spec.kind!r} is not supported by this engine", job_id=spec.id, field="kind")


def resolve_callable(reference: str, *, job_id: str | None = None) -> Callable[..., Any]:
    """Import ``"package.module:function"`` (the part after the colon may be dotted, e.g. ``Class.method``).

    :raises ConfigError: the reference is malformed, the module cannot be imported, or the target is missing
        or not callable
    """
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"expected 'module:function', got {reference!r}", job_id=job_id, field="func")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import module {module_name!r}: {exc}", job_id=job_id, field="func") from exc
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise ConfigError(f"{reference!r}: no attribute {part!r}", job_id=job_id, field="func") from exc
    if not callable(target):
        raise ConfigError(f"{reference!r} is not callable", job_id=job_id, field="func")
    return target  # type: ignore[no-any-return]


def _is_coroutine_callable(function: Callable[..., Any]) -> bool:
    # inspect.iscoroutinefunction sees through functools.partial; objects with an async __call__ count too.
    if inspect.iscoroutinefunction(function):
        return True
    if inspect.isfunction(function) or inspect.ismethod(function):
        return False
    # An instance whose class (or a base) defines `async def __call__`.
    call = next((klass.__dict__["__call__"] for klass in type(function).__mro__ if "__call__" in klass.__dict__), None)
    return call is not None and inspect.iscoroutinefunction(call)


def _special_parameters(function: Callable[..., Any]) -> tuple[tuple[str, ...], bool]:
    """Names of the parameters that receive the context, and whether one named ``force`` exists."""
    try:
        signature = inspect.signature(function, eval_str=True)
    except (NameError, TypeError, SyntaxError):
        # Annotations that cannot be evaluated (forward references to unimported names): read them as text.
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):
            return (), False
    except ValueError:
        return (), False
    ctx_params = []
    takes_force = False
    for name, parameter in signature.parameters.items():
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
            continue
        if name == "ctx" or _is_context_annotation(parameter.annotation):
            ctx_params.append(name)
        elif name == "force":
            takes_force = True
    return tuple(ctx_params), takes_force


def _is_context_annotation(annotation: object) -> bool:
    if annotation is JobContext:
        return True
    if JobContext in typing.get_args(annotation):  # JobContext | None
        return True
    if isinstance(annotation, str):
        text = annotation.replace(" ", "")
        return text in ("JobContext", "JobContext|None", "Optional[JobContext]") or text.endswith(".JobContext")
    return False
