"""Scenario 5 — API under load: ``GET /api/scheduler/jobs`` (100 jobs) from 64 concurrent loopback connections.

One uvicorn process per server. Baseline: a bare FastAPI endpoint returning the very JSON jobdeck answered (no auth,
no database). jobdeck: the real app (bearer token, the 100 jobs scheduled every second and recording every run).
Rows: requests per second (target ≥ 50% of the baseline), and the p99 start lateness of the scheduled jobs while
the load runs against the same figure idle (target ≤ idle + 10 ms).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.common import Config, Row, Target, percentile
from bench.loadgen import run_load

PATH = "/api/scheduler/jobs"
CONNECTIONS = 64


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, kind: str, *args: str) -> None:
        self.port = _free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "bench.api_server", kind, str(self.port), *args]
        self.proc = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/openapi.json", timeout=2)
                return
            except httpx.HTTPError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the {kind} server did not start") from None
                time.sleep(0.1)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _login(server: Server) -> dict[str, str]:
    response = httpx.post(
        server.url("/api/auth/login"), json={"username": "admin", "password": "bench-admin-password"}, timeout=30
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['data']['access_token']}"}


def _latenesses(path: Path, window: tuple[float, float]) -> list[float]:
    out = []
    for line in path.read_text().splitlines():
        grid, started = (float(v) for v in line.split())
        if window[0] <= grid < window[1]:
            out.append((started - grid) * 1000)
    return out


def run(cfg: Config) -> list[Row]:
    seconds: float = cfg.pick(smoke=1, quick=8, full=20)
    database, lateness, body = cfg.workdir / "api.db", cfg.workdir / "lateness.txt", cfg.workdir / "body.json"
    jobdeck_args = ("--database", str(database), "--lateness", str(lateness))

    # 1. The body jobdeck answers, for the baseline to serve.
    server = Server("jobdeck", *jobdeck_args)
    try:
        headers = _login(server)
        response = httpx.get(server.url(PATH), headers=headers, timeout=30)
        response.raise_for_status()
        document = response.json()
        if len(document["data"]) != 100:
            raise RuntimeError(f"expected 100 jobs, got {len(document['data'])}")
        body.write_text(json.dumps(document))
    finally:
        server.stop()

    # 2. The baseline.
    server = Server("fastapi", "--body", str(body))
    try:
        run_load(server.port, PATH, seconds=1, connections=CONNECTIONS, headers={})  # warm-up
        base = run_load(server.port, PATH, seconds=seconds, connections=CONNECTIONS, headers={})
    finally:
        server.stop()

    # 3. jobdeck: idle lateness, then the same load while its jobs keep firing.
    lateness.unlink(missing_ok=True)
    server = Server("jobdeck", *jobdeck_args)
    try:
        headers = _login(server)
        time.sleep(2)
        idle = (time.time(), time.time() + seconds)
        time.sleep(seconds)
        run_load(server.port, PATH, seconds=1, connections=CONNECTIONS, headers=headers)  # warm-up
        busy_start = time.time()
        ours = run_load(server.port, PATH, seconds=seconds, connections=CONNECTIONS, headers=headers)
        busy = (busy_start + 0.5, time.time() - 0.5)
        time.sleep(1.5)
    finally:
        server.stop()
    idle_p99 = percentile(_latenesses(lateness, idle), 0.99)
    busy_values = _latenesses(lateness, busy)
    busy_p99 = percentile(busy_values, 0.99)
    return [
        Row(
            name=f"api GET {PATH} (100 jobs, {CONNECTIONS} conns)",
            baseline=base.requests_per_s,
            jobdeck=ours.requests_per_s,
            unit="req/s",
            target=Target("ratio_min", 0.5),
            ok=base.errors == 0 and ours.errors == 0,
            notes=f"{ours.tool}; errors: baseline {base.errors}, jobdeck {ours.errors}",
        ),
        Row(
            name="api load: job p99 start lateness, idle vs loaded",
            baseline=idle_p99,
            jobdeck=busy_p99,
            unit="ms",
            target=Target("plus_max", 10, "ms"),
            ok=len(busy_values) > 0,
            notes=f"{len(busy_values)} fires under load",
        ),
    ]
