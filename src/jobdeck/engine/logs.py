"""Standard ``logging`` inside a run goes to the run's log — and still wherever it went before.

:class:`RunLogHandler` sits on the root logger while the engine runs. For every record it looks up the run the
emitting code belongs to (the ContextVar that ``ctx`` and ``update_job_progress`` use, copied into worker threads
too) and appends the record to that run's log. Records emitted outside a run pass by untouched. The handler never
changes a logger's level: a record reaches it only when the logger lets it through (the root logger's default is
WARNING; give your job's logger a level, or use ``ctx.log`` / ``ctx.logger``).

Python prints a WARNING+ record to stderr through its fallback handler (``logging.lastResort``) only when no
handler at all took it; this handler counts as one, so where it is the only one it hands such records to the
fallback itself: installing it never mutes a process.
"""

from __future__ import annotations

import logging

from jobdeck.engine.context import ProgressBoard, current_context

__all__ = ["RunLogHandler", "RunRecordFilter"]


class RunLogHandler(logging.Handler):
    """Routes records emitted inside a run of ``board``'s engine into that run's log.

    Only runs of its own engine (same board) are routed, so several engines in one process never copy a record
    into each other's runs.
    """

    def __init__(self, board: ProgressBoard) -> None:
        super().__init__(level=logging.NOTSET)
        self._board = board

    def emit(self, record: logging.LogRecord) -> None:
        self._pass_on(record)
        ctx = current_context()
        if ctx is None or not ctx.uses(self._board):
            return
        try:
            message = record.getMessage()
            if record.name and record.name != "root":
                message = f"{record.name}: {message}"
            if record.exc_info:
                message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
            ctx.log(message, level=record.levelname.lower())
        except Exception:
            self.handleError(record)

    def _pass_on(self, record: logging.LogRecord) -> None:
        """Give ``record`` to Python's fallback handler when it would have had it without jobdeck."""
        fallback = logging.lastResort
        if fallback is None or record.levelno < fallback.level or not self._first_on_root():
            return
        if not _handled_elsewhere(record.name):
            fallback.handle(record)

    def _first_on_root(self) -> bool:
        # With several engines in one process, one handler passes a record on, not each of them.
        for handler in logging.getLogger().handlers:
            if isinstance(handler, RunLogHandler):
                return handler is self
        return False

    def install(self) -> None:
        """Attach to the root logger (idempotent)."""
        root = logging.getLogger()
        if self not in root.handlers:
            root.addHandler(self)

    def uninstall(self) -> None:
        logging.getLogger().removeHandler(self)


def _handled_elsewhere(name: str) -> bool:
    """Whether a record of logger ``name`` meets a handler other than a RunLogHandler on its way to the root."""
    logger: logging.Logger | None = logging.getLogger(name) if name and name != "root" else logging.getLogger()
    while logger is not None:
        if any(not isinstance(handler, RunLogHandler) for handler in logger.handlers):
            return True
        if not logger.propagate:
            return False
        logger = logger.parent
    return False


class RunRecordFilter(logging.Filter):
    """For a process-wide output handler: leaves out a job's own records below WARNING emitted inside a run
    (they are in the run's log; a busy job would flood the output), keeps everything else, jobdeck's own
    records included."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        name = record.name
        if name.startswith("jobdeck.") and not name.startswith("jobdeck.job."):
            return True
        return current_context() is None
