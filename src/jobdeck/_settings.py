"""Settings: ``JOBDECK_*`` environment variables and ``.env``, with errors that name the variable.

Public names are re-exported by :mod:`jobdeck.config`; import them from there.
"""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from jobdeck.errors import ConfigError
from jobdeck.schedules import load_timezone, parse_duration

__all__ = ["ENV_PREFIX", "ConfigErrors", "Settings", "detect_local_timezone"]

ENV_PREFIX = "JOBDECK_"
_DURATION_FIELDS = (
    "heartbeat_interval",
    "zombie_after",
    "cancel_grace",
    "misfire_grace",
    "shutdown_grace",
    "token_ttl",
    "login_window",
    "login_max_lockout",
)
_POSITIVE_DURATIONS = frozenset(
    {"heartbeat_interval", "zombie_after", "token_ttl", "login_window", "login_max_lockout"}
)
MIN_SECRET_KEY_BYTES = 32
_SECRET_FIELDS = frozenset({"secret_key", "admin_password", "database_url"})  # never echo their values


class ConfigErrors(ConfigError):
    """Several configuration problems found together; the message lists them one per line, ``errors`` one by one.

    With a single problem it reads (and carries ``file``, ``job_id``, ``field``) exactly like that problem.
    """

    def __init__(self, errors: Sequence[ConfigError], *, file: str | None = None) -> None:
        self.errors = tuple(errors)
        if len(self.errors) == 1:
            only = self.errors[0]
            super().__init__(only.reason, file=only.file, job_id=only.job_id, field=only.field)
        else:
            lines = "\n".join(f"  {error.message}" for error in self.errors)
            super().__init__(f"{len(self.errors)} problems:\n{lines}", file=file)


class _InvalidSettings(ConfigErrors):
    """Settings could not be built; ``problems`` keeps (field, reason) pairs so a caller can name the source."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = tuple(problems)
        super().__init__([ConfigError(f"{ENV_PREFIX}{key.upper()}: {reason}") for key, reason in problems])


def detect_local_timezone(environ: Mapping[str, str] | None = None, root: Path = Path("/")) -> str:
    """The machine's IANA timezone: from ``TZ``, ``/etc/timezone``, or the ``/etc/localtime`` symlink; else UTC."""
    env = os.environ if environ is None else environ
    candidates = [env.get("TZ", "").strip().removeprefix(":")]
    with contextlib.suppress(OSError, UnicodeDecodeError):
        candidates.append((root / "etc" / "timezone").read_text(encoding="utf-8").strip())
    with contextlib.suppress(OSError):
        candidates.append(os.readlink(root / "etc" / "localtime"))
    for candidate in candidates:
        # Paths such as /usr/share/zoneinfo/Europe/Berlin (from TZ or the symlink) name the zone after "zoneinfo/".
        name = candidate.rpartition("zoneinfo/")[2].removeprefix("posix/")
        try:
            load_timezone(name)
        except ValueError:
            continue
        return name
    return "UTC"


class Settings(BaseSettings):
    """jobdeck's settings, from ``JOBDECK_*`` environment variables and a ``.env`` file (or keyword arguments).

    Durations are seconds, given as numbers or strings such as ``"10s"``, ``"5m"``, ``"12h"``.

    :raises ConfigError: a bad value, named by its variable (``JOBDECK_ZOMBIE_AFTER: …``)
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
        use_attribute_docstrings=True,
    )

    database_url: str = Field(default="sqlite+aiosqlite:///./jobdeck.db", min_length=1)
    """SQLAlchemy URL: ``sqlite+aiosqlite:///path.db`` or ``postgresql+asyncpg://…``; ``memory://`` keeps everything in
    this process's memory (for tests: see :mod:`jobdeck.testing`)."""
    timezone: str = Field(default_factory=detect_local_timezone)
    """IANA zone times are displayed in; the machine's own by default."""
    secret_key: str | None = Field(default=None, repr=False)
    """Signs access tokens: at least 32 bytes (a shorter one is refused at start). Unset: a random 64-character
    key is generated on first start and stored in the database, shared by every process using it."""
    admin_password: str | None = Field(default=None, repr=False)
    """Password of the ``admin`` user created on first start."""
    heartbeat_interval: float = 10.0
    """Seconds between heartbeats of running executions."""
    zombie_after: float = 60.0
    """A running execution without a heartbeat for this long belongs to a dead process."""
    cancel_grace: float = 10.0
    """Seconds a cancelled job gets to stop by itself before it is stopped."""
    misfire_grace: float = 60.0
    """Default seconds a late fire may still run; later it is recorded ``missed``."""
    shutdown_grace: float = 30.0
    """Seconds running jobs get to finish at shutdown."""
    retention_days: int = Field(default=90, ge=1)
    """Executions and logs older than this are pruned."""
    token_ttl: float = 12 * 3600.0
    """Lifetime of an access token from ``/api/auth/login`` (a password or role change, disabling the user or
    signing out revokes it sooner)."""
    login_user_failures: int = Field(default=5, ge=0)
    """Failed passwords for one username from one client address within ``login_window`` before that pair is
    locked out (429 with ``Retry-After``); 0 turns it off. Five is generous for typos and leaves a guesser 5
    guesses a minute, fewer as lockouts grow; the user still signs in from another address meanwhile."""
    login_address_failures: int = Field(default=20, ge=0)
    """Failed passwords from one client address (any usernames) within ``login_window`` before the address is
    locked out; 0 turns it off. Above the per-user limit so a few people behind one NAT do not lock each other out
    by typos, low enough that one address cannot spray passwords over many usernames."""
    login_window: float = 60.0
    """Seconds over which failed sign-ins are counted, and the length of a first lockout."""
    login_max_lockout: float = 900.0
    """Each new lockout of a (user, address) or address doubles the last (60 s, 2 min, 4 min …) up to this."""
    command_env: str = "*"
    """Which variables of jobdeck's environment command jobs get: comma-separated names or patterns
    (``PATH,HOME,LANG,LC_*``); ``*`` passes all. ``JOBDECK_*`` variables (the secret key, the admin password, the
    database URL …) are never passed; a job's own ``env`` table is always added."""
    jobs_file: Path | None = None
    """The TOML jobs file ``jobdeck serve`` loads."""
    engine_thread: bool | None = None
    """Run the engine (timer, runs, their writes) on a thread and event loop of its own, so a busy API does not
    delay scheduled starts. Job coroutines then run on that loop, not the host app's. Unset: ``jobdeck serve``
    turns it on (except on in-memory SQLite), an app embedding jobdeck runs the engine on its own loop."""
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Level of jobdeck's own log lines (``jobdeck serve``'s output; an embedding app keeps its own logging). At
    INFO a run's start and end are logged up to a budget per 10 s, the rest summed up; at DEBUG every one."""
    log_format: Literal["text", "json"] = "text"
    """``text``: one readable line per record; ``json``: one JSON object per line."""
    serve_gc_tuning: bool = True
    """``jobdeck serve`` only: freeze the start-up heap, pause garbage collection during a burst of fires, switch
    threads every 0.1 ms (see :mod:`jobdeck.server`). An app embedding jobdeck is never tuned."""

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _InvalidSettings(_validation_problems(exc)) from None

    @field_validator(*_DURATION_FIELDS, mode="before")
    @classmethod
    def _parse_duration(cls, value: Any, info: ValidationInfo) -> float:
        name = info.field_name or "duration"
        seconds = parse_duration(value, field=name)
        if name in _POSITIVE_DURATIONS and seconds <= 0:
            raise ValueError(f"must be greater than zero, got {value!r}")
        return seconds

    @field_validator("zombie_after")
    @classmethod
    def _zombie_after_heartbeat(cls, value: float, info: ValidationInfo) -> float:
        heartbeat = info.data.get("heartbeat_interval")  # declared earlier, so already validated (if valid)
        if isinstance(heartbeat, float) and value <= heartbeat:
            raise ValueError(f"must be greater than heartbeat_interval ({heartbeat:g} s), got {value:g} s")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        load_timezone(value)
        return value

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _any_case(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        value = value.strip()
        return value.upper() if info.field_name == "log_level" else value.lower()

    @field_validator("secret_key", "admin_password", "jobs_file", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: str | None) -> str | None:
        # Anyone who can guess the key can sign tokens for any user, admin included.
        if value is not None and len(value.encode()) < MIN_SECRET_KEY_BYTES:
            raise ValueError(
                f"must be at least {MIN_SECRET_KEY_BYTES} bytes, got {len(value.encode())}; generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`, or unset it to use a stored random key"
            )
        return value

    @field_validator("command_env", mode="before")
    @classmethod
    def _joined(cls, value: Any) -> Any:
        if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
            return ",".join(value)
        return value

    @property
    def command_env_patterns(self) -> tuple[str, ...]:
        """``command_env`` split into its names and patterns."""
        return tuple(part.strip() for part in self.command_env.split(",") if part.strip())

    def with_overrides(self, overrides: Mapping[str, Any], *, source: str | Path | None = None) -> Settings:
        """A copy with the jobs file's ``[scheduler]`` table applied (same names as the fields, lower-case).

        ``source`` (the jobs file) is named in errors.

        :raises ConfigError: an unknown key, a bad value, or ``zombie_after`` not above ``heartbeat_interval``
        """
        if not overrides:
            return self
        settings, problems = setting_problems(overrides, base=self)
        if settings is None:
            file = str(source) if source is not None else None
            raise ConfigErrors(
                [ConfigError(reason, file=file, field=f"scheduler.{key}") for key, reason in problems], file=file
            )
        return settings


def setting_problems(
    overrides: Mapping[str, Any],
    *,
    base: Settings | None = None,
) -> tuple[Settings | None, list[tuple[str, str]]]:
    """Check a ``[scheduler]``-style table: the settings it makes on top of ``base`` (or of the environment), or
    None and its problems as (key, reason) pairs.

    Without ``base``, problems of the environment itself are left out: only the table's keys are judged.
    """
    problems = [
        (str(key), f"unknown setting {key!r}{did_you_mean(str(key), Settings.model_fields)}")
        for key in overrides
        if key not in Settings.model_fields
    ]
    known = {key: value for key, value in overrides.items() if key in Settings.model_fields}
    try:
        # Keyword arguments outrank the environment, so base's values plus the table's are exactly what is built.
        settings = Settings(**({**base.model_dump(), **known} if base is not None else known))
    except _InvalidSettings as exc:
        related = set(known) | ({"zombie_after"} if "heartbeat_interval" in known else set())
        problems += [(key, reason) for key, reason in exc.problems if base is not None or key in related]
        return None, problems
    return (None if problems else settings), problems


def _validation_problems(exc: ValidationError) -> list[tuple[str, str]]:
    """(field name, reason) for each error pydantic found, worded for people."""
    problems: list[tuple[str, str]] = []
    for error in exc.errors(include_url=False):
        key = str(error["loc"][0]) if error["loc"] else "settings"
        reason = error["msg"].removeprefix("Value error, ").removeprefix(f"{key}: ")
        if error["type"] != "value_error" and key not in _SECRET_FIELDS:
            reason += f", got {error['input']!r}"
        problems.append((key, reason))
    return problems


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'schedule'?)`` when a choice is close to ``word``; else empty."""
    close = difflib.get_close_matches(word.lower(), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
