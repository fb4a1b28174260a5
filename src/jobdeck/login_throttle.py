"""Sign-in throttling: failed passwords per (user, address) and per address, with a lockout that grows.

Pure bookkeeping on a monotonic clock passed in as ``now`` (seconds); the authenticator asks it before checking a
password, so a locked-out caller costs no password hash at all.

Why these keys: a limit per user alone would let anyone lock a user out from anywhere (a denial of service in
one loop); per (user, address) a guesser is stopped while the user, from their own address, still signs in. The
per-address limit stops one address guessing across many usernames. A guesser spread over many addresses is slowed
by the password hash itself (argon2, in a bounded pool of threads).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["LoginLimits", "LoginThrottle"]

_MAX_KEYS = 10_000
"""Keys remembered at most; past it the oldest quiet ones are forgotten (a flood of fresh addresses stays bounded)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LoginLimits:
    """Failures allowed within ``window`` seconds before a lockout; 0 turns a limit off."""

    per_user: int = 5
    """Failed passwords for one username from one address."""
    per_address: int = 20
    """Failed passwords from one address, whatever the usernames."""
    window: float = 60.0
    """Seconds over which failures are counted; also the first lockout's length."""
    max_lockout: float = 900.0
    """Each lockout of a key doubles the previous one (60 s, 120 s, 240 s …), up to this."""


@dataclass(slots=True)
class _Key:
    failures: list[float] = field(default_factory=list)
    strikes: int = 0
    locked_until: float = 0.0
    last: float = 0.0


class LoginThrottle:
    """Counts failed sign-ins and says how long a (user, address) must wait. Not thread-safe: one event loop."""

    def __init__(self, limits: LoginLimits) -> None:
        self.limits = limits
        self._keys: dict[tuple[str, str], _Key] = {}
        self._checking: dict[tuple[str, str], int] = {}

    def retry_after(self, username: str, address: str, *, now: float) -> int:
        """Seconds (≥ 1) until this user may try again from this address, or 0 when a password may be checked.

        Checks under way count as failures to come: concurrent attempts cannot slip past a limit together (one
        over the limit waits a second for them to end).
        """
        wait = 0.0
        limits = (self.limits.per_user, self.limits.per_address)
        for key, limit in zip(self._keys_of(username, address), limits, strict=True):
            state = self._keys.get(key)
            if state is not None and state.locked_until > now:
                wait = max(wait, state.locked_until - now)
            elif limit > 0 and self._checking.get(key, 0):
                recent = sum(1 for t in state.failures if now - t < self.limits.window) if state else 0
                if recent + self._checking[key] >= limit:
                    wait = max(wait, 1.0)
        return math.ceil(wait) if wait > 0 else 0

    def checking(self, username: str, address: str, delta: int) -> None:
        """A password check of this pair begins (``+1``) or ends (``-1``)."""
        for key in self._keys_of(username, address):
            count = self._checking.get(key, 0) + delta
            if count > 0:
                self._checking[key] = count
            else:
                self._checking.pop(key, None)

    def failed(self, username: str, address: str, *, now: float) -> int:
        """Count a failed password; returns the lockout (seconds, ≥ 1) it triggered, or 0."""
        limits = self.limits
        locked = 0.0
        for key, limit in zip(self._keys_of(username, address), (limits.per_user, limits.per_address), strict=True):
            if limit <= 0:
                continue
            state = self._keys.get(key)
            if state is None:
                self._forget_some(now)
                state = self._keys[key] = _Key()
            if state.strikes and now - state.last > limits.max_lockout + limits.window:
                state.strikes = 0  # quiet for longer than the longest lockout: start over
            state.last = now
            state.failures = [t for t in state.failures if now - t < limits.window]
            state.failures.append(now)
            if len(state.failures) >= limit:
                length = min(limits.window * 2**state.strikes, limits.max_lockout)
                state.strikes += 1
                state.failures.clear()
                state.locked_until = max(state.locked_until, now + length)
                locked = max(locked, length)
        return math.ceil(locked)

    def succeeded(self, username: str, address: str) -> None:
        """A correct password: forget the (user, address) failures (the address's own count stays)."""
        self._keys.pop((username, address), None)

    @staticmethod
    def _keys_of(username: str, address: str) -> tuple[tuple[str, str], tuple[str, str]]:
        # The empty username cannot be a real one (usernames are 1-64 characters): it marks the address's key.
        return (username, address), ("", address)

    def _forget_some(self, now: float) -> None:
        if len(self._keys) < _MAX_KEYS:
            return
        quiet = [key for key, state in self._keys.items() if state.locked_until <= now]
        quiet.sort(key=lambda key: self._keys[key].last)
        for key in quiet[: max(1, len(quiet) // 2)]:
            del self._keys[key]
