"""``jobdeck`` — serve, check a jobs file, manage users and API tokens, migrate the database, import metadata."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar
from zoneinfo import ZoneInfo

import typer

from jobdeck.admin import AdminService, database_location, upgrade_database
from jobdeck.cli_remote import jobs_app, runs_app
from jobdeck.config import Settings, load_jobs_file
from jobdeck.errors import JobdeckError
from jobdeck.metadata_file import load_metadata_file
from jobdeck.models import Role
from jobdeck.schedules import check_schedule, describe_schedule, next_fire_times

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    name="jobdeck",
    help="jobdeck: a control plane for scheduled jobs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
users_app = typer.Typer(help="Manage users (roles: viewer, admin).", no_args_is_help=True)
tokens_app = typer.Typer(help="Manage API tokens for automation.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
metadata_app = typer.Typer(help="Job display names and descriptions.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(db_app, name="db")
app.add_typer(metadata_app, name="metadata")
app.add_typer(jobs_app, name="jobs")
app.add_typer(runs_app, name="runs")

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Jobs file (TOML). Default: $JOBDECK_JOBS_FILE.", dir_okay=False)
]
RoleOption = Annotated[str, typer.Option("--role", "-r", help="viewer or admin")]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one clear line to stderr and return the exit to raise."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def _settings() -> Settings:
    try:
        settings = Settings()
    except Exception as exc:
        raise fail(str(exc), 2) from None
    return settings


async def _awaited(action: Callable[[], Awaitable[T]]) -> T:
    return await action()


def _run(action: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(_awaited(action))
    except JobdeckError as exc:
        raise fail(exc.message) from None


def _parse_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise fail(f"--role must be viewer or admin, not {role!r}", 2) from None


# -- serve and check ---------------------------------------------------------------------------------------------


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on. Default: $JOBDECK_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="Port. Default: $JOBDECK_PORT or 8000")] = None,
) -> None:
    """Run the jobdeck server: scheduler, REST API and dashboard."""
    from jobdeck.api.app import create_app
    from jobdeck.process_log import configure_logging
    from jobdeck.server import run_server, server_settings

    settings = _settings()
    try:
        application = create_app(settings, jobs_file=config)
    except JobdeckError as exc:
        raise fail(exc.message, 2) from None
    deck = application.state.deck
    deck.settings = server_settings(deck.settings)  # the jobs file's [scheduler] table is applied by now
    configure_logging(deck.settings)  # this process is jobdeck's: its output is too
    listen_host, listen_port = host or deck.settings.host, port or deck.settings.port
    deck.listen_address = f"http://{listen_host}:{listen_port}"
    run_server(
        application,
        host=listen_host,
        port=listen_port,
        gc_tuning=deck.settings.serve_gc_tuning,
        log_config=None,  # uvicorn's records go through the handler above, in the same format
        timeout_graceful_shutdown=int(deck.settings.shutdown_grace) + 5,
    )


@app.command()
def check(
    jobs_file: Annotated[Path, typer.Argument(help="The jobs file to validate", dir_okay=False)],
    count: Annotated[int, typer.Option(help="How many fire times to show per job")] = 5,
) -> None:
    """Validate a jobs file and print each job's next fire times. Exits non-zero on any error."""
    settings = _settings()
    try:
        jobs = load_jobs_file(
            jobs_file, default_timezone=settings.timezone, default_misfire_grace=settings.misfire_grace
        )
        settings = settings.with_overrides(jobs.scheduler, source=str(jobs_file))
    except JobdeckError as exc:
        raise fail(exc.message, 2) from None
    display = ZoneInfo(settings.timezone)
    now = datetime.now(UTC)
    problems = []
    for spec in jobs.jobs:
        try:  # the loader checked what does not depend on now; --count may reach further
            check_schedule(spec.schedule, now=now, count=count, allow_past=True)
        except JobdeckError as exc:
            problems.append(f"  {jobs_file}: job {spec.id!r}: field 'schedule': {exc.message}")
    if problems:
        raise fail("\n".join([f"{jobs_file}: {len(problems)} problem(s):", *problems]), 2)
    typer.echo(f"{jobs_file}: {len(jobs.jobs)} job(s) OK (times in {settings.timezone})")
    for spec in jobs.jobs:
        state = " (starts paused)" if spec.paused else ""
        typer.echo(f"\n{spec.id}{state}  {spec.schedule.expression!r} — {describe_schedule(spec.schedule)}")
        times = next_fire_times(spec.schedule, after=now, count=count)
        if not times:
            typer.echo("    never fires again")
        for fire in times:
            typer.echo(f"    {fire.astimezone(display).isoformat()}")


# -- users -------------------------------------------------------------------------------------------------------


def _password(given: str | None, prompt: str) -> str:
    if given is not None:
        return given
    if not sys.stdin.isatty():
        line = sys.stdin.readline().rstrip("\n")
        if not line:
            raise fail("no password given: pass --password or type it on standard input", 2)
        return line
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=True))


CreateOption = Annotated[
    bool, typer.Option("--create", help="Make the database when there is none yet (a new SQLite file)")
]


def _name_database(settings: Settings, *, create: bool | None = False) -> None:
    """Name the database of ``settings`` on stderr (password hidden), so nobody edits another database unawares.

    A SQLite file that does not exist is made only when ``create`` is true; with ``create=False`` the command
    stops with exit 2 and says how to make one (``None``: the command has no ``--create``; point elsewhere).
    """
    try:
        shown, file = database_location(settings)
    except JobdeckError as exc:
        raise fail(exc.message, 2) from None
    typer.echo(f"database: {shown}" + (f" ({file})" if file is not None else ""), err=True)
    if file is not None and not create and not (file.is_file() and file.stat().st_size > 0):
        how = "pass --create to make one" if create is False else "`jobdeck db upgrade` makes one"
        raise fail(f"no jobdeck database at {file}; {how} (or set JOBDECK_DATABASE_URL)", 2)


def _admin(action: Callable[[AdminService], Awaitable[T]], *, create: bool | None = None) -> T:
    """Run ``action`` on the admin service of the configured database (see :func:`_name_database`)."""
    settings = _settings()
    _name_database(settings, create=create)

    async def run() -> T:
        async with AdminService.open(settings) as admin:
            return await action(admin)

    return _run(run)


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="Username")],
    role: RoleOption = "viewer",
    password: Annotated[str | None, typer.Option(help="Prompted for (or read from stdin) when absent")] = None,
    create_db: CreateOption = False,
) -> None:
    """Create a user."""
    parsed_role = _parse_role(role)
    secret = _password(password, f"Password for {name}")
    _admin(lambda admin: admin.create_user(name, secret, parsed_role), create=create_db)
    typer.echo(f"Created {parsed_role.value} {name!r}")


@users_app.command("list")
def users_list() -> None:
    """List users and their roles."""
    users = _admin(lambda admin: admin.list_users())
    typer.echo(f"{'USERNAME':<24} {'ROLE':<8} CREATED")
    for user in users:
        state = "  disabled" if user.disabled else ""
        typer.echo(f"{user.username:<24} {user.role.value:<8} {user.created_at.isoformat(timespec='seconds')}{state}")


@users_app.command("set-password")
def users_set_password(
    name: Annotated[str, typer.Argument(help="Username")],
    password: Annotated[str | None, typer.Option(help="Prompted for (or read from stdin) when absent")] = None,
) -> None:
    """Set a user's password."""
    secret = _password(password, f"New password for {name}")
    _admin(lambda admin: admin.set_password(name, secret))
    typer.echo(f"Password of {name!r} changed; their access tokens are revoked")


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="Username")]) -> None:
    """Disable a user: they cannot sign in, and their access tokens stop working (within a second on a server)."""
    _admin(lambda admin: admin.set_disabled(name, True))
    typer.echo(f"Disabled {name!r}; their access tokens are revoked")


@users_app.command("enable")
def users_enable(name: Annotated[str, typer.Argument(help="Username")]) -> None:
    """Enable a disabled user again (they sign in anew: tokens from before stay revoked)."""
    _admin(lambda admin: admin.set_disabled(name, False))
    typer.echo(f"Enabled {name!r}")


@users_app.command("set-role")
def users_set_role(
    name: Annotated[str, typer.Argument(help="Username")],
    role: Annotated[str, typer.Argument(help="viewer or admin")],
) -> None:
    """Change a user's role; their access tokens are revoked, so the new role applies from their next sign-in."""
    parsed_role = _parse_role(role)
    _admin(lambda admin: admin.set_role(name, parsed_role))
    typer.echo(f"{name!r} is now {parsed_role.value}; their access tokens are revoked")


# -- tokens ------------------------------------------------------------------------------------------------------


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Argument(help="What the token is for")],
    role: RoleOption = "viewer",
    create_db: CreateOption = False,
) -> None:
    """Create an API token; its secret is printed once."""
    parsed_role = _parse_role(role)
    token, secret = _admin(lambda admin: admin.create_token(name, parsed_role), create=create_db)
    typer.echo(f"Created {parsed_role.value} token {token.id} ({name}). Its secret, shown only now:")
    typer.echo(secret)


@tokens_app.command("list")
def tokens_list() -> None:
    """List API tokens (never their secrets)."""
    tokens = _admin(lambda admin: admin.list_tokens())
    typer.echo(f"{'ID':<28} {'NAME':<20} {'ROLE':<8} {'STATE':<8} LAST USED")
    for token in tokens:
        state = "revoked" if token.revoked_at else "active"
        used = token.last_used_at.isoformat(timespec="seconds") if token.last_used_at else "never"
        typer.echo(f"{token.id:<28} {token.name:<20} {token.role.value:<8} {state:<8} {used}")


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[str, typer.Argument(help="The token's id (see tokens list)")]) -> None:
    """Revoke an API token; requests using it are refused from now on."""
    _admin(lambda admin: admin.revoke_token(token_id))
    typer.echo(f"Revoked {token_id}")


# -- db and metadata ---------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to $JOBDECK_DATABASE_URL (serve does this too at start)."""
    settings = _settings()
    _name_database(settings, create=True)  # making it is this command's job
    _run(lambda: upgrade_database(settings))
    typer.echo("Database is up to date")


@metadata_app.command("import")
def metadata_import(
    file: Annotated[
        Path, typer.Argument(help="JSON or TOML file of job_id, display_name, description", dir_okay=False)
    ],
    create_db: CreateOption = False,
) -> None:
    """Set display names and descriptions of jobs from a file (as an operator's edit)."""
    try:
        rows = load_metadata_file(file)
    except JobdeckError as exc:
        raise fail(exc.message, 2) from None
    count = _admin(lambda admin: admin.import_metadata(rows, source=str(file)), create=create_db)
    typer.echo(f"Imported metadata of {count} job(s) from {file}")


def main() -> None:
    """Console entry point."""
    app()
