"""``AdminService``: the operator's use cases besides the scheduler's — users, API tokens, sign-in and sign-out,
metadata import, database upgrade — each audited like the service's changes (failures included).

The server's runtime builds one over its store (``runtime.admin``: the API's and the dashboard's sign-in and
sign-out); the CLI opens one on the configured database with :meth:`AdminService.open`. Neither touches the store
or the audit trail itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from jobdeck.audit import AuditTrail
from jobdeck.auth import AccessToken, Authenticator, resolve_secret_key
from jobdeck.clock import Clock, SystemClock
from jobdeck.config import Settings
from jobdeck.errors import AuthError
from jobdeck.models import ApiToken, AuditAction, Principal, Role, User
from jobdeck.store import SqlStore, describe_database, sqlite_file, upgrade
from jobdeck.store.base import Store

__all__ = ["CLI_ACTOR", "AdminService", "MetadataRow", "database_location", "upgrade_database"]

CLI_ACTOR = "cli"
"""The actor of the audit entries of a change made with the command line."""

MetadataRow = tuple[str, str | None, str | None]
"""``(job_id, display_name, description)``, as :func:`jobdeck.metadata_file.load_metadata_file` reads them."""


class AdminService:
    """Users, API tokens and sign-ins over one store, each change recorded in the audit trail."""

    def __init__(self, *, store: Store, auth: Authenticator, audit: AuditTrail, clock: Clock) -> None:
        self._store = store
        self._auth = auth
        self._audit = audit
        self._clock = clock

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator[AdminService]:
        """An admin service on the database of ``settings``, open for the block (the command line's way in)."""
        store = SqlStore(settings.database_url)
        await store.open()
        try:
            clock = SystemClock()
            secret_key = await resolve_secret_key(store, settings.secret_key)
            auth = Authenticator(store, secret_key=secret_key, token_ttl=settings.token_ttl, clock=clock)
            yield cls(store=store, auth=auth, audit=AuditTrail(store, clock), clock=clock)
        finally:
            await store.close()

    # -- sign-in -------------------------------------------------------------------------------------------------

    async def sign_in(self, username: str, password: str, *, address: str, via: str | None = None) -> AccessToken:
        """An access token for a username and password; a failure is rolled up per (username, address).

        :raises AuthError: bad credentials, a disabled user
        :raises TooManyAttempts: too many failures lately (see ``Authenticator.login``)
        """
        where = {"via": via} if via else {}
        try:
            token = await self._auth.login(username, password, address=address)
        except AuthError as exc:
            # The entry's error is the last attempt's: "Invalid username or password" or "Too many failed sign-ins".
            await self._audit.roll_up(
                AuditAction.LOGIN_FAILED, username or "?", address=address, error=exc.message, details=where or None
            )
            raise
        await self._audit.record(AuditAction.LOGIN, username, details={**where, "address": address})
        return token

    async def sign_out(self, user: Principal, credential: str, *, via: str | None = None) -> None:
        """End the session of ``credential`` at once (an access token; an API token is revoked with the CLI)."""
        if user.via != "password":
            return
        await self._auth.sign_out(credential)
        await self._audit.record(AuditAction.LOGOUT, user.username, details={"via": via} if via else None)

    # -- users -----------------------------------------------------------------------------------------------

    async def create_user(self, username: str, password: str, role: Role, *, actor: str = CLI_ACTOR) -> User:
        """Create a user.

        :raises InvalidInput: bad username or too short a password
        :raises UserExists: the username is taken
        """
        details = {"user": username, "role": role.value}
        async with self._audit.action(AuditAction.CREATE_USER, actor, details=details):
            return await self._auth.create_user(username, password, role)

    async def list_users(self) -> list[User]:
        """Every user, by username."""
        return await self._store.list_users()

    async def set_password(self, username: str, password: str, *, actor: str = CLI_ACTOR) -> None:
        """Change a user's password; their access tokens are revoked. :raises UserNotFound: no such user"""
        async with self._audit.action(AuditAction.SET_PASSWORD, actor, details={"user": username}):
            await self._auth.set_password(username, password)

    async def set_disabled(self, username: str, disabled: bool, *, actor: str = CLI_ACTOR) -> None:
        """Disable (or enable) a user; their access tokens are revoked. :raises UserNotFound: no such user"""
        action = AuditAction.DISABLE_USER if disabled else AuditAction.ENABLE_USER
        async with self._audit.action(action, actor, details={"user": username}):
            await self._auth.set_disabled(username, disabled)

    async def set_role(self, username: str, role: Role, *, actor: str = CLI_ACTOR) -> None:
        """Change a user's role; their access tokens are revoked. :raises UserNotFound: no such user"""
        async with self._audit.action(AuditAction.SET_ROLE, actor, details={"user": username, "role": role.value}):
            await self._auth.set_role(username, role)

    # -- API tokens ------------------------------------------------------------------------------------------

    async def create_token(self, name: str, role: Role, *, actor: str = CLI_ACTOR) -> tuple[ApiToken, str]:
        """A new API token and its secret, which is returned once and never stored (nor audited)."""
        details: dict[str, Any] = {"name": name, "role": role.value}
        async with self._audit.action(AuditAction.CREATE_TOKEN, actor, details=details):
            token, secret = await self._auth.create_token(name, role, created_by=actor)
            details["token"] = token.id
        return token, secret

    async def list_tokens(self) -> list[ApiToken]:
        """Every API token, newest first (never their secrets)."""
        return await self._store.list_tokens()

    async def revoke_token(self, token_id: str, *, actor: str = CLI_ACTOR) -> None:
        """Revoke an API token; requests using it are refused from now on. :raises TokenNotFound: no such token"""
        async with self._audit.action(AuditAction.REVOKE_TOKEN, actor, details={"token": token_id}):
            await self._store.revoke_token(token_id, at=self._clock.now())

    # -- metadata --------------------------------------------------------------------------------------------

    async def import_metadata(self, rows: Sequence[MetadataRow], *, source: str, actor: str = CLI_ACTOR) -> int:
        """Set the display names and descriptions of ``rows`` as an operator's edit; returns how many were set."""
        for job_id, display_name, description in rows:
            await self._store.update_metadata(
                job_id, display_name=display_name, description=description, at=self._clock.now(), actor=actor
            )
            details = {"display_name": display_name, "description": description, "file": source}
            await self._audit.record(AuditAction.IMPORT_METADATA, actor, job_id=job_id, details=details)
        return len(rows)


async def upgrade_database(settings: Settings) -> None:
    """Apply every pending migration to the database of ``settings`` (``jobdeck serve`` does this at start too).

    :raises StoreUnavailable: the database cannot be reached
    """
    await upgrade(settings.database_url)


def database_location(settings: Settings) -> tuple[str, Path | None]:
    """The database of ``settings`` as it may be shown (driver filled in, password hidden), and the file it is in
    when it is a SQLite file (None for a server or an in-memory database).

    :raises ConfigError: the URL cannot be parsed or names another database
    """
    return describe_database(settings.database_url), sqlite_file(settings.database_url)
