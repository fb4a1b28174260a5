"""1,000 concurrent HTTP connections against a real `jobdeck serve` while jobs fire every second: every request is
answered (2xx, or a declared 429/503), and every fire of the ticking jobs still ends as exactly one record."""

from __future__ import annotations

import asyncio
import resource
import time
from collections import Counter

import pytest

from reliability.conftest import ServeFactory, grid, ledger, missed_span

CLIENTS = 1_000
DECLARED = {200, 429, 503}
"""Statuses a loaded server may answer with: success, or the declared "too many" / "unavailable"."""

TICKERS = [f"tick_{n}" for n in range(5)]
JOBS_MODULE = """
async def tick():
    return "tick"
"""
JOBS_FILE = "".join(f'[[jobs]]\nid = "{job}"\nfunc = "fault_jobs:tick"\nschedule = "every 1s"\n\n' for job in TICKERS)
PATHS = ["/api/scheduler/jobs", "/healthz", "/api/scheduler/executions?limit=5", "/api/scheduler/stats"]


def _raise_file_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


async def _ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, token: str) -> int:
    """One keep-alive HTTP/1.1 GET on an open connection; its status code."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode("ascii"))
    await writer.drain()
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in head if line.lower().startswith("content-length:"))
    await reader.readexactly(length)
    return int(head[0].split()[1])


async def _load(port: int, token: str, seconds: float) -> tuple[Counter[object], list[float], int]:
    """``CLIENTS`` clients, each on a TCP connection of its own opened before any asks, asking in a loop for
    ``seconds``; returns the outcomes, the latencies and how many connections were open at once."""
    outcomes: Counter[object] = Counter()
    latencies: list[float] = []
    connections = await asyncio.gather(
        *(asyncio.open_connection("127.0.0.1", port) for _ in range(CLIENTS)), return_exceptions=True
    )
    opened = [c for c in connections if not isinstance(c, BaseException)]
    deadline = time.monotonic() + seconds

    async def client(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        n = index
        try:
            while time.monotonic() < deadline:
                began = time.monotonic()
                try:
                    status: object = await asyncio.wait_for(_ask(reader, writer, PATHS[n % len(PATHS)], token), 60)
                except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                    status = type(exc).__name__
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)  # a fresh one
                outcomes[status] += 1
                latencies.append(time.monotonic() - began)
                n += 1
        finally:
            writer.close()

    await asyncio.gather(*(client(i, r, w) for i, (r, w) in enumerate(opened)))
    return outcomes, latencies, len(opened)


@pytest.mark.parametrize("seconds", [8, pytest.param(60, marks=pytest.mark.soak)], ids=lambda s: f"{s}s")
def test_a_thousand_concurrent_connections_are_all_answered_and_no_fire_is_lost(
    serve: ServeFactory, sqlite_url: str, seconds: float
) -> None:
    _raise_file_limit(4 * CLIENTS)
    server = serve(JOBS_FILE, module=JOBS_MODULE, database_url=sqlite_url)
    server.start()
    outcomes, latencies, opened = asyncio.run(_load(server.port, server.token, seconds))
    server.stop()
    assert server.stopped_cleanly, server.log()

    answered = sum(n for status, n in outcomes.items() if status in DECLARED)
    assert answered == sum(outcomes.values()), f"unanswered or undeclared: {outcomes}"
    assert opened == CLIENTS, f"only {opened} of {CLIENTS} connections could be opened"
    rows = server.rows()
    assert not [row for row in rows if row.status == "running"]
    totals: Counter[str] = Counter()
    for job in TICKERS:
        mine = [row for row in rows if row.job_id == job]
        first = min(row.scheduled_time for row in mine)
        last = max(missed_span(row)[1] for row in mine)
        book = ledger(rows, grid(first, last, every=1), job_id=job)
        assert book.exact, f"{job}: lost {book.lost[:5]} ({len(book.lost)}), doubled {book.doubled}"
        assert book.expected >= seconds - 1
        totals.update(book.statuses)
    delays = sorted((row.started_at - row.scheduled_time).total_seconds() for row in rows if row.status == "success")
    latencies.sort()
    print(
        f"\n{CLIENTS} connections for {seconds} s: {sum(outcomes.values())} requests {dict(outcomes)}, latency p50 "
        f"{latencies[len(latencies) // 2]:.2f} s p99 {latencies[int(len(latencies) * 0.99)]:.2f} s; ticks "
        f"{dict(totals)}, start delay p50 {delays[len(delays) // 2]:.3f} s p99 {delays[int(len(delays) * 0.99)]:.3f} s"
    )
