"""GET /api/scheduler/events over a real socket, against a real `jobdeck serve` process."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dashboard_server import ServeProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    process = ServeProcess.with_jobs(tmp_path_factory.mktemp("sse"))
    process.start()
    yield process
    if process.proc is not None and process.proc.poll() is None:
        process.stop()


class StreamReader:
    """Reads an SSE stream in a thread; ``frames`` receives each event as a dict (with ``event`` and ``data``)."""

    def __init__(self, url: str, **request: Any) -> None:
        self.frames: queue.Queue[dict[str, Any]] = queue.Queue()
        self.status: int | None = None
        self.headers: httpx.Headers | None = None
        self.ended = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(10, read=30))
        self._thread = threading.Thread(target=self._read, args=(url, request), daemon=True)
        self._thread.start()

    def _read(self, url: str, request: dict[str, Any]) -> None:
        try:
            with self._client.stream("GET", url, **request) as response:
                self.status = response.status_code
                self.headers = response.headers
                frame: dict[str, Any] = {}
                for line in response.iter_lines():
                    if line == "":
                        if frame:
                            self.frames.put(frame)
                        frame = {}
                    elif line.startswith(":"):
                        frame.setdefault("comment", line)
                    else:
                        name, _, value = line.partition(": ")
                        frame[name] = json.loads(value) if name == "data" else value
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()

    def next(self, timeout: float, *, event: str | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no {event or 'frame'} within {timeout}s")
            frame = self.frames.get(timeout=remaining)
            if event is None or frame.get("event") == event:
                return frame

    def close(self) -> None:
        self._client.close()


def test_an_event_arrives_within_a_second_of_a_trigger(serve: ServeProcess) -> None:
    reader = StreamReader(f"{serve.url}/api/scheduler/events", headers={"Authorization": f"Bearer {serve.token}"})
    try:
        hello = reader.next(5, event="hello")
        assert hello["retry"] == "2000"
        assert reader.status == 200 and reader.headers is not None
        assert reader.headers["content-type"].startswith("text/event-stream")
        triggered = time.monotonic()
        run = serve.api("POST", "/api/scheduler/jobs/quick/trigger")
        change = reader.next(1.0, event="change")
        assert time.monotonic() - triggered < 1.0
        assert change["data"]["kind"] == "execution"
        assert change["data"]["execution_ids"] == [run["id"]]
        assert change["data"]["job_id"] == "quick"
        finished = reader.next(5, event="change")
        assert finished["data"]["action"] in {"finished", "progress"}
    finally:
        reader.close()


def test_the_stream_accepts_the_dashboard_session_cookie(serve: ServeProcess) -> None:
    reader = StreamReader(f"{serve.url}/api/scheduler/events", cookies={"jobdeck_session": serve.token})
    try:
        reader.next(5, event="hello")
        serve.api("POST", "/api/scheduler/jobs/pausable/pause")
        change = reader.next(1.0, event="change")
        assert change["data"] | {"at": None} == {
            "kind": "job", "action": "paused", "job_id": "pausable", "execution_ids": [], "status": None, "at": None,
        }  # fmt: skip
        serve.api("POST", "/api/scheduler/jobs/pausable/resume")
    finally:
        reader.close()


@pytest.mark.parametrize(
    "request_options",
    [{}, {"headers": {"Authorization": "Bearer not-a-token"}}, {"cookies": {"jobdeck_session": "jd_not-a-session"}}],
    ids=["nothing", "bad-bearer", "api-token-in-cookie"],
)
def test_the_stream_needs_a_signed_in_caller(serve: ServeProcess, request_options: dict[str, Any]) -> None:
    response = httpx.get(f"{serve.url}/api/scheduler/events", timeout=5, **request_options)
    assert response.status_code == 401
    assert response.json()["success"] is False


def test_an_open_stream_does_not_hold_up_a_graceful_shutdown(tmp_path: Path) -> None:
    process = ServeProcess.with_jobs(tmp_path)
    process.start()
    reader = StreamReader(f"{process.url}/api/scheduler/events", headers={"Authorization": f"Bearer {process.token}"})
    try:
        reader.next(5, event="hello")
        took = process.stop()
        assert took < 5, f"shutdown took {took:.1f}s with a stream open"
        assert reader.ended.wait(5)
    finally:
        reader.close()
