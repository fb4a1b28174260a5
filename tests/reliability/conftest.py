"""The fault suite's fixtures: real `jobdeck serve` processes, their records read straight from the database, and
the ledger that checks "every fire ends as exactly one record".

* ``database_url`` — parametrized ``["sqlite", "postgresql"]``: an empty database of the test's own (a SQLite file in
  ``tmp_path``, or a fresh PostgreSQL database dropped afterwards; ``unavailable("PostgreSQL")`` without a server).
  ``sqlite_url`` is the SQLite case alone.
* ``serve`` — a factory: ``serve(jobs_file, module=..., database_url=..., env=...)`` writes the jobs file (and the
  jobs module ``fault_jobs.py``) to ``tmp_path`` and returns a :class:`FaultServer` (not started). Every server it
  made is stopped at teardown (SIGKILL when SIGTERM is not enough).
* :class:`FaultServer` — ``start()``, ``stop(sig)``, ``kill()`` (-9), ``freeze()`` / ``thaw()`` (SIGSTOP / SIGCONT),
  ``api(...)``, ``rows()`` (every execution row, from the database, not the API).
* :func:`ledger` — which expected fire times have no record, or more than one (a ``missed`` record naming two
  instants, "N fires between A and B …", stands for every fire in that span that has no record of its own).
* :func:`grid` — the fire times of an ``every N s`` schedule (an epoch grid) in a window; :func:`read_rows`.
* :func:`wait_for` — poll with a deadline (the sync twin of ``jobdeck.testing.wait_until``).

Import them as ``from reliability.conftest import ...`` (``tests/reliability`` is a package).
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import signal
import sqlite3
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import asyncpg
import pytest

import live_server
from jobdeck.store.schema import from_sqlite_text

ADMIN_PASSWORD = "faults-admin-password"

FAST_ENV = {
    "JOBDECK_ADMIN_PASSWORD": ADMIN_PASSWORD,
    "JOBDECK_TIMEZONE": "UTC",
    "JOBDECK_HEARTBEAT_INTERVAL": "0.5",
    "JOBDECK_CANCEL_GRACE": "1",
    "JOBDECK_SHUTDOWN_GRACE": "3",
}
"""Environment of every fault-suite server (tests add or override keys)."""


def _load(name: str, path: Path) -> ModuleType:
    # Other folders' conftest.py files share the module name "conftest": load them by path for their helpers.
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_TESTS = Path(__file__).resolve().parents[1]
_integration = _load("_jobdeck_reliability_integration", _TESTS / "integration" / "conftest.py")
unavailable: Callable[[str], None] = _integration.unavailable
create_database: Callable[[], str | None] = _integration.create_database
drop_database: Callable[[str], None] = _integration.drop_database
asyncpg_dsn: Callable[[str], str] = _integration.asyncpg_dsn

wait_for = live_server.wait_until
"""``wait_for(probe, timeout=..., what=...)``: call ``probe`` until it returns something truthy, or fail."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Row:
    """One execution row as stored."""

    id: str
    job_id: str
    status: str
    trigger: str
    scheduled_time: datetime
    started_at: datetime
    finished_at: datetime | None
    error_message: str | None


_COLUMNS = "id, job_id, status, trigger, scheduled_time, started_at, finished_at, error_message"


def read_rows(database_url: str) -> list[Row]:
    """Every execution row in the database, oldest scheduled first (a separate connection; the server may run)."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[1]
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as conn:
            raw = conn.execute(f"SELECT {_COLUMNS} FROM executions").fetchall()
        rows = [
            Row(id=r[0], job_id=r[1], status=r[2], trigger=r[3], scheduled_time=from_sqlite_text(r[4]),
                started_at=from_sqlite_text(r[5]), finished_at=from_sqlite_text(r[6]), error_message=r[7])
            for r in raw
        ]  # fmt: skip
    else:

        async def fetch() -> list[Row]:
            conn = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
            try:
                records = await conn.fetch(f"SELECT {_COLUMNS} FROM executions")
            finally:
                await conn.close()
            return [Row(**dict(record)) for record in records]

        with ThreadPoolExecutor(max_workers=1) as pool:
            rows = pool.submit(asyncio.run, fetch()).result()
    return sorted(rows, key=lambda row: (row.scheduled_time, row.id))


_ISO = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)"
_SPAN = re.compile(rf"\d+ fires? between ({_ISO}) and ({_ISO})")
"""How a record that stands for several fires says so: "N fires between A and B were missed" (catch-up), "this
record stands for N fires between A and B" (a long stall). A stall's other records name its whole span as context
("handed over N fires due between A and B") but stand for their own fire time only."""


def missed_span(row: Row) -> tuple[datetime, datetime]:
    """The fire times a ``missed`` record stands for: the span its message gives it, else its own scheduled time."""
    span = _SPAN.search(row.error_message or "")
    if row.status != "missed" or span is None:
        return row.scheduled_time, row.scheduled_time
    first, last = (datetime.fromisoformat(text).astimezone(UTC) for text in span.groups())
    return first, last


@dataclass(frozen=True, kw_only=True, slots=True)
class Ledger:
    """Expected fire times against the records of one job."""

    expected: int
    lost: list[datetime]
    """Expected fire times no record stands for."""
    doubled: dict[datetime, int]
    """Fire times more than one record stands for, with how many."""
    statuses: Counter[str]

    @property
    def exact(self) -> bool:
        """Every expected fire ends as exactly one record."""
        return not self.lost and not self.doubled


def ledger(rows: Iterable[Row], expected: Iterable[datetime], *, job_id: str) -> Ledger:
    """Account ``expected`` fire times of ``job_id`` against its scheduled (and retried) records."""
    mine = [row for row in rows if row.job_id == job_id and row.trigger == "schedule"]
    wanted = sorted(expected)
    covered: Counter[datetime] = Counter()
    spans: list[tuple[datetime, datetime]] = []
    for row in mine:
        first, last = missed_span(row)
        if first == last:
            covered[first] += 1
        else:
            spans.append((first, last))
    # A span stands for the fires in it that have no record of their own: a coalesced catch-up's summary counts
    # the fire its one run was made for.
    own = set(covered)
    for first, last in spans:
        covered.update(time for time in wanted if first <= time <= last and time not in own)
    return Ledger(
        expected=len(wanted),
        lost=[time for time in wanted if covered[time] == 0],
        doubled={time: n for time, n in covered.items() if n > 1},
        statuses=Counter(row.status for row in mine),
    )


class FaultServer(live_server.ServeProcess):
    """`jobdeck serve` in a subprocess on any database (``database_url``), with signals to hurt it."""

    def __init__(self, folder: Path, *, database_url: str, env: dict[str, str] | None = None) -> None:
        super().__init__(folder, {**FAST_ENV, **(env or {})}, admin_password=ADMIN_PASSWORD)
        self.database_url = database_url
        self.env["JOBDECK_DATABASE_URL"] = database_url
        self.exit_codes: list[int] = []

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> float:
        took = super().stop(sig, timeout)
        assert self.proc is not None
        self.exit_codes.append(self.proc.returncode)
        return took

    @property
    def stopped_cleanly(self) -> bool:
        """The last stop ended in uvicorn's orderly shutdown: the lifespan finished (uvicorn then exits by the signal
        it was sent, re-raised after the shutdown — status -15 for SIGTERM — or 0)."""
        code = self.exit_codes[-1] if self.exit_codes else None
        return code in (0, -signal.SIGTERM, -signal.SIGINT) and "Application shutdown complete" in self.log()[-2000:]

    def kill(self) -> None:
        """kill -9: no shutdown of any kind."""
        self.stop(signal.SIGKILL)

    def freeze(self) -> None:
        """SIGSTOP: the process stalls (its sockets stay open, nothing answers)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def rows(self) -> list[Row]:
        """Every execution row, read from the database."""
        return read_rows(self.database_url)

    def wait_rows(
        self, predicate: Callable[[list[Row]], bool], *, timeout: float, what: str, interval: float = 0.05
    ) -> list[Row]:
        """Read rows until ``predicate`` holds for them (or fail after ``timeout`` with the last rows' count)."""
        last: list[Row] = []

        def probe() -> bool:
            nonlocal last
            last = self.rows()
            return predicate(last)

        try:
            wait_for(probe, timeout=timeout, what=what, interval=interval)
        except pytest.fail.Exception:
            pytest.fail(f"{what}: not within {timeout} s; {len(last)} rows, {Counter(r.status for r in last)}\n"
                        f"{self.log()}")  # fmt: skip
        return last


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of this test's own: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'faults.db'}"
        return
    url = create_database()
    if url is None:
        unavailable("PostgreSQL")
        raise AssertionError("unreachable")
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """An empty SQLite database file of this test's own."""
    return f"sqlite+aiosqlite:///{tmp_path / 'faults.db'}"


ServeFactory = Callable[..., FaultServer]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeFactory]:
    """``serve(jobs_file, *, database_url, module="", env=None)`` → a :class:`FaultServer` in ``tmp_path``."""
    made: list[FaultServer] = []

    def make(jobs_file: str, *, database_url: str, module: str = "", env: dict[str, str] | None = None) -> FaultServer:
        (tmp_path / "jobs.toml").write_text(textwrap.dedent(jobs_file))
        (tmp_path / "fault_jobs.py").write_text(textwrap.dedent(module))
        server = FaultServer(tmp_path, database_url=database_url, env=env)
        made.append(server)
        return server

    yield make
    for server in made:
        if server.proc is not None and server.proc.poll() is None:
            server.thaw()
            try:
                server.stop(signal.SIGTERM, timeout=20)
            except Exception:  # teardown: the SIGKILL below is enough
                server.stop(signal.SIGKILL)


def grid(start: datetime, end: datetime, *, every: float) -> list[datetime]:
    """The fire times of an ``every N s`` schedule (an epoch grid) in ``[start, end]``."""
    step = int(every * 1_000_000)
    first = -(-int(start.timestamp() * 1_000_000) // step) * step
    last = int(end.timestamp() * 1_000_000) // step * step
    return [datetime.fromtimestamp(us / 1_000_000, UTC) for us in range(first, last + 1, step)]


def now_utc() -> datetime:
    return datetime.fromtimestamp(time.time(), UTC)
