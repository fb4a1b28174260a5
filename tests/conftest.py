"""Shared fixtures: real databases only. PostgreSQL tests skip without a server, unless JOBDECK_REQUIRE_ALL=1."""

from __future__ import annotations

import os

import pytest

REQUIRE_ALL = os.environ.get("JOBDECK_REQUIRE_ALL") == "1"
POSTGRES_URL = os.environ.get("JOBDECK_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def unavailable(what: str) -> None:
    """Skip the calling test because ``what`` is missing — or fail it when CI requires everything."""
    if REQUIRE_ALL:
        pytest.fail(f"{what} is required (JOBDECK_REQUIRE_ALL=1) but not available")
    pytest.skip(f"{what} not available")
