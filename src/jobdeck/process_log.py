"""The process log: what jobdeck does, one line per happening, for whoever reads the server's output.

A consumer of the event bus (DESIGN §9: events are the one way out): it listens to the change events the store
publishes and writes, on the ``jobdeck.process`` logger, one line per run start and end (status, duration), per
failure (the error's first line), per missed or skipped fire and per run closed by jobdeck itself (a zombie, a
run left by a dead process); it watches health and says when the database fails and when it is back; and it
says at start-up what was loaded, where the database is and where the server listens.

It costs the hot path next to nothing: the listener runs on the publisher's thread (no queue, no hop to another
loop) and, at INFO, writes run lines up to a budget per window (:data:`RUN_LINES_PER_WINDOW` per
:data:`WINDOW_S`); past it, a start or a success is only counted — refused before its event is even built (about
1 µs each) — and one summary line says how many when the window ends: a burst of 10,000 fires is about a hundred
lines, not 20,000 writes to stderr. At DEBUG every run has its lines.

:func:`configure_logging` sets up output for a process jobdeck owns (``jobdeck serve``): text or JSON lines to
stderr. An app embedding jobdeck keeps its own logging; it may call :func:`configure_logging` itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from jobdeck.config import Settings
from jobdeck.engine.logs import RunRecordFilter
from jobdeck.events import ChangeEvent, EventBus, RunFinished, RunMissed, RunsForceClosed, RunSkipped, RunStarted
from jobdeck.readmodels import HealthReport
from jobdeck.store import describe_database

if TYPE_CHECKING:
    from jobdeck.runtime import Runtime

__all__ = [
    "RUN_LINES_PER_WINDOW",
    "WINDOW_S",
    "JsonFormatter",
    "ProcessLog",
    "StartupSummary",
    "TextFormatter",
    "configure_logging",
    "startup_summary",
]

LOGGER_NAME = "jobdeck.process"
WINDOW_S = 10.0
RUN_LINES_PER_WINDOW = 100
"""Run lines (start, end, failure, missed, skipped) written one by one per window at INFO; the rest are counted."""
HEALTH_EVERY_S = 5.0
_MAX_TRACKED = 100_000
"""Starts remembered for their end's duration; past this the oldest are forgotten (a run that never ends here)."""
_ERROR_CHARS = 300
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, kw_only=True, slots=True)
class StartupSummary:
    """What the start-up line says."""

    jobs: tuple[str, ...]
    paused: int
    database: str
    """The database URL, password hidden."""
    role: str
    """``scheduler`` (this process fires the jobs) or ``api-only``."""
    address: str | None = None
    """Where the HTTP server listens, when jobdeck runs it."""


async def startup_summary(runtime: Runtime, *, address: str | None = None) -> StartupSummary:
    """What ``runtime`` started with, for :meth:`ProcessLog.started`."""
    jobs = await runtime.service.list_jobs()
    return StartupSummary(
        jobs=tuple(job.id for job in jobs),
        paused=sum(1 for job in jobs if job.paused),
        database=describe_database(runtime.settings.database_url),
        role="scheduler" if runtime.engine.scheduling else "api-only",
        address=address,
    )


class ProcessLog:
    """Turns change events into log lines: an :class:`~jobdeck.events.Listener` of the event bus. Thread-safe:
    events arrive on the engine's thread and the API's.

    Run lines share one budget per window (``lines`` per ``window`` seconds of ``monotonic``); routine events
    past it (a start, a success) are refused in :meth:`wants` — counted, never built — and the rest (a failure,
    a missed or skipped fire) are counted in :meth:`__call__`. The count is written as one summary line.
    """

    def __init__(
        self,
        *,
        logger: logging.Logger | None = None,
        lines: int = RUN_LINES_PER_WINDOW,
        window: float = WINDOW_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger or logging.getLogger(LOGGER_NAME)
        self._lines = lines
        self._window = window
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._starts: dict[str, tuple[str, datetime]] = {}
        """Running here: execution id → (job id, started at)."""
        self._window_start: float | None = None
        self._written = 0
        self._held: Counter[str] = Counter()
        """Lines not written in this window, by what they would have said (``started``, ``success``, …)."""
        self._healthy: bool | None = None

    # -- start-up -------------------------------------------------------------------------------------------------

    def started(self, summary: StartupSummary) -> None:
        """The start-up line."""
        shown = ", ".join(summary.jobs[:10]) + (f", … {len(summary.jobs) - 10} more" if len(summary.jobs) > 10 else "")
        jobs = f"{len(summary.jobs)} job(s) loaded" + (f" ({shown})" if shown else "")
        if summary.paused:
            jobs += f", {summary.paused} paused"
        where = f", listening on {summary.address}" if summary.address else ""
        self._log.info(
            "jobdeck started: %s, database %s%s, role %s",
            jobs,
            summary.database,
            where,
            summary.role,
            extra=_fields(
                event="startup",
                jobs=len(summary.jobs),
                paused=summary.paused,
                database=summary.database,
                address=summary.address,
                role=summary.role,
            ),
        )

    # -- events ---------------------------------------------------------------------------------------------------

    event_types: tuple[type[ChangeEvent], ...] = (RunStarted, RunFinished, RunMissed, RunSkipped)
    """What it writes lines about (a forced close is a :class:`RunFinished` too)."""

    def wants(self, event_type: type[ChangeEvent], status: str | None) -> bool:
        """Before the event is built: routine run events only while the budget lasts (else just counted)."""
        routine = event_type is RunStarted or (event_type is RunFinished and status in ("success", "cancelled"))
        if routine:
            if not self._log.isEnabledFor(logging.INFO):
                return False
            with self._lock:
                return self._take("started" if event_type is RunStarted else status or "finished")
        return True

    def __call__(self, event: ChangeEvent) -> None:
        """An event :meth:`wants` took: write its line."""
        if isinstance(event, RunStarted):
            self._started(event)
        elif isinstance(event, RunsForceClosed):
            self._closed_by_jobdeck(event)
        elif isinstance(event, RunFinished):
            self._finished(event)
        elif isinstance(event, RunMissed | RunSkipped):
            self._not_run(event)

    def _started(self, event: RunStarted) -> None:
        execution = event.execution
        with self._lock:
            if len(self._starts) >= _MAX_TRACKED:
                del self._starts[next(iter(self._starts))]
            self._starts[execution.id] = (execution.job_id, execution.started_at)
        due = "" if execution.trigger.value == "manual" else f", due {_hms(execution.scheduled_time)}"
        attempt = f", attempt {execution.attempt}" if execution.attempt > 1 else ""
        self._log.info(
            "run started: job %s (execution %s, %s%s%s)",
            execution.job_id,
            execution.id,
            execution.trigger.value,
            due,
            attempt,
            extra=_fields(
                event="run_started", job_id=execution.job_id, execution_id=execution.id, trigger=execution.trigger.value
            ),
        )

    def _finished(self, event: RunFinished) -> None:
        status = event.status or "?"
        if len(event.execution_ids) != 1:
            self._closed_by_jobdeck(event)
            return
        execution_id = event.execution_ids[0]
        with self._lock:
            job_id, started_at = self._starts.pop(execution_id, (None, None))
        level = logging.WARNING if status == "failed" else logging.INFO
        if status == "failed":  # success and cancelled took their place in wants()
            with self._lock:
                if not self._take(status):
                    return
        finished = event.finished_at or event.at
        duration = None if started_at is None else max(0.0, (finished - started_at).total_seconds())
        took = "" if duration is None else f" in {_seconds(duration)}"
        error = _first_line(event.message)
        job = f"job {job_id}" if job_id else "a run"
        fields = _fields(
            event="run_finished",
            job_id=job_id,
            execution_id=execution_id,
            status=status,
            duration_s=None if duration is None else round(duration, 6),
            error=error,
        )
        if error and status in ("failed", "cancelled"):
            message = "run %s: %s%s: %s (execution %s)"
            self._log.log(level, message, status, job, took, error, execution_id, extra=fields)
        else:
            self._log.log(level, "run %s: %s%s (execution %s)", status, job, took, execution_id, extra=fields)

    def _closed_by_jobdeck(self, event: RunFinished) -> None:
        """Runs jobdeck closed itself (zombie sweep, start-up recovery, shutdown): rare, always written, with
        the job of each run this process started."""
        with self._lock:
            jobs = sorted({self._starts.pop(each, ("?", _NEVER))[0] for each in event.execution_ids} - {"?"})
        ids = ", ".join(event.execution_ids[:20]) + (" …" if len(event.execution_ids) > 20 else "")
        self._log.warning(
            "run(s) closed as %s by jobdeck: %s (execution %s%s)",
            event.status or "failed",
            _first_line(event.message) or "no reason given",
            ids,
            f"; job {', '.join(jobs)}" if jobs else "",
            extra=_fields(
                job_ids=jobs or None,
                event="runs_closed",
                status=event.status,
                execution_ids=list(event.execution_ids),
                error=_first_line(event.message),
            ),
        )

    def _not_run(self, event: RunMissed | RunSkipped) -> None:
        with self._lock:
            if not self._take(event.action):
                return
        execution = event.execution
        job_id = execution.job_id
        due = f" due {_hms(execution.scheduled_time)}"
        reason = _first_line(event.message) or "no reason given"
        execution_id = event.execution_ids[0] if event.execution_ids else "?"
        fields = _fields(
            event=f"fire_{event.action}", job_id=job_id, execution_id=execution_id, status=event.action, error=reason
        )
        message = "fire %s: job %s%s: %s (execution %s)"
        self._log.warning(message, event.action, job_id, due, reason, execution_id, extra=fields)

    def _take(self, what: str) -> bool:
        """Whether a run line may be written now (call with the lock held); counts it when not."""
        if self._log.isEnabledFor(logging.DEBUG):
            return True
        now = self._monotonic()
        if self._window_start is None or now - self._window_start >= self._window:
            self._summarise_locked(now)
        if self._written < self._lines:
            self._written += 1
            return True
        self._held[what] += 1
        return False

    # -- summaries and health -------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write the summary of the lines held back if their window has ended."""
        with self._lock:
            now = self._monotonic()
            if self._window_start is not None and now - self._window_start >= self._window:
                self._summarise_locked(now)

    def _summarise_locked(self, now: float) -> None:
        held, self._held = self._held, Counter()
        start, self._window_start, self._written = self._window_start, now, 0
        if not held or start is None:
            return
        parts = ", ".join(f"{count} {what}" for what, count in sorted(held.items(), key=lambda item: -item[1]))
        level = logging.WARNING if any(what in held for what in ("failed", "missed", "skipped")) else logging.INFO
        self._log.log(
            level,
            "runs: %d line(s) of the last %s not written one by one (over %d per %s; DEBUG writes all): %s",
            sum(held.values()),
            _seconds(now - start),
            self._lines,
            _seconds(self._window),
            parts,
            extra=_fields(event="runs_summary", span_s=round(now - start, 3), counts=dict(held)),
        )

    def health(self, report: HealthReport) -> None:
        """Say when the store stops answering and when it is back (a line per change, not per probe)."""
        healthy = report.store_ok and report.status != "degraded"
        if healthy == self._healthy:
            return
        first, self._healthy = self._healthy is None, healthy
        if not healthy:
            self._log.error(
                "database problem: %s (health %s)",
                report.store_error or "writes are failing or late",
                report.status,
                extra=_fields(event="database_problem", status=report.status, error=report.store_error),
            )
        elif not first:
            self._log.warning(
                "database answers again (health %s)",
                report.status,
                extra=_fields(event="database_recovered", status=report.status),
            )

    async def watch(self, probe: Callable[[], Awaitable[HealthReport]], *, every: float = HEALTH_EVERY_S) -> None:
        """Until cancelled: write held-back summaries when their window ends and follow health."""
        while True:
            await asyncio.sleep(every)
            self.flush()
            try:
                self.health(await probe())
            except Exception:
                self._log.exception("jobdeck: the health probe failed")

    @contextlib.contextmanager
    def attached(self, bus: EventBus) -> Iterator[ProcessLog]:
        """Listen to ``bus`` for the duration of the block; the last summary is written on leaving it."""
        with bus.listen(self):
            try:
                yield self
            finally:
                with self._lock:
                    self._summarise_locked(self._monotonic())


def _fields(**fields: Any) -> dict[str, Any]:
    """``extra=`` for a record: the structured fields the JSON format writes (None values left out)."""
    return {"jobdeck": {key: value for key, value in fields.items() if value is not None}}


def _first_line(text: str | None) -> str | None:
    if not text:
        return None
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= _ERROR_CHARS else line[: _ERROR_CHARS - 1] + "…"


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.1f} ms"
    if value < 120:
        return f"{value:.2f} s"
    return f"{value / 60:.1f} min"


def _hms(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds")


# -- output ------------------------------------------------------------------------------------------------------


class TextFormatter(logging.Formatter):
    """``2026-03-06T09:30:00.123Z INFO jobdeck.process: run started: …`` (times in UTC)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _utc(record.created)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts, level, logger, message`` (+ ``exc_info``, + the process log's fields)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "jobdeck", None)
        if isinstance(fields, dict):
            data.update(fields)
        if record.exc_info:
            data["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def _utc(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _OutputHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure_logging` adds (so a second call replaces it instead of doubling lines)."""


def configure_logging(settings: Settings, *, stream: IO[str] | None = None) -> logging.Handler:
    """Send this process's log records to ``stream`` (stderr) in ``settings.log_format``, jobdeck's at
    ``settings.log_level``, everyone else's at WARNING and up.

    For a process jobdeck owns (``jobdeck serve`` calls it) or a host app that wants jobdeck's format; it adds one
    handler to the root logger and leaves other handlers alone. A job's own records below WARNING stay in its
    run's log. Python ``warnings`` are logged too. Returns the handler.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _OutputHandler):
            root.removeHandler(handler)
    handler = _OutputHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    handler.addFilter(RunRecordFilter())
    root.addHandler(handler)
    logging.getLogger("jobdeck").setLevel(settings.log_level)
    logging.getLogger("uvicorn").setLevel(logging.INFO)  # its start, stop and request lines, in this format
    # jobdeck records missed and skipped fires itself (and the process log says so once); APScheduler's own
    # warning per late fire would repeat each of them, unbudgeted.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    logging.captureWarnings(True)
    return handler
