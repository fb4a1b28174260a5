"""Standard ``logging`` inside a run goes to the run's log.

:class:`RunLogHandler` sits on the root logger while the engine runs. For every record it looks up the run the
emitting code belongs to (the ContextVar that ``ctx`` and ``update_job_progress`` use, copied into worker threads
too) and appends the record to that run's log. Records emitted outside a run pass by untouched. The handler never
changes a logger's level: a record reaches it only when the logger lets it through (the root logger's default is
WARNING; give your job's logger a level, or use ``ctx.log`` / ``ctx.logger``).
"""

from __future__ import annotations

import logging

from jobdeck.engine.context import ProgressBoard, current_context

__all__ = ["RunLogHandler"]


class RunLogHandler(logging.Handler):
    """Routes records emitted inside a run of ``board``'s engine into that run's log.

    Only runs of its own engine (same board) are routed, so several engines in one process never copy a record
    into each other's runs.
    """

    def __init__(self, board: ProgressBoard) -> None:
        super().__init__(level=logging.NOTSET)
        self._board = board

    def emit(self, record: logging.LogRecord) -> None:
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

    def install(self) -> None:
        """Attach to the root logger (idempotent)."""
        root = logging.getLogger()
        if self not in root.handlers:
            root.addHandler(self)

    def uninstall(self) -> None:
        logging.getLogger().removeHandler(self)
