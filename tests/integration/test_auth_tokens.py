"""The authenticator on each database: tokens carry an id and a version, revocations apply at once in-process,
passwords are hashed off the event loop, and sign-ins are throttled before any hash."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from argon2 import PasswordHasher

from jobdeck.auth import Authenticator
from jobdeck.errors import AuthError, InvalidCredentials, TooManyAttempts
from jobdeck.login_throttle import LoginLimits
from jobdeck.models import Role
from jobdeck.store import SqlStore
from jobdeck.testing import FrozenClock

KEY = "k" * 40
PASSWORD = "correct-horse-1"


class _RecordingHasher(PasswordHasher):
    """argon2's hasher, noting the thread each hash and check ran on."""

    threads: list[str]

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.threads.append(threading.current_thread().name)
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.threads.append(threading.current_thread().name)
        return super().verify(hash, password)


@pytest.fixture
async def auth(store: SqlStore) -> Any:
    clock = FrozenClock(datetime.now(UTC))
    authenticator = Authenticator(
        store, secret_key=KEY, token_ttl=3600, clock=clock, login_limits=LoginLimits(per_user=3, per_address=10)
    )
    await authenticator.create_user("ann", PASSWORD, Role.ADMIN)
    yield authenticator
    authenticator.close()


async def test_tokens_carry_an_id_and_the_users_version(auth: Authenticator) -> None:
    first = (await auth.login("ann", PASSWORD)).access_token
    second = (await auth.login("ann", PASSWORD)).access_token
    claims = [jwt.decode(token, KEY, algorithms=["HS256"]) for token in (first, second)]
    assert [c["ver"] for c in claims] == [0, 0]
    assert claims[0]["jti"] != claims[1]["jti"]


async def test_password_change_refuses_old_tokens_at_once(auth: Authenticator) -> None:
    token = (await auth.login("ann", PASSWORD)).access_token
    assert (await auth.authenticate(token)).username == "ann"
    await auth.set_password("ann", "another-password-2")
    with pytest.raises(AuthError, match="revoked"):
        await auth.authenticate(token)
    fresh = (await auth.login("ann", "another-password-2")).access_token
    assert (await auth.authenticate(fresh)).username == "ann"


async def test_sign_out_refuses_that_token_only(auth: Authenticator) -> None:
    kept = (await auth.login("ann", PASSWORD)).access_token
    gone = (await auth.login("ann", PASSWORD)).access_token
    await auth.authenticate(gone)
    assert await auth.sign_out(gone) == "ann"
    with pytest.raises(AuthError, match="signed out"):
        await auth.authenticate(gone)
    assert (await auth.authenticate(kept)).username == "ann"


async def test_disabled_user_is_refused_and_cannot_sign_in(auth: Authenticator) -> None:
    token = (await auth.login("ann", PASSWORD)).access_token
    await auth.set_disabled("ann", True)
    with pytest.raises(AuthError):
        await auth.authenticate(token)
    with pytest.raises(InvalidCredentials):
        await auth.login("ann", PASSWORD)


async def test_passwords_are_hashed_and_checked_off_the_event_loop(auth: Authenticator) -> None:
    hasher = _RecordingHasher()
    hasher.threads = []
    auth._hasher = hasher
    await auth.login("ann", PASSWORD)
    with pytest.raises(InvalidCredentials):
        await auth.login("nobody", PASSWORD)  # an unknown user costs a hash too
    await auth.set_password("ann", "another-password-2")
    loop_thread = threading.current_thread().name
    assert len(hasher.threads) == 3
    assert all(name.startswith("jobdeck-password") and name != loop_thread for name in hasher.threads)


async def test_a_locked_out_sign_in_costs_no_hash(auth: Authenticator) -> None:
    hasher = _RecordingHasher()
    hasher.threads = []
    auth._hasher = hasher
    for _ in range(3):
        with pytest.raises(InvalidCredentials):
            await auth.login("ann", "wrong-password", address="203.0.113.9")
    with pytest.raises(TooManyAttempts) as refused:
        await auth.login("ann", PASSWORD, address="203.0.113.9")  # even the right password waits
    assert refused.value.retry_after >= 59
    assert len(hasher.threads) == 3
    assert (await auth.login("ann", PASSWORD, address="10.0.0.1")).access_token  # from elsewhere: fine
