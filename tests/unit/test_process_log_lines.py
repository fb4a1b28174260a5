"""The process log's lines and budget, its JSON format, and the run-log capture that must not mute a process."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from jobdeck.config import Settings
from jobdeck.engine.context import ProgressBoard
from jobdeck.engine.logs import RunLogHandler
from jobdeck.events import EventBus, RunFinished, RunMissed, RunsForceClosed, RunSkipped, RunStarted
from jobdeck.models import Execution, ExecutionStatus
from jobdeck.process_log import JsonFormatter, ProcessLog, configure_logging
from jobdeck.testing import FrozenClock

T0 = datetime(2026, 3, 6, 9, 30, tzinfo=UTC)


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, list[logging.LogRecord]]]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("jobdeck.test-process-log")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = Keep()
    logger.addHandler(handler)
    yield logger, records
    logger.removeHandler(handler)


def started(execution_id: str, job_id: str = "tick") -> Execution:
    return Execution(
        id=execution_id,
        job_id=job_id,
        job_name=job_id,
        status=ExecutionStatus.RUNNING,
        scheduled_time=T0,
        started_at=T0,
        updated_at=T0,
    )


def publish_run(bus: EventBus, execution_id: str, *, status: str = "success", error: str | None = None) -> None:
    execution = started(execution_id)
    bus.emit(RunStarted, job_id="tick", execution_ids=(execution_id,), status="running", execution=execution)
    bus.emit(
        RunFinished,
        execution_ids=(execution_id,),
        status=status,
        message=error,
        finished_at=T0 + timedelta(milliseconds=250),
    )


def messages(records: list[logging.LogRecord]) -> list[str]:
    return [record.getMessage() for record in records]


def test_a_run_is_a_start_line_and_an_end_line_with_its_duration(captured: tuple[logging.Logger, list]) -> None:
    logger, records = captured
    bus = EventBus(FrozenClock(T0))
    with ProcessLog(logger=logger).attached(bus):
        publish_run(bus, "e1")
        publish_run(bus, "e2", status="failed", error="ValueError: empty input\nTraceback line")
    assert messages(records) == [
        "run started: job tick (execution e1, schedule, due 2026-03-06T09:30:00+00:00)",
        "run success: job tick in 250.0 ms (execution e1)",
        "run started: job tick (execution e2, schedule, due 2026-03-06T09:30:00+00:00)",
        "run failed: job tick in 250.0 ms: ValueError: empty input (execution e2)",
    ]
    assert [record.levelname for record in records] == ["INFO", "INFO", "INFO", "WARNING"]


def test_past_the_budget_runs_are_counted_not_built_and_summed_up_once(captured: tuple[logging.Logger, list]) -> None:
    logger, records = captured
    ticks = Ticks()
    bus = EventBus(FrozenClock(T0))
    process_log = ProcessLog(logger=logger, lines=4, window=10, monotonic=ticks)
    with process_log.attached(bus):
        for index in range(1000):
            publish_run(bus, f"ok{index}")
        publish_run(bus, "bad", status="failed", error="boom")
        assert len(records) == 4  # the budget: two runs' start and end lines
        assert process_log.wants(RunStarted, "running") is False  # refused before an event is built
        ticks.now += 10
        process_log.flush()
    assert len(records) == 5
    summary = records[-1].getMessage()
    # 1,001 runs less the two written, and the probe of wants() above: every line held back is counted.
    assert summary.startswith("runs: 1999 line(s) of the last 10.00 s not written one by one")
    assert "1000 started, 998 success, 1 failed" in summary
    assert records[-1].levelname == "WARNING"  # a failure is among them


def test_at_debug_every_run_has_its_lines(captured: tuple[logging.Logger, list]) -> None:
    logger, records = captured
    logger.setLevel(logging.DEBUG)
    bus = EventBus(FrozenClock(T0))
    with ProcessLog(logger=logger, lines=2).attached(bus):
        for index in range(50):
            publish_run(bus, f"r{index}")
    assert len(records) == 100


def test_runs_closed_by_the_sweep_are_always_written(captured: tuple[logging.Logger, list]) -> None:
    logger, records = captured
    bus = EventBus(FrozenClock(T0))
    with ProcessLog(logger=logger, lines=0).attached(bus):
        bus.emit(
            RunsForceClosed,
            execution_ids=("z1",),
            status="failed",
            message="no heartbeat for 75 s (zombie_after=60 s): the process running it (host h, pid 7) is gone",
        )
    assert messages(records) == [
        "run(s) closed as failed by jobdeck: no heartbeat for 75 s (zombie_after=60 s): the process running it "
        "(host h, pid 7) is gone (execution z1)"
    ]


def test_missed_and_skipped_fires_are_warnings(captured: tuple[logging.Logger, list]) -> None:
    logger, records = captured
    bus = EventBus(FrozenClock(T0))
    missed, skipped = started("m1"), started("s1")
    with ProcessLog(logger=logger).attached(bus):
        bus.emit(RunMissed, job_id="tick", execution_ids=("m1",), message="late by 90 s", execution=missed)
        bus.emit(RunSkipped, job_id="tick", execution_ids=("s1",), message="max_instances=1 reached", execution=skipped)
    assert messages(records) == [
        "fire missed: job tick due 2026-03-06T09:30:00+00:00: late by 90 s (execution m1)",
        "fire skipped: job tick due 2026-03-06T09:30:00+00:00: max_instances=1 reached (execution s1)",
    ]
    assert {record.levelname for record in records} == {"WARNING"}


def test_nobody_listening_builds_no_event() -> None:
    bus = EventBus(FrozenClock(T0))
    assert bus.subscribers == 0
    with ProcessLog(lines=0).attached(bus):
        assert bus.subscribers == 1
    assert bus.subscribers == 0


def test_json_lines_carry_the_fields() -> None:
    record = logging.LogRecord("jobdeck.process", logging.WARNING, __file__, 1, "run %s", ("failed",), None)
    record.jobdeck = {"event": "run_finished", "job_id": "tick", "duration_s": 0.25}
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "run failed" and line["level"] == "WARNING" and line["logger"] == "jobdeck.process"
    assert (line["event"], line["job_id"], line["duration_s"]) == ("run_finished", "tick", 0.25)
    assert line["ts"].endswith("Z")


@contextlib.contextmanager
def bare_root() -> Iterator[logging.Logger]:
    """The root logger with no handler at all (as in a script that never configured logging; pytest's own
    capture handlers are set aside meanwhile)."""
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = []
    try:
        yield root
    finally:
        root.handlers = saved


def test_the_run_log_capture_does_not_mute_warnings_outside_runs(capsys: pytest.CaptureFixture[str]) -> None:
    handler = RunLogHandler(ProgressBoard())
    with bare_root():
        handler.install()
        try:
            logging.getLogger("vendor.storage").warning("disk nearly full")
            logging.getLogger("vendor.storage").info("below the fallback's level")
        finally:
            handler.uninstall()
    assert capsys.readouterr().err == "disk nearly full\n"


def test_the_capture_stays_quiet_where_another_handler_prints(capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    first, second = RunLogHandler(ProgressBoard()), RunLogHandler(ProgressBoard())
    with bare_root() as root:
        root.addHandler(logging.StreamHandler(stream))
        first.install()
        second.install()
        try:
            logging.getLogger("vendor.storage").warning("disk nearly full")
        finally:
            first.uninstall()
            second.uninstall()
    assert stream.getvalue() == "disk nearly full\n"
    assert capsys.readouterr().err == ""  # printed once, by the host's handler


def test_configure_logging_replaces_its_own_handler_and_keeps_the_hosts() -> None:
    host = logging.NullHandler()
    stream = io.StringIO()
    with bare_root() as root:
        root.addHandler(host)
        try:
            first = configure_logging(Settings(log_format="json"), stream=io.StringIO())
            second = configure_logging(Settings(log_level="debug"), stream=stream)
            assert root.handlers == [host, second] and first is not second
            logging.getLogger("jobdeck.process").debug("hello %s", "there")
        finally:
            logging.getLogger("jobdeck").setLevel(logging.NOTSET)
            logging.captureWarnings(False)
    assert stream.getvalue().rstrip().endswith("DEBUG jobdeck.process: hello there")


def test_change_event_json_is_unchanged_by_the_new_fields() -> None:
    event = RunFinished(at=T0, execution_ids=("e1",), status="failed", message="x", finished_at=T0)
    assert set(event.as_json()) == {"kind", "action", "at", "job_id", "execution_ids", "status"}
