"""Opaque, time-ordered identifiers (ULID layout: 48-bit milliseconds + 80 random bits, Crockford base32)."""

from __future__ import annotations

import base64
import os
from datetime import datetime

__all__ = ["new_id", "new_ids"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# base64's base32 encodes 5-bit groups most significant first, as the id does, in another alphabet: the 80 random
# bits of an id are exactly 16 of its characters (the last 16), so they are one b32encode of 10 random bytes.
_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET.encode())
_last_prefix: tuple[int, str] = (-1, "")


def _prefix(at: datetime) -> str:
    """The first 10 characters: the millisecond (48 bits, in 50 bits' worth of characters)."""
    global _last_prefix
    millis = int(at.timestamp() * 1000)
    last = _last_prefix
    if last[0] == millis:  # ids are made in bursts: most share their millisecond with the previous one
        return last[1]
    chars = []
    value = millis
    for _ in range(10):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    prefix = "".join(reversed(chars))
    _last_prefix = (millis, prefix)
    return prefix


def new_id(at: datetime) -> str:
    """A 26-character id that sorts by ``at`` (to the millisecond) and is unique across processes."""
    return _prefix(at) + base64.b32encode(os.urandom(10)).translate(_CROCKFORD).decode("ascii")


def new_ids(at: datetime, count: int) -> list[str]:
    """``count`` ids made at ``at``: :func:`new_id` ``count`` times, in one draw of randomness."""
    prefix = _prefix(at)
    tails = base64.b32encode(os.urandom(10 * count)).translate(_CROCKFORD).decode("ascii")
    return [prefix + tails[i : i + 16] for i in range(0, 16 * count, 16)]
