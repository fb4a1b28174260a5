"""Token versions, rolled-up audit entries and audit retention, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from jobdeck.audit import AuditTrail
from jobdeck.errors import UserNotFound
from jobdeck.models import AuditAction, AuditEntry, AuditOutcome, AuditQuery, Role, User
from jobdeck.store import SqlStore
from jobdeck.testing import FrozenClock

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


async def test_every_revoking_change_bumps_the_token_version(store: SqlStore) -> None:
    await store.create_user(User(username="ann", role=Role.VIEWER, password_hash="x", created_at=T0))
    assert (await store.get_user("ann")).token_version == 0
    assert await store.bump_token_version("ann") == 1
    assert await store.set_user_role("ann", Role.ADMIN) == 2
    assert await store.set_user_disabled("ann", True) == 3
    user = await store.get_user("ann")
    assert (user.token_version, user.role, user.disabled) == (3, Role.ADMIN, True)
    with pytest.raises(UserNotFound):
        await store.set_user_disabled("nobody", True)


async def test_signed_out_tokens_are_listed_until_they_expire(store: SqlStore) -> None:
    await store.revoke_access_token(
        "old", username="ann", expires_at=T0 - timedelta(hours=1), now=T0 - timedelta(hours=2)
    )
    await store.revoke_access_token("t1", username="ann", expires_at=T0 + timedelta(hours=12), now=T0)
    await store.revoke_access_token("t1", username="ann", expires_at=T0 + timedelta(hours=12), now=T0)  # twice: once
    await store.revoke_access_token("t2", username="bob", expires_at=T0 + timedelta(hours=12), now=T0)
    assert await store.revoked_access_tokens("ann") == {"t1"}  # "old" had expired: cleared by the later sign-out
    assert await store.revoked_access_tokens("bob") == {"t2"}


async def test_concurrent_roll_ups_add_up(store: SqlStore) -> None:
    entry = AuditEntry(
        id="rollup-1",
        timestamp=T0,
        actor="admin",
        action=AuditAction.LOGIN_FAILED.value,
        status=AuditOutcome.FAILED,
        details={"address": "10.0.0.1", "first": T0.isoformat(), "last": T0.isoformat()},
    )
    await asyncio.gather(*(store.roll_up_audit(entry, count=3) for _ in range(10)))
    page = await store.list_audit(AuditQuery(action=AuditAction.LOGIN_FAILED.value, limit=50))
    assert page.total == 1
    assert page.items[0].details["count"] == 30


async def test_audit_rolls_up_refused_attempts_per_actor_and_address(store: SqlStore) -> None:
    clock = FrozenClock(T0)
    trail = AuditTrail(store, clock)
    for _ in range(40):
        await trail.roll_up(AuditAction.LOGIN_FAILED, "admin", address="10.0.0.1", error="Invalid username or password")
    await trail.roll_up(AuditAction.LOGIN_FAILED, "admin", address="10.0.0.2")
    await trail.flush()
    page = await store.list_audit(AuditQuery(action=AuditAction.LOGIN_FAILED.value, limit=50))
    counts = sorted((e.details["address"], e.details["count"]) for e in page.items)
    assert counts == [("10.0.0.1", 40), ("10.0.0.2", 1)]


async def test_prune_audit_deletes_entries_before_the_instant(store: SqlStore) -> None:
    trail = AuditTrail(store, FrozenClock(T0 - timedelta(days=100)))
    await trail.record(AuditAction.LOGIN, "old")
    await AuditTrail(store, FrozenClock(T0)).record(AuditAction.LOGIN, "new")
    assert await store.prune_audit(before=T0 - timedelta(days=90)) == 1
    page = await store.list_audit(AuditQuery(limit=50))
    assert [e.actor for e in page.items] == ["new"]
