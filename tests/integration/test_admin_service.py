"""AdminService on each database: every change to users, tokens and metadata is audited (failures too), and
sign-in and sign-out audit the way the API and the dashboard did before they shared it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobdeck.admin import AdminService
from jobdeck.audit import AuditTrail
from jobdeck.auth import Authenticator
from jobdeck.config import Settings
from jobdeck.errors import AuthError, TokenNotFound, UserExists, UserNotFound
from jobdeck.models import AuditAction, AuditEntry, AuditOutcome, AuditQuery, Principal, Role
from jobdeck.store import SqlStore
from jobdeck.testing import FrozenClock

PASSWORD = "correct-horse-1"


@pytest.fixture
async def admin(store: SqlStore) -> AsyncIterator[AdminService]:
    clock = FrozenClock(datetime.now(UTC))
    auth = Authenticator(store, secret_key="k" * 40, token_ttl=3600, clock=clock)
    yield AdminService(store=store, auth=auth, audit=AuditTrail(store, clock), clock=clock)
    auth.close()


async def entries(store: SqlStore, action: AuditAction) -> list[AuditEntry]:
    return list((await store.list_audit(AuditQuery(action=action.value, limit=200))).items)


async def test_user_changes_are_audited_with_the_actor(admin: AdminService, store: SqlStore) -> None:
    await admin.create_user("ann", PASSWORD, Role.VIEWER)
    await admin.set_password("ann", "another-horse-2")
    await admin.set_role("ann", Role.ADMIN, actor="ops")
    await admin.set_disabled("ann", True)
    await admin.set_disabled("ann", False)
    expected = {
        AuditAction.CREATE_USER: ("cli", {"user": "ann", "role": "viewer"}),
        AuditAction.SET_PASSWORD: ("cli", {"user": "ann"}),
        AuditAction.SET_ROLE: ("ops", {"user": "ann", "role": "admin"}),
        AuditAction.DISABLE_USER: ("cli", {"user": "ann"}),
        AuditAction.ENABLE_USER: ("cli", {"user": "ann"}),
    }
    for action, (actor, details) in expected.items():
        [entry] = await entries(store, action)
        assert (entry.actor, entry.status, dict(entry.details)) == (actor, AuditOutcome.SUCCESS, details), action
    assert [(u.username, u.role) for u in await admin.list_users()] == [("ann", Role.ADMIN)]


async def test_a_refused_change_is_audited_as_failed(admin: AdminService, store: SqlStore) -> None:
    await admin.create_user("ann", PASSWORD, Role.VIEWER)
    with pytest.raises(UserExists):
        await admin.create_user("ann", PASSWORD, Role.ADMIN)
    with pytest.raises(UserNotFound):
        await admin.set_role("nobody", Role.ADMIN)
    failed = [e for e in await entries(store, AuditAction.CREATE_USER) if e.status is AuditOutcome.FAILED]
    assert len(failed) == 1 and failed[0].error_message == "User 'ann' already exists"
    [refused] = await entries(store, AuditAction.SET_ROLE)
    assert refused.status is AuditOutcome.FAILED and "nobody" in (refused.error_message or "")


async def test_tokens_are_audited_without_their_secret(admin: AdminService, store: SqlStore) -> None:
    token, secret = await admin.create_token("deploy-bot", Role.ADMIN)
    await admin.revoke_token(token.id)
    with pytest.raises(TokenNotFound):
        await admin.revoke_token("01UNKNOWN")
    [created] = await entries(store, AuditAction.CREATE_TOKEN)
    assert dict(created.details) == {"name": "deploy-bot", "role": "admin", "token": token.id}
    assert secret not in str(created.details)
    revoked = await entries(store, AuditAction.REVOKE_TOKEN)
    assert {e.details["token"]: e.status for e in revoked} == {
        token.id: AuditOutcome.SUCCESS,
        "01UNKNOWN": AuditOutcome.FAILED,
    }
    [listed] = await admin.list_tokens()
    assert listed.id == token.id and listed.revoked_at is not None and listed.created_by == "cli"


async def test_metadata_import_is_an_audited_operator_edit(admin: AdminService, store: SqlStore) -> None:
    count = await admin.import_metadata([("sync", "Sync", "every 5 min"), ("report", None, "daily")], source="m.json")
    assert count == 2
    metadata = await store.job_metadata()
    assert metadata["sync"].display_name == "Sync" and metadata["sync"].updated_by == "cli"
    audited = {e.job_id: dict(e.details) for e in await entries(store, AuditAction.IMPORT_METADATA)}
    assert audited["report"] == {"display_name": None, "description": "daily", "file": "m.json"}


async def test_sign_in_and_out_are_audited_and_failures_rolled_up(admin: AdminService, store: SqlStore) -> None:
    await admin.create_user("ann", PASSWORD, Role.VIEWER)
    token = await admin.sign_in("ann", PASSWORD, address="10.0.0.1", via="dashboard")
    [login] = await entries(store, AuditAction.LOGIN)
    assert dict(login.details) == {"via": "dashboard", "address": "10.0.0.1"}
    for _ in range(2):
        with pytest.raises(AuthError):
            await admin.sign_in("ann", "wrong-password", address="10.0.0.1")
    user = Principal(username="ann", role=Role.VIEWER, via="password")
    await admin.sign_out(user, token.access_token)
    [logout] = await entries(store, AuditAction.LOGOUT)
    assert logout.actor == "ann" and dict(logout.details) == {}
    # An API token's principal has no session to end: nothing is written.
    await admin.sign_out(Principal(username="token:bot", role=Role.ADMIN, via="token"), "jd_x")
    assert len(await entries(store, AuditAction.LOGOUT)) == 1


async def test_open_works_on_the_configured_database(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/admin.db")
    async with AdminService.open(settings) as admin:
        await admin.create_user("ann", PASSWORD, Role.ADMIN)
    async with AdminService.open(settings) as admin:
        assert [u.username for u in await admin.list_users()] == ["ann"]
