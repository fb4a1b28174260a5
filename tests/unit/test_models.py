"""Domain value objects."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from jobdeck.models import Execution, ExecutionStatus, TriggerKind, execution_from_fields

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_an_execution_made_from_its_fields_is_the_one_the_constructor_makes() -> None:
    made = Execution(
        id="e1", job_id="sync", job_name="Sync", status=ExecutionStatus.FAILED, scheduled_time=T0, started_at=T0,
        updated_at=T0, finished_at=T0, trigger=TriggerKind.MANUAL, triggered_by="alice", attempt=2, retry_of="e0",
        force=True, kwargs={"n": 1}, return_value=None, error_message="boom", traceback="tb", progress=50.0,
        progress_message="half", current_item="x", total_items=10, processed_items=5, cancel_requested=True,
        host="h", pid=7, heartbeat_at=T0, retry_at=T0,
    )  # fmt: skip
    values = tuple(getattr(made, f.name) for f in dataclasses.fields(Execution))
    fast = execution_from_fields(values)
    assert fast == made
    assert fast.execution_time == 0.0 and fast.is_manual
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.status = ExecutionStatus.SUCCESS  # type: ignore[misc]


def test_an_execution_needs_every_field() -> None:
    with pytest.raises(ValueError, match="27 fields, got 3 values"):
        execution_from_fields(("e1", "sync", "Sync"))
