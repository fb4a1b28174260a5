"""Command jobs: output into the log, the progress protocol, exit codes, cancel reaching the whole process group."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from runtime_helpers import command_job, process_alive, started

from jobdeck.engine.executors.command import parse_progress
from jobdeck.models import ExecutionStatus, LogLine
from jobdeck.store.sql import SqlStore
from jobdeck.testing import wait_for_execution, wait_until


def is_done(execution: object) -> bool:
    return bool(execution.status.is_terminal)  # type: ignore[attr-defined]


def text(lines: list[LogLine]) -> str:
    return "\n".join(line.message for line in lines)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("::progress 42", {"progress": 42.0, "message": None}),
        ("::progress 42 syncing 420/1000", {"progress": 42.0, "message": "syncing 420/1000"}),
        ("::progress 12.5% warming up", {"progress": 12.5, "message": "warming up"}),
        ("::progress 420/1000 syncing", {"processed_items": 420, "total_items": 1000, "message": "syncing"}),
        ("::progress lots", None),
        ("progress 42", None),
    ],
)
def test_progress_protocol_lines_are_parsed(line: str, expected: dict[str, object] | None) -> None:
    assert parse_progress(line) == expected


async def test_a_command_shows_progress_and_log_while_running_and_cancel_kills_its_process_group(
    store: SqlStore,
) -> None:
    # The shell starts a background child (same process group) and then walks with progress lines.
    script = (
        "sleep 300 & echo child=$!; echo parent=$$; i=0; "
        'while true; do i=$((i+1)); echo "::progress $((i % 100)) step $i/100"; echo "line $i"; sleep 0.05; done'
    )
    async with started(store, command_job("walker", script), cancel_grace=1.0) as engine:
        run = await engine.trigger("walker", actor="alice")
        running = await wait_for_execution(store, run.id, lambda e: (e.progress or 0) > 0, timeout=5)
        assert running.status is ExecutionStatus.RUNNING
        assert running.progress_message is not None and running.progress_message.startswith("step ")
        lines = await wait_until(
            lambda: store.read_log(run.id, limit=1000),
            lambda lines: "line 3" in text(lines) and "child=" in text(lines),
            timeout=5,
            what="the command's output in the log",
        )
        assert not any(line.message.startswith("::progress") for line in lines)  # protocol lines are not logged
        child = int(re.search(r"child=(\d+)", text(lines)).group(1))  # type: ignore[union-attr]
        parent = int(re.search(r"parent=(\d+)", text(lines)).group(1))  # type: ignore[union-attr]
        assert process_alive(child) and process_alive(parent)

        await store.request_cancel(run.id, running.started_at)
        await engine.cancel(run.id)
        done = await wait_for_execution(store, run.id, is_done, timeout=5)
    assert done.status is ExecutionStatus.CANCELLED
    assert done.error_message is not None and "cancelled on request" in done.error_message
    await wait_until(
        lambda: _alive(child, parent), lambda alive: not any(alive), timeout=5, what="the process group gone"
    )


async def _alive(*pids: int) -> list[bool]:
    return [process_alive(pid) for pid in pids]


async def test_a_command_ignoring_sigterm_gets_sigkill_after_the_grace(store: SqlStore) -> None:
    script = "trap '' TERM; echo started; while true; do sleep 0.05; done"
    async with started(store, command_job("stubborn", script), cancel_grace=0.3) as engine:
        run = await engine.trigger("stubborn", actor="alice")
        await wait_until(
            lambda: store.read_log(run.id), lambda lines: "started" in text(lines), timeout=5, what="start"
        )
        running = await store.request_cancel(run.id, run.started_at)
        await engine.cancel(run.id)
        done = await wait_for_execution(store, run.id, is_done, timeout=5)
    assert running.cancel_requested
    assert done.status is ExecutionStatus.CANCELLED
    assert "did not stop within cancel_grace=0.3 s" in (done.error_message or "")
    assert "SIGKILL" in text(await store.read_log(run.id, limit=1000))


async def test_exit_code_zero_is_success_and_other_codes_fail_with_the_last_stderr_lines(store: SqlStore) -> None:
    ok = command_job("ok", "echo fine")
    bad = command_job("bad", "echo out; for i in 1 2 3; do echo oops $i >&2; done; exit 3")
    async with started(store, ok, bad) as engine:
        good_run = await engine.trigger("ok", actor="alice")
        bad_run = await engine.trigger("bad", actor="alice")
        good = await wait_for_execution(store, good_run.id, is_done, timeout=5)
        failed = await wait_for_execution(store, bad_run.id, is_done, timeout=5)
    assert good.status is ExecutionStatus.SUCCESS
    assert good.return_value == '{"exit_code": 0}'
    assert failed.status is ExecutionStatus.FAILED
    assert failed.error_message == "command failed: exit code 3; last stderr lines:\noops 1\noops 2\noops 3"
    log = await store.read_log(bad_run.id)
    assert [(line.level, line.message) for line in log if not line.message.startswith("[jobdeck]")] == [
        ("stdout", "out"),
        ("stderr", "oops 1"),
        ("stderr", "oops 2"),
        ("stderr", "oops 3"),
    ] or sorted(line.message for line in log if not line.message.startswith("[jobdeck]")) == [
        "oops 1",
        "oops 2",
        "oops 3",
        "out",
    ]


async def test_a_command_gets_cwd_env_and_its_run_identity(store: SqlStore, tmp_path: Path) -> None:
    spec = command_job(
        "envy",
        'echo "$PWD|$GREETING|$JOBDECK_JOB_ID|$JOBDECK_KWARGS"',
        target={"cwd": str(tmp_path), "env": {"GREETING": "hello"}},
    )
    async with started(store, spec) as engine:
        run = await engine.trigger("envy", kwargs={"day": "2026-03-06"}, actor="alice")
        await wait_for_execution(store, run.id, is_done, timeout=5)
    lines = [line.message for line in await store.read_log(run.id) if line.level == "stdout"]
    assert lines == [f'{tmp_path}|hello|envy|{{"day": "2026-03-06"}}']


async def test_a_missing_program_fails_the_run_with_a_clear_message(store: SqlStore) -> None:
    from jobdeck.models import CommandTarget, JobKind, JobSpec
    from jobdeck.schedules import parse_schedule

    spec = JobSpec(
        id="ghost",
        func="",
        kind=JobKind.COMMAND,
        command=CommandTarget(argv=("/no/such/program",)),
        schedule=parse_schedule("2099-01-01T00:00:00+00:00"),
    )
    async with started(store, spec) as engine:
        run = await engine.trigger("ghost", actor="alice")
        done = await wait_for_execution(store, run.id, is_done, timeout=5)
    assert done.status is ExecutionStatus.FAILED
    assert done.error_message is not None
    assert done.error_message.startswith("cannot start '/no/such/program'")


async def test_a_command_past_its_timeout_ends_failed_with_the_timeout_message(store: SqlStore) -> None:
    spec = command_job("slow", f"{sys.executable} -c 'import time; time.sleep(30)'", timeout=0.5)
    async with started(store, spec) as engine:
        run = await engine.trigger("slow", actor="alice")
        done = await wait_for_execution(store, run.id, is_done, timeout=5)
    assert done.status is ExecutionStatus.FAILED
    assert done.error_message is not None and done.error_message.startswith("timed out after 0.5s")
    assert done.execution_time is not None and done.execution_time < 3
