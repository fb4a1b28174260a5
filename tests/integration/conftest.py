"""Real-database fixtures for integration tests, over SQLite and PostgreSQL alike.

* ``store_url`` — parametrized ``["sqlite", "postgresql"]``: the URL of an empty, isolated database. SQLite: a file in
  ``tmp_path``. PostgreSQL: one fresh database ``jobdeck_t_<random>`` per test session (created on the server of
  ``POSTGRES_URL`` through an asyncpg admin connection, dropped at the end of the session); every jobdeck table in
  it is emptied (TRUNCATE) before each test. When PostgreSQL cannot be reached the ``postgresql`` case calls
  ``unavailable("PostgreSQL")`` (skips, or fails under ``JOBDECK_REQUIRE_ALL=1``).
* ``store`` — an opened store, closed afterwards: a :class:`~jobdeck.store.SqlStore` on each database of ``store_url``
  (and ``sqlite-inline``), and ``memory``, a :class:`~jobdeck.store.memory.MemoryStore`: the store contract holds
  for every implementation. Tests of SQL internals take ``store_url`` and build their SqlStore themselves.
* ``blank_url`` — like ``store_url`` but a database nothing has touched yet (no tables): for migration tests.
* ``blank_postgres_url`` — a PostgreSQL database of the test's own, created empty and dropped afterwards.
* ``postgres_admin`` — ``admin_execute``: runs SQL on the server's ``POSTGRES_URL`` database (e.g. to terminate
  backends). Both call unavailable("PostgreSQL") when the server cannot be reached.
"""

from __future__ import annotations

import asyncio
import importlib.util
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import TypeVar

import asyncpg
import pytest
from sqlalchemy import make_url

from jobdeck.store import SqlStore, Store
from jobdeck.store.memory import MemoryStore
from jobdeck.store.schema import metadata

T = TypeVar("T")

JOBDECK_TABLES = [table.name for table in metadata.sorted_tables]


def _load_root_conftest() -> ModuleType:
    # tests/conftest.py is not importable as "conftest" from here (this file has that module name too); load a copy
    # of it by path for its constants and unavailable().
    path = Path(__file__).resolve().parent.parent / "conftest.py"
    spec = importlib.util.spec_from_file_location("_jobdeck_tests_root_conftest", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_root = _load_root_conftest()
POSTGRES_URL: str = _root.POSTGRES_URL
unavailable: Callable[[str], None] = _root.unavailable


def _run_elsewhere(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a private loop in another thread (safe from any test's own loop)."""

    async def runner() -> T:
        return await make()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, runner()).result()


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as the plain DSN asyncpg accepts."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def database_url(name: str) -> str:
    """``POSTGRES_URL`` pointing at another database on the same server."""
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


async def admin_execute(*statements: str) -> None:
    """Run statements on the ``POSTGRES_URL`` database (outside a transaction: CREATE / DROP DATABASE work)."""
    conn = await asyncpg.connect(asyncpg_dsn(POSTGRES_URL), timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def create_database() -> str | None:
    """Create a fresh ``jobdeck_t_<random>`` database; its URL, or None when PostgreSQL cannot be reached."""
    name = f"jobdeck_t_{secrets.token_hex(6)}"
    try:
        _run_elsewhere(lambda: admin_execute(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return None
    return database_url(name)


def drop_database(url: str) -> None:
    name = make_url(url).database
    _run_elsewhere(lambda: admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def truncate_jobdeck_tables(url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=5)
    try:
        present = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename = ANY($1::text[])",
            JOBDECK_TABLES,
        )
        if present:
            await conn.execute("TRUNCATE " + ", ".join(f'"{row["tablename"]}"' for row in present))
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_session_url() -> Iterator[str | None]:
    """The session's own PostgreSQL database (None when the server is unreachable)."""
    url = create_database()
    yield url
    if url is not None:
        drop_database(url)


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


async def _backend_url(backend: str, tmp_path: Path, postgres_session_url: str | None) -> str:
    if backend.startswith("sqlite"):
        return f"sqlite+aiosqlite:///{tmp_path / 'jobdeck.db'}"
    if postgres_session_url is None:
        unavailable("PostgreSQL")
        raise AssertionError("unreachable")  # unavailable() skips or fails
    await truncate_jobdeck_tables(postgres_session_url)
    return postgres_session_url


@pytest.fixture(params=BACKENDS)
async def store_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_session_url: str | None) -> str:
    return await _backend_url(request.param, tmp_path, postgres_session_url)


@pytest.fixture(params=[*BACKENDS, "sqlite-inline", "memory"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_session_url: str | None
) -> AsyncIterator[Store]:
    """The store on each database; ``sqlite-inline`` is SQLite with the engine thread's inline calls, ``memory`` the
    MemoryStore."""
    opened: Store
    if request.param == "memory":
        opened = MemoryStore()
    else:
        url = await _backend_url(request.param, tmp_path, postgres_session_url)
        opened = SqlStore(url, inline_sqlite=request.param == "sqlite-inline")
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def _fresh_postgres_database() -> Iterator[str]:
    url = create_database()
    if url is None:
        unavailable("PostgreSQL")
        raise AssertionError("unreachable")
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(params=BACKENDS)
def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'blank' / 'jobdeck.db'}"
    else:
        yield from _fresh_postgres_database()


@pytest.fixture
def blank_postgres_url() -> Iterator[str]:
    """A PostgreSQL database of its own for this test (created empty, dropped afterwards)."""
    yield from _fresh_postgres_database()


@pytest.fixture
def postgres_admin(postgres_session_url: str | None) -> Callable[..., Awaitable[None]]:
    """``admin_execute``: SQL on the ``POSTGRES_URL`` database, outside any transaction."""
    if postgres_session_url is None:
        unavailable("PostgreSQL")
    return admin_execute
