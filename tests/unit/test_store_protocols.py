"""The store contract is split by consumer: each method is written once, Store is all of them, and every
implementation provides all of them."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest

from jobdeck.store import base
from jobdeck.store.memory import MemoryStore
from jobdeck.store.sql import SqlStore

PARTS = [
    base.StoreLifecycle,
    base.WriteHealth,
    base.RunControl,
    base.Housekeeping,
    base.EngineStore,
    base.ReadStore,
    base.ServiceStore,
    base.AuthStore,
    base.AccountAdmin,
    base.AuditLog,
    base.SetupStore,
]


def own_methods(protocol: type) -> set[str]:
    return {name for name, value in vars(protocol).items() if inspect.isfunction(value) and not name.startswith("_")}


def contract(protocol: type) -> set[str]:
    return set().union(*(own_methods(part) for part in protocol.__mro__ if part in (*PARTS, base.Store)))


def test_each_method_is_written_once() -> None:
    seen: dict[str, str] = {}
    for part in PARTS:
        for name in own_methods(part):
            assert name not in seen, f"{name} is written on {seen[name]} and {part.__name__}"
            seen[name] = part.__name__
    assert own_methods(base.Store) == set()
    assert contract(base.Store) == set(seen)


def test_every_method_has_its_contract_written() -> None:
    for part in PARTS:
        for name in own_methods(part):
            assert inspect.getdoc(getattr(part, name)), f"{part.__name__}.{name} has no docstring"


@pytest.mark.parametrize("build", [MemoryStore, lambda: SqlStore("sqlite+aiosqlite://")], ids=["memory", "sql"])
def test_implementations_provide_the_whole_store(build: Callable[[], object]) -> None:
    implementation = build()  # SqlStore delegates to its repositories per instance
    missing = {name for name in contract(base.Store) if not callable(getattr(implementation, name, None))}
    assert missing == set()
