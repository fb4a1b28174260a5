"""The repositories of :class:`~jobdeck.store.sql.SqlStore`, one by aggregate, each given the
:class:`~jobdeck.store.database.Database` it reads and writes."""

from __future__ import annotations

from jobdeck.store.repositories.accounts import Accounts
from jobdeck.store.repositories.audit import AuditTrail
from jobdeck.store.repositories.execution_reads import ExecutionReads
from jobdeck.store.repositories.executions import Executions
from jobdeck.store.repositories.jobs import Jobs
from jobdeck.store.repositories.logs import ExecutionLogs
from jobdeck.store.repositories.runtime import RuntimeState

__all__ = ["Accounts", "AuditTrail", "ExecutionLogs", "ExecutionReads", "Executions", "Jobs", "RuntimeState"]
