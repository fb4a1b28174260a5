"""One job-spec model: a ``[[jobs]]`` table of a jobs file, or the options of ``@deck.job``, become a
:class:`~jobdeck.models.JobSpec` through the same checks, with the same message for the same mistake.

:class:`JobDefinition` is the model (pydantic): every key of a ``[[jobs]]`` table, each checked by its own validator,
and every problem of a job reported together, each under its field (``http.url`` for a nested one). What a job takes
from its surroundings when it does not say (the timezone, ``misfire_grace``, where ``func`` modules are imported
from, the decorated function) comes in as :class:`JobDefaults`. :func:`job_spec` is the one entry point: mapping in,
``JobSpec`` out, or a :class:`~jobdeck.errors.ConfigError` per problem.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, cast

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PlainValidator,
    ValidationError,
    ValidationInfo,
)
from pydantic import model_validator as _model_validator
from pydantic_core import InitErrorDetails

from jobdeck._jobspec_values import (
    HTTP_KEYS,
    HttpDefinition,
    duration,
    fail,
    flag,
    http_table,
    integer,
    optional_duration,
    seconds,
    text,
    typed,
)
from jobdeck._problems import type_name
from jobdeck._settings import ConfigErrors, did_you_mean
from jobdeck.callables import check_ref, resolve_callable
from jobdeck.errors import ConfigError, InvalidSchedule
from jobdeck.models import CommandTarget, JobKind, JobSpec, OverlapPolicy, Schedule
from jobdeck.schedules import load_timezone, parse_schedule

__all__ = [
    "JOB_ID",
    "JOB_KEYS",
    "FunctionRef",
    "HttpDefinition",
    "JobDefaults",
    "JobDefinition",
    "job_spec",
    "problems_of",
]

JOB_ID = re.compile(r"[a-z0-9_.-]{1,64}")
"""What a job id may look like."""

JOB_KEYS = (
    "id", "func", "command", "http", "schedule", "timezone", "kwargs", "display_name", "description", "tags",
    "enabled", "paused", "max_instances", "coalesce", "misfire_grace", "timeout", "retries", "retry_backoff",
    "retry_backoff_max", "jitter", "overlap", "shell", "cwd", "env",
)  # fmt: skip
"""Every key of a ``[[jobs]]`` table, in the order a job's problems are reported."""

_KINDS = ("func", "command", "http")
_COMMAND_KEYS = ("shell", "cwd", "env")
_MISSING = {
    "id": "missing required key 'id'",
    "schedule": "missing required key 'schedule' (cron, 'HH:MM', 'every 5m', '@daily' or ISO datetime)",
}

# --- the context ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class JobDefaults:
    """What a job takes from its surroundings when it does not say, passed to the model as its context."""

    timezone: str = "UTC"
    misfire_grace: float = 60.0
    search_paths: tuple[Path, ...] = ()
    """Where ``func`` modules are imported from (a jobs file: its folder, then the working directory)."""
    resolve_functions: bool = True
    """Import each enabled job's ``func`` while checking it, so a missing module is a problem of the spec."""
    base: Path | None = None
    """The folder a command's relative ``cwd`` starts from (a jobs file's folder); None: the working directory."""
    function: Callable[..., Any] | None = None
    """The decorated function: it is the job's ``func``, so the mapping must not name another kind."""


@dataclass(frozen=True, kw_only=True, slots=True)
class FunctionRef:
    """A checked ``func`` reference and, when imported, the function it names."""

    ref: str
    function: Callable[..., Any] | None = None


def _defaults(info: ValidationInfo) -> JobDefaults:
    context = info.context
    defaults = context.get("defaults") if isinstance(context, Mapping) else None
    return defaults if isinstance(defaults, JobDefaults) else JobDefaults()


def _misfire_grace(value: Any, info: ValidationInfo) -> float:
    return _defaults(info).misfire_grace if value is None else seconds(value, info)


def _job_id(value: Any) -> str:
    if value is None:
        raise fail(_MISSING["id"])
    job_id = cast(str, typed(value, (str,), "a string"))
    if not JOB_ID.fullmatch(job_id):
        raise fail(f"invalid id {job_id!r}: use 1-64 characters from a-z, 0-9, '_', '.', '-'")
    return job_id


def _func(value: Any, info: ValidationInfo) -> FunctionRef | None:
    ref = text(value)
    if ref is None:
        return None
    defaults = _defaults(info)
    try:
        # A disabled job is never registered, so its module need not import.
        if defaults.resolve_functions and info.data.get("enabled", True):
            return FunctionRef(ref=ref, function=resolve_callable(ref, search_paths=defaults.search_paths))
        check_ref(ref)
    except ConfigError as exc:
        raise fail(exc.reason) from None
    return FunctionRef(ref=ref)


def _timezone(value: Any, info: ValidationInfo) -> str:
    zone = text(value) or _defaults(info).timezone
    try:
        load_timezone(zone)
    except ValueError as exc:
        raise fail(str(exc)) from None
    return zone


def _schedule(value: Any, info: ValidationInfo) -> Schedule:
    if value is None:
        raise fail(_MISSING["schedule"])
    expression = cast(str, typed(value, (str,), "a string"))
    try:
        # A bad timezone is reported on its own field; the schedule itself is still checked, in UTC.
        return parse_schedule(expression, timezone=info.data.get("timezone", "UTC"))
    except InvalidSchedule as exc:
        raise fail(f"invalid schedule {expression!r}: {exc.reason}") from None


def _kwargs(value: Any) -> dict[str, Any]:
    return {} if value is None else dict(typed(value, (dict, Mapping), "a table of keyword arguments"))


def _tags(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    tags = typed(value, (list, tuple), "an array of strings")
    if not all(isinstance(tag, str) for tag in tags):
        raise fail(f"expected an array of strings, got {tags!r}")
    return tuple(tags)


def _overlap(value: Any) -> OverlapPolicy | None:
    name = text(value)
    if name is None:
        return None
    choices = [policy.value for policy in OverlapPolicy]
    if name not in choices:
        raise fail(f"expected one of {', '.join(choices)}, got {name!r}{did_you_mean(name, choices)}")
    return OverlapPolicy(name)


def _max_instances(value: Any, info: ValidationInfo) -> int:
    count = integer(1, 1)(value)
    overlap = info.data.get("overlap")
    if overlap is not None and overlap is not OverlapPolicy.ALLOW and count > 1:
        raise fail(
            f"max_instances = {count} needs overlap = 'allow' (overlap = {overlap.value!r} runs one run at a time)"
        )
    return count


def _cwd(value: Any, info: ValidationInfo) -> str | None:
    cwd = text(value)
    if cwd is None:
        return None
    folder = ((_defaults(info).base or Path.cwd()) / cwd).resolve()
    if not folder.is_dir():
        raise fail(f"no such directory: {folder}")
    return str(folder)


def _env(value: Any) -> dict[str, str]:
    env = {} if value is None else dict(typed(value, (dict, Mapping), "a table of environment variables"))
    if not all(isinstance(item, str) for item in env.values()):
        raise fail("every environment value must be a string")
    return env


def _command(value: Any, info: ValidationInfo) -> CommandTarget | None:
    """``command`` (argv array, or a string split like a shell would) with ``shell``, ``cwd``, ``env``."""
    if value is None:
        return None
    shell = bool(info.data.get("shell", False))
    argv: list[str] = []
    script: str | None = None
    if isinstance(value, list | tuple) and value and all(isinstance(part, str) for part in value):
        argv = list(value)
        script = shlex.join(argv) if shell else None
    elif isinstance(value, str) and value.strip():
        if shell:
            script = value
        else:
            try:
                argv = shlex.split(value)
            except ValueError as exc:
                raise fail(f"cannot split {value!r} like a shell would: {exc}") from None
    else:
        raise fail(f"expected a non-empty array of strings or a command line, got {type_name(value)} {value!r}")
    return CommandTarget(
        argv=tuple(argv), shell=shell, script=script, cwd=info.data.get("cwd"), env=info.data.get("env", {})
    )


# --- the model -----------------------------------------------------------------------------------------------------


class JobDefinition(BaseModel):
    """One job as written: every key of a ``[[jobs]]`` table (the decorator's options are the same keys).

    Validate with ``JobDefinition.model_validate(mapping, context={"defaults": JobDefaults(...)})`` (or
    :func:`job_spec`). Every problem is a pydantic error of type ``jobdeck`` whose ``loc`` is the field (``("http",
    "url")`` for a nested one) and whose ``msg`` is the message ``jobdeck check`` prints.
    """

    # Built at the first validation, not at import: most commands importing config never check a job.
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True, defer_build=True)

    # Declared so that a field's validator sees the fields it depends on (info.data holds the ones before it).
    id: Annotated[str, PlainValidator(_job_id)] = Field(default=None, validate_default=True)
    enabled: Annotated[bool, flag(True)] = True
    func: Annotated[FunctionRef | None, PlainValidator(_func)] = None
    shell: Annotated[bool, flag(False)] = False
    cwd: Annotated[str | None, PlainValidator(_cwd)] = None
    env: Annotated[dict[str, str], PlainValidator(_env)] = Field(default_factory=dict)
    command: Annotated[CommandTarget | None, PlainValidator(_command)] = None
    http: Annotated[HttpDefinition | None, BeforeValidator(http_table)] = None
    timezone: Annotated[str, PlainValidator(_timezone)] = Field(default=None, validate_default=True)
    schedule: Annotated[Schedule, PlainValidator(_schedule)] = Field(default=None, validate_default=True)
    kwargs: Annotated[dict[str, Any], PlainValidator(_kwargs)] = Field(default_factory=dict)
    display_name: Annotated[str | None, PlainValidator(text)] = None
    description: Annotated[str | None, PlainValidator(text)] = None
    tags: Annotated[tuple[str, ...], PlainValidator(_tags)] = ()
    paused: Annotated[bool, flag(False)] = False
    coalesce: Annotated[bool, flag(True)] = True
    overlap: Annotated[OverlapPolicy | None, PlainValidator(_overlap)] = None
    max_instances: Annotated[int, PlainValidator(_max_instances)] = 1
    retries: Annotated[int, PlainValidator(integer(0, 0))] = 0
    misfire_grace: Annotated[float, PlainValidator(_misfire_grace)] = Field(default=None, validate_default=True)
    retry_backoff: Annotated[float, duration(30.0)] = 30.0
    timeout: Annotated[float | None, optional_duration(positive=True)] = None
    jitter: Annotated[float | None, optional_duration(positive=False)] = None
    retry_backoff_max: Annotated[float, duration(3600.0)] = 3600.0

    @_model_validator(mode="wrap")
    @classmethod
    def _whole_job(
        cls, data: Any, handler: ModelWrapValidatorHandler[JobDefinition], info: ValidationInfo
    ) -> JobDefinition:
        """The rules across keys (unknown keys, exactly one kind, command-only keys), then every field's own; all
        problems raised together, each in jobdeck's words, in the order of :data:`JOB_KEYS`."""
        if not isinstance(data, Mapping):
            raise ValidationError.from_exception_data(
                cls.__name__, [_problem((), f"expected a table [[jobs]], got {type_name(data)}", data)]
            )
        table = {key: value for key, value in data.items() if key in JOB_KEYS}
        problems = [
            _problem((key,), f"unknown key {key!r}{did_you_mean(str(key), JOB_KEYS)}", value)
            for key, value in data.items()
            if key not in JOB_KEYS
        ]
        kinds = [kind for kind in _KINDS if kind in table or (kind == "func" and _defaults(info).function)]
        if kinds[:1] != ["command"]:
            for key in _COMMAND_KEYS:
                if key in table:
                    problems.append(_problem((key,), f"{key!r} belongs to command jobs (command = [...]) only", None))
                    del table[key]
        if not kinds:
            problems.append(_problem(("func",), "missing 'func' (the job's function, as 'module:function')", None))
        elif len(kinds) > 1:
            problems.append(
                _problem((kinds[1],), f"give only one of 'func', 'command', 'http'; found {', '.join(kinds)}", None)
            )
            for key in (*_KINDS, *_COMMAND_KEYS):  # which kind is meant is unclear: none of their values is checked
                table.pop(key, None)
        try:
            job = handler(table)
        except ValidationError as exc:
            problems += [_problem(error["loc"], _reason(error), error["input"]) for error in exc.errors()]
        else:
            if not problems:
                return job
        order = {key: index for index, key in enumerate(JOB_KEYS)}
        problems.sort(key=lambda problem: order.get(str(problem["loc"][0]), -1) if problem["loc"] else -1)
        raise ValidationError.from_exception_data(cls.__name__, problems)

    def to_spec(self, *, function: Callable[..., Any] | None = None) -> JobSpec:
        """The frozen :class:`JobSpec` of this job; ``function`` is the decorated function, when there is one."""
        func = self.func or FunctionRef(ref="")
        if function is not None:
            func = FunctionRef(ref=f"{function.__module__}:{function.__qualname__}", function=function)
        kind = JobKind.COMMAND if self.command else JobKind.HTTP if self.http else JobKind.PYTHON
        return JobSpec(
            id=self.id,
            func=func.ref,
            schedule=self.schedule,
            function=func.function,
            kind=kind,
            command=self.command,
            http=self.http.to_target() if self.http is not None else None,
            overlap=self.overlap,
            retry_backoff_max=self.retry_backoff_max,
            timezone=self.timezone,
            kwargs=dict(self.kwargs),
            display_name=self.display_name,
            description=self.description,
            tags=self.tags,
            enabled=self.enabled,
            paused=self.paused,
            max_instances=self.max_instances,
            coalesce=self.coalesce,
            misfire_grace=self.misfire_grace,
            timeout=self.timeout,
            retries=self.retries,
            retry_backoff=self.retry_backoff,
            jitter=self.jitter,
        )


def _problem(loc: Sequence[str | int], reason: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=fail(reason), loc=tuple(loc), input=value)


def _reason(error: Any) -> str:
    """jobdeck's message for one pydantic error (pydantic's own words only for what jobdeck never words itself)."""
    loc = [str(part) for part in error["loc"]]
    if error["type"] == "extra_forbidden":
        choices = HTTP_KEYS if loc[:1] == ["http"] else JOB_KEYS
        return f"unknown key {loc[-1]!r}{did_you_mean(loc[-1], choices)}"
    return str(error["msg"])


def problems_of(error: ValidationError) -> list[tuple[str, str]]:
    """``(field, message)`` of each problem of a failed :class:`JobDefinition` (``http.url`` for a nested field)."""
    return [(".".join(str(part) for part in item["loc"]), _reason(item)) for item in error.errors()]


def job_spec(table: Mapping[str, Any], *, defaults: JobDefaults, label: str | None = None) -> JobSpec:
    """Check one job (a ``[[jobs]]`` table, or the decorator's id, schedule and options) and build its spec.

    :raises ConfigErrors: every problem of the job, each a :class:`ConfigError` naming the job (``label``, else the
        job's id) and the field
    """
    try:
        job = JobDefinition.model_validate(table, context={"defaults": defaults})
    except ValidationError as exc:
        raw_id = table.get("id") if isinstance(table, Mapping) else None
        job_id = label if label is not None else raw_id if isinstance(raw_id, str) and raw_id else None
        errors = [ConfigError(reason, job_id=job_id, field=field) for field, reason in problems_of(exc)]
        raise ConfigErrors(errors) from None
    return job.to_spec(function=defaults.function)
