"""Unit-level fixtures: a real SqlStore on a SQLite file of the test's own (PostgreSQL runs in tests/integration)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from jobdeck.store.sql import SqlStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = SqlStore(f"sqlite+aiosqlite:///{tmp_path / 'jobdeck.db'}")
    await opened.open()
    yield opened
    await opened.close()
