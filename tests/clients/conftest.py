"""A real `jobdeck serve` per test module (see serve_process.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from serve_process import ServeProcess


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    server = ServeProcess(tmp_path_factory.mktemp("serve"))
    try:
        server.start()
        yield server
    finally:
        server.stop()
