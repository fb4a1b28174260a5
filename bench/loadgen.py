"""A loopback HTTP/1.1 load generator: ``wrk`` when installed, else a multi-process asyncio fallback.

Bounded in time and to 127.0.0.1; keep-alive connections, one request in flight per connection.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import shutil
import subprocess
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Load:
    requests_per_s: float
    requests: int
    errors: int
    tool: str


def run_load(port: int, path: str, *, seconds: float, connections: int, headers: dict[str, str]) -> Load:
    """Hammer ``http://127.0.0.1:port/path`` for ``seconds`` with ``connections`` concurrent connections."""
    if shutil.which("wrk"):
        return _wrk(port, path, seconds=seconds, connections=connections, headers=headers)
    return _python(port, path, seconds=seconds, connections=connections, headers=headers)


def _wrk(port: int, path: str, *, seconds: float, connections: int, headers: dict[str, str]) -> Load:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(f"http://127.0.0.1:{port}{path}")
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return Load(requests_per_s=rate, requests=total, errors=errors, tool="wrk")


def _python(port: int, path: str, *, seconds: float, connections: int, headers: dict[str, str]) -> Load:
    processes = 2
    per = max(1, connections // processes)
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.starmap(_worker, [(port, path, seconds, per, headers)] * processes)
    total = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    return Load(requests_per_s=total / seconds, requests=total, errors=errors, tool="python")


def _worker(port: int, path: str, seconds: float, connections: int, headers: dict[str, str]) -> tuple[int, int]:
    return asyncio.run(_drive(port, path, seconds, connections, headers))


async def _drive(port: int, path: str, seconds: float, connections: int, headers: dict[str, str]) -> tuple[int, int]:
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}\r\n".encode()
    deadline = time.monotonic() + seconds
    done = [0, 0]

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < deadline:
                writer.write(request)
                status = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                done[0 if status.split(b" ")[1:2] == [b"200"] else 1] += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)), return_exceptions=True)
    return done[0], done[1]
