"""Alembic migrations of the jobdeck schema, runnable without an ``alembic.ini``.

At runtime :func:`upgrade_connection` is given an open connection (inside a transaction the caller owns, see
``SqlStore.open``); ``env.py`` uses it. For development, ``alembic -c <ini>`` with ``script_location`` pointing at
this folder and ``sqlalchemy.url`` set works as usual (``env.py`` then opens its own async engine).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

__all__ = ["SCRIPT_LOCATION", "VERSION_TABLE", "alembic_config", "upgrade_connection"]

SCRIPT_LOCATION = Path(__file__).resolve().parent
VERSION_TABLE = "jobdeck_alembic_version"
"""Not Alembic's default name, so jobdeck can share a database with a host app that has its own migrations."""


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_connection(connection: Connection, revision: str = "head") -> None:
    """Upgrade the database behind ``connection`` (a sync connection, e.g. inside ``AsyncConnection.run_sync``)."""
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)
