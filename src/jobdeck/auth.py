"""Users, password hashes, access tokens (JWT) and API tokens (``jd_…``), roles viewer and admin."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn, TypeVar

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from jobdeck.clock import Clock
from jobdeck.errors import (
    AuthError,
    InvalidCredentials,
    InvalidInput,
    StoreUnavailable,
    TooManyAttempts,
    UserExists,
    UserNotFound,
)
from jobdeck.ids import new_id
from jobdeck.login_throttle import LoginLimits, LoginThrottle
from jobdeck.models import ApiToken, Principal, Role, User
from jobdeck.store.base import AuthStore

T = TypeVar("T")

__all__ = ["CSRF_COOKIE", "SESSION_COOKIE", "AccessToken", "Authenticator", "hash_token", "resolve_secret_key"]

API_TOKEN_PREFIX = "jd_"
SESSION_COOKIE = "jobdeck_session"
"""The dashboard's session cookie: it holds the signed access token itself (HttpOnly, SameSite=Lax)."""
CSRF_COOKIE = "jobdeck_csrf"
"""A random nonce per browser; forms carry an HMAC of it and the session (signed double-submit)."""
_JWT_ALGORITHM = "HS256"
_SECRET_SETTING = "secret_key"
_MIN_PASSWORD = 8


@dataclass(frozen=True, kw_only=True, slots=True)
class AccessToken:
    access_token: str
    expires_in: int
    token_type: str = "bearer"


def hash_token(secret: str) -> str:
    """SHA-256 of an API token: tokens are long random strings, so a fast hash is enough (unlike passwords)."""
    return hashlib.sha256(secret.encode()).hexdigest()


async def resolve_secret_key(store: AuthStore, configured: str | None) -> str:
    """The configured secret key, or the one generated and stored on first start (shared by every replica).

    Insert-if-absent, then read back what won: processes starting together on a fresh database all end up with
    the first one's key, so a token signed by one is accepted by every other.
    """
    if configured:
        return configured
    return await store.set_setting_if_absent(_SECRET_SETTING, secrets.token_urlsafe(48))


_MAX_VERIFIED = 1000
_HASH_THREADS = 1
"""Password hashes run on this many threads of their own: a flood of sign-ins can neither block the event loop
nor take the threads sync jobs and the database driver use, and one hash at a time (≈ 50 ms, about 20 sign-ins
a second) leaves the other cores to the jobs and the API."""
_HASH_NICENESS = 10
"""Linux: the hash thread runs at this lower priority (``nice``), so the scheduler's threads win the CPU from it."""
_MAX_HASHING = 32
"""Sign-ins waiting for a hash at most; past it more are refused at once (429, retry after 1 s)."""
LOCKED_OUT_DELAY = 0.25
"""Seconds a locked-out sign-in waits before its 429: a client retrying in a loop then sends a few requests a
second per connection, not thousands (each cheap, but together they would take the process's CPU from its jobs)."""
USER_STATE_TTL = 1.0
"""Seconds a user's token version and ``disabled`` flag are trusted from memory. Changes made through this process
apply at once; a change made by another process (``jobdeck users disable`` …) applies within this time."""


@dataclass(frozen=True, kw_only=True, slots=True)
class _UserState:
    token_version: int
    disabled: bool
    revoked: frozenset[str]
    """Ids of the user's tokens signed out one by one."""
    read_at: float
    """``time.monotonic()`` of the read."""


def _lower_priority() -> None:
    # On Linux a thread's nice value is its own (the thread id names it); elsewhere this does nothing.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _HASH_NICENESS)


class Authenticator:
    """Signs users in and turns bearer credentials into a :class:`Principal`.

    Access tokens carry an id (``jti``) and the user's token version (``ver``): a password change, a role
    change and disabling the user bump the version, which refuses every older token at once; signing out revokes
    the one token by its id.
    """

    def __init__(
        self,
        store: AuthStore,
        *,
        secret_key: str,
        token_ttl: float,
        clock: Clock,
        login_limits: LoginLimits | None = None,
    ) -> None:
        self._store = store
        self._secret_key = secret_key
        self._token_ttl = token_ttl
        self._clock = clock
        self._hasher = PasswordHasher()
        self._pool: ThreadPoolExecutor | None = None
        self._hashing = 0
        self.throttle = LoginThrottle(login_limits or LoginLimits())
        self._verified: dict[str, tuple[Principal, float, int, str]] = {}
        """Access tokens already verified, with expiry (epoch seconds), version and id: each request carries one."""
        self._states: dict[str, _UserState] = {}
        self._reading: dict[str, asyncio.Future[_UserState]] = {}
        self._changes = 0
        """Counts the revoking changes made here: a read begun before one must not be remembered after it."""

    async def _in_pool(self, work: Callable[[], T]) -> T:
        """Run CPU-heavy password work on the authenticator's own small pool of threads, never on the loop."""
        if self._hashing >= _MAX_HASHING:
            raise TooManyAttempts(1)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                _HASH_THREADS, thread_name_prefix="jobdeck-password", initializer=_lower_priority
            )
        self._hashing += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, work)
        finally:
            self._hashing -= 1

    def close(self) -> None:
        """Let the password threads go (a later sign-in starts them again)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)

    # -- passwords -------------------------------------------------------------------------------------------

    def hash_password(self, password: str) -> str:
        """An argon2id hash of ``password`` (on the calling thread: see :meth:`hash_password_async`).

        :raises InvalidInput: the password is shorter than 8 characters
        """
        if len(password) < _MIN_PASSWORD:
            raise InvalidInput(f"password must be at least {_MIN_PASSWORD} characters", field="password")
        return self._hasher.hash(password)

    async def hash_password_async(self, password: str) -> str:
        """:meth:`hash_password` on the password threads."""
        if len(password) < _MIN_PASSWORD:
            raise InvalidInput(f"password must be at least {_MIN_PASSWORD} characters", field="password")
        return await self._in_pool(lambda: self._hasher.hash(password))

    async def login(self, username: str, password: str, *, address: str = "unknown") -> AccessToken:
        """Check a password and issue an access token; ``address`` is the client's (for throttling).

        :raises TooManyAttempts: too many failures for this user from this address, or from this address
        :raises InvalidCredentials: unknown user, disabled user or wrong password (indistinguishable on purpose)
        """
        wait = self.throttle.retry_after(username, address, now=time.monotonic())
        if wait:
            await asyncio.sleep(LOCKED_OUT_DELAY)
            raise TooManyAttempts(wait)
        self.throttle.checking(username, address, +1)
        try:
            return await self._check(username, password, address)
        finally:
            self.throttle.checking(username, address, -1)

    async def _check(self, username: str, password: str, address: str) -> AccessToken:
        try:
            user = await self._store.get_user(username)
        except UserNotFound:
            # Spend the same time as a real check so response times don't reveal which usernames exist.
            await self._in_pool(lambda: self._hasher.hash(password))
            self._failed(username, address)
        if not await self._in_pool(lambda: self._verify(user.password_hash, password)) or user.disabled:
            self._failed(username, address)
        self.throttle.succeeded(username, address)
        if self._hasher.check_needs_rehash(user.password_hash):
            await self._store.set_password_hash(username, await self._in_pool(lambda: self._hasher.hash(password)))
        return self.issue(user)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def _failed(self, username: str, address: str) -> NoReturn:
        self.throttle.failed(username, address, now=time.monotonic())
        raise InvalidCredentials()

    def issue(self, user: User) -> AccessToken:
        """A signed access token for ``user``, valid for the configured TTL, carrying its token version."""
        now = self._clock.now()
        claims = {
            "sub": user.username,
            "role": user.role.value,
            "ver": user.token_version,
            "jti": new_id(now),
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=self._token_ttl)).timestamp()),
        }
        token = jwt.encode(claims, self._secret_key, algorithm=_JWT_ALGORITHM)
        return AccessToken(access_token=token, expires_in=int(self._token_ttl))

    async def authenticate(self, credential: str) -> Principal:
        """The principal behind a bearer credential: an access token or an API token.

        :raises AuthError: the credential is malformed, expired, revoked or unknown, or its user is disabled
        """
        if credential.startswith(API_TOKEN_PREFIX):
            return await self._authenticate_api_token(credential)
        verified = self._verified.get(credential)
        # The JWT library reads the wall clock too; a token is valid while now < exp.
        if verified is None or time.time() >= verified[1]:
            verified = self._decode(credential)
        principal, _, version, token_id = verified
        state = await self._state_of(principal.username)
        if state.disabled:
            raise AuthError("User disabled")
        if version != state.token_version:
            raise AuthError("Access token revoked (password or role changed); sign in again")
        if token_id in state.revoked:
            raise AuthError("Access token signed out; sign in again")
        return principal

    def _decode(self, credential: str) -> tuple[Principal, float, int, str]:
        try:
            claims = jwt.decode(
                credential,
                self._secret_key,
                algorithms=[_JWT_ALGORITHM],
                options={"require": ["exp", "sub", "role"]},
                # The JWT library reads the wall clock itself; leeway 0 keeps expiry exact.
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("Access token expired; sign in again") from None
        except jwt.PyJWTError:
            raise AuthError("Invalid access token") from None
        try:
            role = Role(claims["role"])
            version = int(claims.get("ver", 0))  # tokens from before revision 0007 carry none: version 0
        except (ValueError, TypeError):
            raise AuthError("Invalid access token") from None
        principal = Principal(username=str(claims["sub"]), role=role, via="password")
        if len(self._verified) >= _MAX_VERIFIED:
            self._verified.clear()
        token_id = str(claims.get("jti") or "")
        verified = self._verified[credential] = (principal, float(claims["exp"]), version, token_id)
        return verified

    async def _state_of(self, username: str) -> _UserState:
        """The user's token version and ``disabled`` flag: from memory when read less than USER_STATE_TTL ago."""
        state = self._states.get(username)
        if state is not None and time.monotonic() - state.read_at < USER_STATE_TTL:
            return state
        reading = self._reading.get(username)
        if reading is not None:  # one read per user, however many requests wait for it
            return await asyncio.shield(reading)
        reading = self._reading[username] = asyncio.get_running_loop().create_future()
        changes = self._changes
        try:
            try:
                user = await self._store.get_user(username)
                revoked = await self._store.revoked_access_tokens(username)
            except UserNotFound:
                raise AuthError("User no longer exists") from None
            except StoreUnavailable:
                if state is None:
                    raise
                fresh = state  # the database is away: the last state read stays the best known
            else:
                fresh = _UserState(
                    token_version=user.token_version, disabled=user.disabled, revoked=revoked, read_at=time.monotonic()
                )
                if changes == self._changes:  # else a change came meanwhile: use this read once, remember nothing
                    self._remember(username, fresh)
            reading.set_result(fresh)
            return fresh
        except BaseException as exc:
            reading.set_exception(exc)
            reading.exception()  # retrieved here, so an unawaited future does not warn
            raise
        finally:
            if self._reading.get(username) is reading:
                del self._reading[username]

    def _remember(self, username: str, state: _UserState) -> None:
        if len(self._states) >= _MAX_VERIFIED:
            self._states.clear()
        self._states[username] = state

    def _forget(self, username: str) -> None:
        """After a revoking change made here: the next request reads the user anew (and waits for no older read)."""
        self._changes += 1
        self._states.pop(username, None)
        self._reading.pop(username, None)

    # -- revocation --------------------------------------------------------------------------------------------

    # In this process a change applies at once: the user's state is forgotten (see _forget).

    async def sign_out(self, credential: str) -> str:
        """Revoke this one access token at once (the user's other sessions go on); returns the username.

        :raises AuthError: the credential is not a valid access token
        """
        verified = self._verified.get(credential)
        if verified is None or time.time() >= verified[1]:
            verified = self._decode(credential)
        principal, expires, _, token_id = verified
        if not token_id:  # a token from before revision 0007 has no id: only a new version can revoke it
            await self.revoke(principal.username)
            return principal.username
        now = self._clock.now()
        expires_at = datetime.fromtimestamp(expires, UTC)
        await self._store.revoke_access_token(token_id, username=principal.username, expires_at=expires_at, now=now)
        self._forget(principal.username)
        return principal.username

    async def revoke(self, username: str) -> None:
        """Refuse every access token issued to the user so far. :raises UserNotFound: no such user"""
        await self._store.bump_token_version(username)
        self._forget(username)

    async def set_role(self, username: str, role: Role) -> None:
        """Change the user's role; its access tokens are revoked. :raises UserNotFound: no such user"""
        await self._store.set_user_role(username, role)
        self._forget(username)

    async def set_disabled(self, username: str, disabled: bool) -> None:
        """Disable (or enable) the user; its access tokens are revoked. :raises UserNotFound: no such user"""
        await self._store.set_user_disabled(username, disabled)
        self._forget(username)

    async def _authenticate_api_token(self, secret: str) -> Principal:
        token = await self._store.token_by_hash(hash_token(secret))
        if token is None:
            raise AuthError("Unknown API token")
        if token.revoked_at is not None:
            raise AuthError("API token revoked")
        await self._store.touch_token(token.id, at=self._clock.now())
        return Principal(username=f"token:{token.name}", role=token.role, via="token")

    # -- browser sessions ------------------------------------------------------------------------------------

    async def authenticate_session(self, session: str) -> Principal:
        """The principal behind a session cookie, which may hold only an access token (never an API token).

        :raises AuthError: the cookie is malformed, expired or holds an API token
        """
        if not session or session.startswith(API_TOKEN_PREFIX):
            raise AuthError("Invalid session")
        return await self.authenticate(session)

    def csrf_token(self, nonce: str, session: str | None) -> str:
        """The anti-forgery token forms must carry: an HMAC of the browser's nonce and its session (if any).

        Bound to the session, a token taken from one sign-in is worthless in another; bound to the nonce cookie,
        which another site can neither read nor set, a forged form cannot carry the right one.
        """
        message = f"csrf|{nonce}|{session or ''}".encode()
        return hmac.new(self._secret_key.encode(), message, hashlib.sha256).hexdigest()

    def check_csrf(self, nonce: str | None, session: str | None, token: str | None) -> bool:
        """Whether ``token`` is the anti-forgery token of this nonce and session (constant-time comparison)."""
        if not nonce or not token:
            return False
        return hmac.compare_digest(self.csrf_token(nonce, session), token)

    # -- users and tokens ------------------------------------------------------------------------------------

    async def create_user(self, username: str, password: str, role: Role) -> User:
        """Create a user.

        :raises InvalidInput: bad username or too short a password
        :raises UserExists: the username is taken
        """
        if (
            not username
            or len(username) > 64
            or not username.replace("_", "").replace("-", "").replace(".", "").isalnum()
        ):
            raise InvalidInput("username must be 1-64 letters, digits, '.', '_' or '-'", field="username")
        password_hash = await self.hash_password_async(password)
        user = User(username=username, role=role, password_hash=password_hash, created_at=self._clock.now())
        await self._store.create_user(user)
        return user

    async def set_password(self, username: str, password: str) -> None:
        """Change the password; the user's access tokens are revoked.

        :raises InvalidInput: too short a password
        :raises UserNotFound: no such user
        """
        await self._store.set_password_hash(username, await self.hash_password_async(password))
        await self.revoke(username)

    async def ensure_admin(self, password: str | None) -> str | None:
        """On a store with no users, create ``admin``; returns the generated password when none was configured
        (and this process created the user).

        Safe when several processes start together on one database: the one whose insert lands creates the
        user; for the others its ``UserExists`` means the job is done, and they return None.
        """
        if await self._store.count_users() > 0:
            return None
        generated = None if password else secrets.token_urlsafe(12)
        try:
            await self.create_user("admin", password or generated or "", Role.ADMIN)
        except UserExists:
            return None
        return generated

    async def create_token(self, name: str, role: Role, *, created_by: str | None) -> tuple[ApiToken, str]:
        """A new API token and its secret; the secret is returned once and never stored."""
        if not name or len(name) > 64:
            raise InvalidInput("token name must be 1-64 characters", field="name")
        secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        now: datetime = self._clock.now()
        token = ApiToken(
            id=new_id(now), name=name, role=role, token_hash=hash_token(secret), created_at=now, created_by=created_by
        )
        await self._store.create_token(token)
        return token, secret
