"""The Python executor: a coroutine function runs on the engine's loop, anything else in its thread pool."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import importlib
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

from jobdeck.engine.context import JobContext
from jobdeck.engine.executors.base import Executor, JobCall, JobExit
from jobdeck.engine.parameters import Parameters
from jobdeck.errors import ConfigError
from jobdeck.models import JobSpec

__all__ = ["PythonExecutor", "PythonExecutors", "resolve_callable"]


class PythonExecutor:
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


class PythonExecutors:
    """The :class:`~jobdeck.engine.executors.base.ExecutorFactory` of Python jobs: resolves ``spec.func`` when
    ``spec.function`` is not set, and shares one executor between the jobs of one callable (an executor holds
    nothing per job, and its parameter model, a pydantic class, is the largest part of a registered job)."""

    def __init__(self) -> None:
        self._known: dict[int, tuple[object, PythonExecutor]] = {}

    def __call__(self, spec: JobSpec) -> Executor:
        function = spec.function if spec.function is not None else resolve_callable(spec.func, job_id=spec.id)
        # The cached pair keeps the callable alive, so its id cannot be reused by another object.
        known = self._known.get(id(function))
        if known is None or known[0] is not function:
            known = self._known[id(function)] = (function, PythonExecutor(function))
        return known[1]


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
