"""First start on an empty database: an admin is created, its generated password printed once."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobdeck import Settings
from jobdeck.errors import InvalidCredentials
from jobdeck.runtime import Runtime


async def test_first_start_creates_admin_with_a_generated_password_printed_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/first.db", admin_password=None)
    runtime = await Runtime.start(settings, [])
    try:
        printed = capsys.readouterr().err
        password = printed.split("generated password:")[1].split()[0]
        token = await runtime.auth.login("admin", password)
        principal = await runtime.auth.authenticate(token.access_token)
        assert principal.username == "admin" and principal.is_admin
    finally:
        await runtime.stop()

    runtime = await Runtime.start(settings, [])
    try:
        assert "generated password" not in capsys.readouterr().err
        with pytest.raises(InvalidCredentials):
            await runtime.auth.login("admin", "not-the-password")
    finally:
        await runtime.stop()


async def test_admin_password_setting_is_used_and_never_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/set.db", admin_password="chosen-password")
    runtime = await Runtime.start(settings, [])
    try:
        assert "chosen-password" not in capsys.readouterr().err
        assert (await runtime.auth.login("admin", "chosen-password")).access_token
    finally:
        await runtime.stop()
