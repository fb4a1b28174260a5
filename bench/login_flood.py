"""Scenario — login flood: 8 clients post wrong passwords as fast as they can while 100 jobs fire every second.

One uvicorn process (``bench.api_server jobdeck``, as ``jobdeck serve`` runs). Figure: the jobs' p99 start lateness
during the flood against the same figure idle, just before (target ≤ idle + 10 ms). Two rows: with the default
sign-in limits (past 20 failures a minute the address gets 429 without any password hash), and, for information,
with the limits off, where every attempt costs an argon2 hash — on the authenticator's own two threads, never on
the event loop.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from bench.api_load import Server, _latenesses, _login
from bench.common import Config, Row, Target, percentile

CLIENTS = 8


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _flood(url: str, index: int, until: float, statuses: Counter[int]) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        while time.monotonic() < until:
            response = client.post("/api/auth/login", json={"username": "admin", "password": f"wrong-{index}"})
            statuses[response.status_code] += 1


def _measure(cfg: Config, seconds: float, label: str, env: dict[str, str]) -> tuple[float, float, int, Counter[int]]:
    """(idle p99, flood p99, fires in the flood window, statuses) of a fresh server with ``env``."""
    database, lateness = cfg.workdir / f"{label}.db", cfg.workdir / f"{label}-lateness.txt"
    with _environment(env):
        server = Server("jobdeck", "--database", str(database), "--lateness", str(lateness))
    statuses: Counter[int] = Counter()
    try:
        _login(server)
        time.sleep(2)
        idle = (time.time(), time.time() + seconds)
        time.sleep(seconds)
        until = time.monotonic() + seconds
        began = time.time()
        threads = [
            threading.Thread(target=_flood, args=(server.url(""), index, until, statuses)) for index in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        busy = (began + 0.5, time.time() - 0.5)
        time.sleep(1.5)
    finally:
        server.stop()
    busy_values = _latenesses(lateness, busy)
    return (
        percentile(_latenesses(lateness, idle), 0.99),
        percentile(busy_values, 0.99),
        len(busy_values),
        statuses,
    )


def run(cfg: Config) -> list[Row]:
    seconds: float = cfg.pick(smoke=1, quick=8, full=20)
    rows = []
    for label, env, target in (
        ("limits", {}, Target("plus_max", 10, "ms")),
        ("no-limits", {"JOBDECK_LOGIN_USER_FAILURES": "0", "JOBDECK_LOGIN_ADDRESS_FAILURES": "0"}, Target("info")),
    ):
        idle, busy, fires, statuses = _measure(cfg, seconds, label, env)
        expected_fires = 100 * max(0, int(seconds - 1))
        rows.append(
            Row(
                name=f"login flood ({CLIENTS} clients, {label}): job p99 start lateness, idle vs flood",
                baseline=idle,
                jobdeck=busy,
                unit="ms",
                target=target,
                ok=fires >= expected_fires and set(statuses) <= {401, 429},
                notes=f"{fires} fires in the flood window; answers {dict(sorted(statuses.items()))}",
            )
        )
    return rows
