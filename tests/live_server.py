"""A real jobdeck server on a loopback socket, for the HTTP and end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

T = TypeVar("T")
ADMIN_PASSWORD = "admin-password-1"
VIEWER_PASSWORD = "viewer-password-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A jobdeck app served by uvicorn in a thread, with an admin and a viewer signed in."""

    url: str
    app: Any
    server: Any
    thread: threading.Thread
    admin_token: str = ""
    viewer_token: str = ""

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def admin(self) -> httpx.Client:
        return self.client(self.admin_token)

    def viewer(self) -> httpx.Client:
        return self.client(self.viewer_token)

    def anonymous(self) -> httpx.Client:
        return self.client(None)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


def on_store(database_url: str, action: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``action(store)`` on a separate connection to the database (WAL lets it sit beside a server)."""
    from jobdeck.store import SqlStore

    async def run() -> T:
        store = SqlStore(database_url)
        await store.open()
        try:
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(run())


def create_users(database_url: str) -> None:
    """Create the test users ``admin`` and ``viewer`` in the database before a server starts."""
    from jobdeck.auth import Authenticator
    from jobdeck.clock import SystemClock
    from jobdeck.models import Role
    from jobdeck.store import SqlStore

    async def create() -> None:
        store = SqlStore(database_url)
        await store.open()
        try:
            auth = Authenticator(store, secret_key="unused-here", token_ttl=60, clock=SystemClock())
            await auth.create_user("admin", ADMIN_PASSWORD, Role.ADMIN)
            await auth.create_user("viewer", VIEWER_PASSWORD, Role.VIEWER)
        finally:
            await store.close()

    asyncio.run(create())


def start_live_server(app: Any) -> LiveServer:
    """Serve ``app`` on a free loopback port until ``stop()``; signs in ``admin`` and ``viewer``."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name=f"jobdeck-test-server-{port}", daemon=True)
    thread.start()
    live = LiveServer(url=f"http://127.0.0.1:{port}", app=app, server=server, thread=thread)
    wait_until(lambda: server.started or not thread.is_alive(), timeout=30, what="the test server to start")
    if not server.started:
        raise RuntimeError("the test server did not start (see the log above)")
    live.admin_token = login(live, "admin", ADMIN_PASSWORD)
    live.viewer_token = login(live, "viewer", VIEWER_PASSWORD)
    return live


def login(live: LiveServer, username: str, password: str) -> str:
    with live.anonymous() as client:
        response = client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["access_token"])


def wait_until(probe: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.05) -> Any:
    """Call ``probe`` until it returns something truthy; fail with the last value after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")
        threading.Event().wait(interval)


class ServeProcess:
    """`jobdeck serve` in a subprocess on a SQLite file in ``folder``, restartable on the same database.

    ``folder`` holds the jobs file (``jobs.toml``); ``env`` adds or overrides ``JOBDECK_*`` variables. ``start``
    signs in ``admin`` with ``admin_password`` (create the user first, or set ``JOBDECK_ADMIN_PASSWORD``).
    """

    def __init__(
        self, folder: Path, env: dict[str, str] | None = None, *, admin_password: str = ADMIN_PASSWORD
    ) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = f"sqlite+aiosqlite:///{folder}/serve.db"
        self.env = {**os.environ, "JOBDECK_DATABASE_URL": self.database_url, **(env or {})}
        self.admin_password = admin_password
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""

    def start(self) -> float:
        """Start the server and wait until it answers; returns the ``time.time()`` at which it was spawned."""
        spawned = time.time()
        command = [sys.executable, "-m", "jobdeck", "serve", "--config", str(self.folder / "jobs.toml")]
        self.proc = subprocess.Popen(
            [*command, "--port", str(self.port)],
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.folder / "serve.log", "ab"),  # noqa: SIM115 - the child owns it
        )

        def answers() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log()
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answers, timeout=30, what="jobdeck serve to answer", interval=0.1)
        response = httpx.post(f"{self.url}/api/auth/login", json={"username": "admin", "password": self.admin_password})
        self.token = response.json()["data"]["access_token"]
        return spawned

    def log(self) -> str:
        path = self.folder / "serve.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> float:
        """Signal the server and wait for it to exit; returns how long it took."""
        assert self.proc is not None
        began = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait(timeout=30)
                raise
        return time.monotonic() - began

    def api(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        response = httpx.request(
            method,
            f"{self.url}{path}",
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=10,
            **kwargs,
        )
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def wait_execution(self, execution_id: str, predicate: Any, timeout: float = 10) -> dict[str, Any]:
        def probe() -> Any:
            execution = self.api("GET", f"/api/scheduler/executions/{execution_id}")
            return execution if predicate(execution) else None

        return wait_until(probe, timeout=timeout, what=f"execution {execution_id}")  # type: ignore[no-any-return]
