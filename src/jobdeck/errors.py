"""Every error jobdeck raises on purpose.

The tree (HTTP status in brackets, mapped once in ``jobdeck.api.envelope``)::

    JobdeckError                      [500]
    ├── NotFound (LookupError)        [404]
    │   ├── JobNotFound
    │   ├── ExecutionNotFound
    │   ├── UserNotFound
    │   └── TokenNotFound
    ├── InvalidState                  [409]
    │   ├── JobAlreadyRunning         max_instances runs are going (trigger without force)
    │   ├── ExecutionNotRunning       cancel / mark-failed on a terminal run
    │   ├── ExecutionStillRunning     delete of a running run
    │   └── UserExists
    ├── InvalidInput (ValueError)     [400/422]
    │   ├── ConfigError               a bad setting or jobs file; names file, job and field
    │   └── InvalidSchedule           a schedule string that cannot be parsed
    ├── AuthError                     [401]
    │   └── InvalidCredentials
    ├── Forbidden                     [403]
    └── StoreUnavailable              [503]
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthError",
    "ConfigError",
    "ExecutionNotFound",
    "ExecutionNotRunning",
    "ExecutionStillRunning",
    "Forbidden",
    "InvalidCredentials",
    "InvalidInput",
    "InvalidSchedule",
    "InvalidState",
    "JobAlreadyRunning",
    "JobNotFound",
    "JobdeckError",
    "NotFound",
    "StoreUnavailable",
    "TokenNotFound",
    "TooManyAttempts",
    "UserExists",
    "UserNotFound",
    "error_classes",
    "error_from_code",
]


class JobdeckError(Exception):
    """Root of every error jobdeck raises on purpose."""

    code = "error"
    http_status: int | None = None
    """The HTTP status, on an error the Python client raises for a server's answer (None elsewhere)."""
    request_id: str | None = None
    """The server's id of the request, on an error the Python client raises for a server's answer."""
    data: Any = None
    """The error envelope's ``data`` (422: ``{"errors": [...]}``), on an error the Python client raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(JobdeckError, LookupError):
    """The id names nothing that exists."""

    code = "not_found"


class JobNotFound(NotFound):
    code = "job_not_found"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"Job {job_id!r} does not exist")
        self.job_id = job_id


class ExecutionNotFound(NotFound):
    code = "execution_not_found"

    def __init__(self, execution_id: str) -> None:
        super().__init__(f"Execution {execution_id!r} does not exist")
        self.execution_id = execution_id


class UserNotFound(NotFound):
    code = "user_not_found"

    def __init__(self, username: str) -> None:
        super().__init__(f"User {username!r} does not exist")
        self.username = username


class TokenNotFound(NotFound):
    code = "token_not_found"

    def __init__(self, token_id: str) -> None:
        super().__init__(f"API token {token_id!r} does not exist")
        self.token_id = token_id


class InvalidState(JobdeckError):
    """The request is well-formed but the target is in the wrong state (409)."""

    code = "invalid_state"


class JobAlreadyRunning(InvalidState):
    code = "job_already_running"

    def __init__(self, job_id: str, running: int, max_instances: int) -> None:
        super().__init__(
            f"Job {job_id!r} already has {running} running execution(s) (max_instances={max_instances}); "
            "pass force=true to start another"
        )
        self.job_id = job_id
        self.running = running
        self.max_instances = max_instances


class ExecutionNotRunning(InvalidState):
    code = "execution_not_running"

    def __init__(self, execution_id: str, status: str) -> None:
        super().__init__(f"Execution {execution_id!r} is not running (status: {status})")
        self.execution_id = execution_id
        self.status = status


class ExecutionStillRunning(InvalidState):
    code = "execution_running"

    def __init__(self, execution_id: str) -> None:
        super().__init__(f"Execution {execution_id!r} is still running; cancel it or mark it failed first")
        self.execution_id = execution_id


class UserExists(InvalidState):
    code = "user_exists"

    def __init__(self, username: str) -> None:
        super().__init__(f"User {username!r} already exists")
        self.username = username


class InvalidInput(JobdeckError, ValueError):
    """The request or configuration itself is wrong; ``field`` names the culprit when known."""

    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ConfigError(InvalidInput):
    """A setting or the jobs file is wrong. The message names the file, the job id and the field."""

    code = "config_error"

    def __init__(
        self, message: str, *, file: str | None = None, job_id: str | None = None, field: str | None = None
    ) -> None:
        where = ": ".join(
            part
            for part in (file, f"job {job_id!r}" if job_id else None, f"field {field!r}" if field else None)
            if part
        )
        super().__init__(f"{where}: {message}" if where else message, field=field)
        self.file = file
        self.job_id = job_id
        self.reason = message


class InvalidSchedule(InvalidInput):
    code = "invalid_schedule"

    def __init__(self, expression: str, reason: str) -> None:
        super().__init__(f"Invalid schedule {expression!r}: {reason}", field="schedule")
        self.expression = expression
        self.reason = reason


class AuthError(JobdeckError):
    """The caller is not signed in, or the credentials are wrong (401)."""

    code = "unauthenticated"


class InvalidCredentials(AuthError):
    code = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__("Invalid username or password")


class TooManyAttempts(AuthError):
    """Too many failed sign-ins from this address (for this user): refused without checking the password (429).

    ``retry_after`` is how many seconds the lockout has left (sent as ``Retry-After``).
    """

    code = "too_many_attempts"
    retry_after: int = 0

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed sign-ins; try again in {retry_after} s")
        self.retry_after = retry_after


class Forbidden(JobdeckError):
    """The caller is signed in but lacks the role (403)."""

    code = "forbidden"
    actor: str | None = None
    """Who was refused, when known (the audit of refused changes names them)."""

    def __init__(self, message: str, *, actor: str | None = None) -> None:
        super().__init__(message)
        self.actor = actor


class StoreUnavailable(JobdeckError):
    """The database cannot be reached (503)."""

    code = "store_unavailable"


# -- codes on the wire ---------------------------------------------------------------------------------------------

VALIDATION_ERROR_CODE = "validation_error"
"""The code of a request the HTTP layer refused before any jobdeck code ran (bad JSON, a field of the wrong type)."""


def _tree(root: type[JobdeckError]) -> list[type[JobdeckError]]:
    classes = [root]
    for sub in root.__subclasses__():
        classes.extend(_tree(sub))
    return classes


def error_classes() -> dict[str, type[JobdeckError]]:
    """Each error ``code`` that can appear in an error envelope → the class of the tree that has it.

    Derived from the tree (every class's ``code``), plus the code the HTTP layer gives input it refuses on its own
    (``validation_error`` → :class:`InvalidInput`).
    """
    registry: dict[str, type[JobdeckError]] = {}
    for cls in _tree(JobdeckError):
        registry.setdefault(cls.code, cls)
    registry.setdefault(VALIDATION_ERROR_CODE, InvalidInput)
    return registry


def error_from_code(code: str, message: str, *, fallback: type[JobdeckError] = JobdeckError) -> JobdeckError:
    """An instance of the class whose ``code`` is ``code`` (``fallback`` for a code the tree does not know).

    The instance carries ``message`` (and ``field = None`` for :class:`InvalidInput`); a subclass's own
    constructor arguments (``job_id`` …) are not known on this side and are not set.
    """
    cls = error_classes().get(code, fallback)
    error = cls.__new__(cls)
    JobdeckError.__init__(error, message)
    if isinstance(error, InvalidInput):
        error.field = None
    if error.code != code:
        error.code = code
    return error
