"""Users, password hashes, access tokens (JWT) and API tokens (``jd_…``), roles viewer and admin."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from jobdeck.clock import Clock
from jobdeck.errors import AuthError, InvalidCredentials, InvalidInput, UserExists, UserNotFound
from jobdeck.ids import new_id
from jobdeck.models import ApiToken, Principal, Role, User
from jobdeck.store.base import Store

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


async def resolve_secret_key(store: Store, configured: str | None) -> str:
    """The configured secret key, or the one generated and stored on first start (shared by every replica).

    Insert-if-absent, then read back what won: processes starting together on a fresh database all end up with
    the first one's key, so a token signed by one is accepted by every other.
    """
    if configured:
        return configured
    return await store.set_setting_if_absent(_SECRET_SETTING, secrets.token_urlsafe(48))


_MAX_VERIFIED = 1000


class Authenticator:
    """Signs users in and turns bearer credentials into a :class:`Principal`."""

    def __init__(self, store: Store, *, secret_key: str, token_ttl: float, clock: Clock) -> None:
        self._store = store
        self._secret_key = secret_key
        self._token_ttl = token_ttl
        self._clock = clock
        self._hasher = PasswordHasher()
        self._verified: dict[str, tuple[Principal, float]] = {}
        """Access tokens already verified, with their expiry (epoch seconds): each request carries one."""

    # -- passwords -------------------------------------------------------------------------------------------

    def hash_password(self, password: str) -> str:
        """An argon2id hash of ``password``.

        :raises InvalidInput: the password is shorter than 8 characters
        """
        if len(password) < _MIN_PASSWORD:
            raise InvalidInput(f"password must be at least {_MIN_PASSWORD} characters", field="password")
        return self._hasher.hash(password)

    async def login(self, username: str, password: str) -> AccessToken:
        """Check a password and issue an access token.

        :raises InvalidCredentials: unknown user, disabled user or wrong password (indistinguishable on purpose)
        """
        try:
            user = await self._store.get_user(username)
        except UserNotFound:
            # Spend the same time as a real check so response times don't reveal which usernames exist.
            self._hasher.hash(password)
            raise InvalidCredentials() from None
        try:
            self._hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            raise InvalidCredentials() from None
        if user.disabled:
            raise InvalidCredentials()
        if self._hasher.check_needs_rehash(user.password_hash):
            await self._store.set_password_hash(username, self._hasher.hash(password))
        return self.issue(user)

    def issue(self, user: User) -> AccessToken:
        """A signed access token for ``user``, valid for the configured TTL."""
        now = self._clock.now()
        claims = {
            "sub": user.username,
            "role": user.role.value,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=self._token_ttl)).timestamp()),
        }
        token = jwt.encode(claims, self._secret_key, algorithm=_JWT_ALGORITHM)
        return AccessToken(access_token=token, expires_in=int(self._token_ttl))

    async def authenticate(self, credential: str) -> Principal:
        """The principal behind a bearer credential: an access token or an API token.

        :raises AuthError: the credential is malformed, expired, revoked or unknown
        """
        if credential.startswith(API_TOKEN_PREFIX):
            return await self._authenticate_api_token(credential)
        verified = self._verified.get(credential)
        # The JWT library reads the wall clock too; a token is valid while now < exp.
        if verified is not None and time.time() < verified[1]:
            return verified[0]
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
        except ValueError:
            raise AuthError("Invalid access token") from None
        principal = Principal(username=str(claims["sub"]), role=role, via="password")
        if len(self._verified) >= _MAX_VERIFIED:
            self._verified.clear()
        self._verified[credential] = (principal, float(claims["exp"]))
        return principal

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
        user = User(
            username=username, role=role, password_hash=self.hash_password(password), created_at=self._clock.now()
        )
        await self._store.create_user(user)
        return user

    async def set_password(self, username: str, password: str) -> None:
        """:raises UserNotFound: no such user"""
        await self._store.set_password_hash(username, self.hash_password(password))

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
