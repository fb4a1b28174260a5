"""A real jobdeck server on a loopback socket, for the HTTP and end-to-end tests."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
