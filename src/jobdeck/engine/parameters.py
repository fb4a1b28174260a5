"""A Python job's parameters as a JSON schema, and the checking of a run's kwargs against them.

The parameters are the function's keyword-passable ones, minus those jobdeck fills itself (the context and
``force``). Their type hints become a pydantic model: its JSON schema is what the API shows on the job detail (and
what the dashboard's run-now form is generated from), and validating a run's merged kwargs with it names the
parameter at fault before anything starts. A hint pydantic cannot handle is treated as "any value".
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic.errors import PydanticSchemaGenerationError, PydanticUserError

from jobdeck.errors import InvalidInput

__all__ = ["KwargsInvalid", "Parameters"]


class KwargsInvalid(InvalidInput):
    """A run's kwargs do not fit the job's parameters (422). ``field`` is ``kwargs.<parameter>``; ``problems``
    lists every (parameter, reason)."""

    code = "invalid_kwargs"

    def __init__(self, job_id: str, problems: list[tuple[str, str]]) -> None:
        summary = "; ".join(f"{name}: {reason}" for name, reason in problems)
        super().__init__(f"Invalid kwargs for job {job_id!r}: {summary}", field=f"kwargs.{problems[0][0]}")
        self.problems = problems


class Parameters:
    """The parameters of one Python job function."""

    def __init__(self, function: Callable[..., Any], *, skip: set[str]) -> None:
        self._model: type[BaseModel] | None = None
        self._schema: dict[str, Any] | None = None
        self._none = False
        try:
            signature = inspect.signature(function, eval_str=True)
        except (NameError, TypeError, SyntaxError, ValueError):
            try:
                signature = inspect.signature(function)
            except (TypeError, ValueError):
                return  # not introspectable: no schema, no checking
        fields: dict[str, Any] = {}
        extra: Literal["allow", "forbid"] = "forbid"
        for name, parameter in signature.parameters.items():
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                extra = "allow"
                continue
            if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.POSITIONAL_ONLY):
                continue
            if name in skip or name.startswith("_"):
                continue
            hint = parameter.annotation
            if hint is inspect.Parameter.empty or isinstance(hint, str) or not _supported(hint):
                hint = Any
            default = ... if parameter.default is inspect.Parameter.empty else parameter.default
            fields[name] = (hint, default)
        if not fields and extra == "forbid":
            # No parameters at all (the common case): the schema and the check need no model class, which would
            # be the largest object a registered job keeps.
            self._schema = {"additionalProperties": False, "properties": {}, "type": "object"}
            self._none = True
            return
        try:
            model = create_model(
                f"{getattr(function, '__name__', 'job')}_parameters",
                __config__=ConfigDict(extra=extra, arbitrary_types_allowed=True),
                **fields,
            )
            schema = model.model_json_schema()
        except (PydanticSchemaGenerationError, PydanticUserError, TypeError, ValueError):
            return
        schema.pop("title", None)
        self._model = model
        self._schema = schema

    @property
    def schema(self) -> dict[str, Any] | None:
        """The JSON schema of the parameters (an object schema), or None when the function cannot be read."""
        return self._schema

    def check(self, job_id: str, kwargs: Mapping[str, Any]) -> None:
        """Validate a run's kwargs (the configured ones merged with the run's own).

        :raises KwargsInvalid: a parameter is missing, unknown, or of the wrong type
        """
        if self._none and kwargs:
            raise KwargsInvalid(job_id, [(name, "unknown parameter") for name in kwargs])
        if self._model is None:
            return
        try:
            self._model.model_validate(dict(kwargs))
        except ValidationError as exc:
            raise KwargsInvalid(job_id, _problems(exc)) from None

    def coerce(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The kwargs converted to the declared types (``"5"`` → ``5`` for an ``int``, ISO text → ``date`` …);
        unchanged when they do not validate (the call then fails as Python would)."""
        if self._model is None:
            return dict(kwargs)
        try:
            model = self._model.model_validate(dict(kwargs))
        except ValidationError:
            return dict(kwargs)
        values = {name: getattr(model, name) for name in kwargs if name in type(model).model_fields}
        extra = model.model_extra or {}
        return {**dict(kwargs), **values, **{k: v for k, v in extra.items() if k in kwargs}}


def _supported(hint: Any) -> bool:
    """Whether pydantic can validate and describe the hint (else it is read as Any)."""
    from pydantic import TypeAdapter

    try:
        TypeAdapter(hint).json_schema()
    except Exception:
        return False
    return True


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "kwargs"
        if error["type"] == "extra_forbidden":
            reason = "unknown parameter"
        elif error["type"] == "missing":
            reason = "missing required parameter"
        else:
            reason = f"{error['msg']} (got {error['input']!r})"
        problems.append((location, reason))
    return problems
