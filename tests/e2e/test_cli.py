"""The `jobdeck` command line: users, tokens, db, metadata import, check — each against a real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jobdeck.cli import app
from live_server import on_store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("JOBDECK_DATABASE_URL", url)
    monkeypatch.setenv("JOBDECK_TIMEZONE", "Asia/Shanghai")
    return url


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def test_users_create_list_and_set_password(db_url: str) -> None:
    code, out, _ = run("users", "create", "alice", "--role", "admin", "--password", "alice-password", "--create")
    assert code == 0 and "admin 'alice'" in out
    code, out, _ = run("users", "create", "bob", input="bob-password\n")
    assert code == 0
    code, out, _ = run("users", "list")
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]}
    assert rows == {"alice": "admin", "bob": "viewer"}
    code, _, err = run("users", "create", "alice", "--password", "another-password")
    assert code == 1 and err.strip().splitlines()[-1] == "error: User 'alice' already exists"
    assert run("users", "set-password", "alice", "--password", "changed-password")[0] == 0
    user = on_store(db_url, lambda store: store.get_user("alice"))
    assert user.password_hash.startswith("$argon2")
    code, _, err = run("users", "set-password", "nobody", "--password", "changed-password")
    assert code == 1 and "nobody" in err


def test_short_password_and_bad_role_are_one_line_errors(db_url: str) -> None:
    code, _, err = run("users", "create", "carol", "--password", "short", "--create")
    database, *errors = err.strip().splitlines()
    assert code == 1 and database.startswith("database: ") and len(errors) == 1 and "password" in errors[0]
    code, _, err = run("users", "create", "carol", "--role", "root", "--password", "long-enough-pw")
    assert code == 2 and "--role" in err


def test_tokens_create_list_revoke(db_url: str) -> None:
    code, out, _ = run("tokens", "create", "deploy-bot", "--role", "admin", "--create")
    assert code == 0
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("jd_")
    token_id = out.split()[3]
    code, out, _ = run("tokens", "list")
    assert token_id in out and "active" in out and secret not in out
    assert run("tokens", "revoke", token_id)[0] == 0
    assert "revoked" in run("tokens", "list")[1]
    code, _, err = run("tokens", "revoke", "01UNKNOWN")
    assert code == 1 and "01UNKNOWN" in err


def test_db_upgrade_is_idempotent(db_url: str, tmp_path: Path) -> None:
    assert run("db", "upgrade")[0] == 0
    assert run("db", "upgrade")[0] == 0
    assert (tmp_path / "cli.db").exists()


def test_metadata_import_sets_names_as_an_operator_edit(db_url: str, tmp_path: Path) -> None:
    source = tmp_path / "meta.json"
    source.write_text(
        json.dumps([{"job_id": "quotes_sync", "display_name": "实时行情同步", "description": "每 5 分钟"}])
    )
    code, out, _ = run("metadata", "import", str(source), "--create")
    assert code == 0 and "1 job" in out
    meta = on_store(db_url, lambda store: store.job_metadata())
    assert meta["quotes_sync"].display_name == "实时行情同步" and meta["quotes_sync"].updated_by == "cli"


def test_check_prints_five_fire_times_per_demo_job(db_url: str) -> None:
    code, out, err = run("check", str(EXAMPLES / "demo.toml"))
    assert code == 0, err
    assert "4 job(s) OK" in out
    for job_id in ("quotes_sync", "daily_analysis", "status_check", "flaky_import"):
        block = out.split(f"\n{job_id}")[1].split("\n\n")[0]
        assert len([line for line in block.splitlines() if line.startswith("    ")]) == 5
    assert "+08:00" in out


def test_admin_commands_say_which_database_they_use(db_url: str, tmp_path: Path) -> None:
    assert run("db", "upgrade")[0] == 0
    code, _, err = run("users", "list")
    assert code == 0, err
    assert err.splitlines()[0] == f"database: {db_url} ({tmp_path / 'cli.db'})"


def test_the_database_line_hides_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing listens on port 1: the command fails to connect, after naming the database.
    monkeypatch.setenv("JOBDECK_DATABASE_URL", "postgresql+asyncpg://ops:s3cret-pw@127.0.0.1:1/jobs")
    code, _, err = run("users", "list")
    assert code != 0
    assert err.splitlines()[0] == "database: postgresql+asyncpg://ops:***@127.0.0.1:1/jobs"
    assert "s3cret-pw" not in err


@pytest.mark.parametrize(
    ("args", "advice"),
    [
        (("users", "create", "dave", "--password", "long-enough-pw"), "pass --create to make one"),
        (("tokens", "create", "bot"), "pass --create to make one"),
        (("users", "list"), "`jobdeck db upgrade` makes one"),
        (("tokens", "list"), "`jobdeck db upgrade` makes one"),
        (("users", "set-password", "dave", "--password", "long-enough-pw"), "`jobdeck db upgrade` makes one"),
    ],
)
def test_admin_commands_refuse_to_create_a_database_unless_asked(
    db_url: str, tmp_path: Path, args: tuple[str, ...], advice: str
) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert f"error: no jobdeck database at {tmp_path / 'cli.db'}; {advice}" in err
    assert not (tmp_path / "cli.db").exists()
    assert out == ""


def test_create_makes_the_database_and_later_commands_use_it(db_url: str, tmp_path: Path) -> None:
    code, _, err = run("users", "create", "erin", "--password", "long-enough-pw", "--create")
    assert code == 0, err
    assert (tmp_path / "cli.db").is_file()
    code, out, _ = run("users", "list")
    assert code == 0 and [line.split()[0] for line in out.splitlines()[1:]] == ["erin"]


def test_account_commands_are_audited_as_the_cli(db_url: str) -> None:
    from jobdeck.models import AuditQuery

    assert run("users", "create", "frank", "--password", "long-enough-pw", "--create")[0] == 0
    assert run("users", "set-role", "frank", "admin")[0] == 0
    assert run("users", "disable", "frank")[0] == 0
    assert run("users", "enable", "frank")[0] == 0
    code, out, _ = run("tokens", "create", "bot")
    assert code == 0
    assert run("tokens", "revoke", out.split()[3])[0] == 0
    assert run("users", "set-password", "nobody", "--password", "long-enough-pw")[0] == 1

    page = on_store(db_url, lambda store: store.list_audit(AuditQuery(limit=50)))
    audited = sorted((entry.action, entry.status.value) for entry in page.items)
    assert {entry.actor for entry in page.items} == {"cli"}
    assert audited == sorted(
        [
            ("create_user", "success"),
            ("set_role", "success"),
            ("disable_user", "success"),
            ("enable_user", "success"),
            ("create_token", "success"),
            ("revoke_token", "success"),
            ("set_password", "failed"),
        ]
    )
