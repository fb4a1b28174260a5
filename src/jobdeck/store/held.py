"""Writes the database cannot take yet: the writer's health (:class:`WriteStatus`) and the spool file that keeps
held claims and closes across a crash (:class:`Spool`).

When the database refuses writes (SQLite locked past its busy timeout, PostgreSQL unreachable) the store's writer
holds them in memory, in order, and retries until they land (see ``_writer``). Past a bound of held writes, each
further held claim or close is also appended to a spool file, one JSON line each, flushed and fsynced: a process
that dies with writes held leaves them there, and the next store opened on the same database replays them before
anything else runs (claims are ``ON CONFLICT DO NOTHING`` and closes touch running records only, so a write that
did land before the crash is not applied twice). A replayed claim of a dead process is then closed by the
engine's start-up recovery like any record that process left running.

The spool sits next to a SQLite file (``jobs.db`` → ``jobs.db.spool-<pid>-<token>-<n>.jsonl``); for PostgreSQL in
the working directory (``jobdeck-<database>.spool-…``). One
file per store (a server has two: the API's and the engine's), so that clearing one never drops the other's.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jobdeck.models import Execution, ExecutionStatus, TriggerKind

__all__ = ["LAG_S", "Spool", "SpooledWrite", "WriteStatus", "spool_files"]

LAG_S = 2.0
"""A write (or a read a fire waits for) taking longer than this — a lock held elsewhere — counts as lagging."""

_log = logging.getLogger(__name__)
_sequence = itertools.count(1)
_INCARNATION = secrets.token_hex(4)
"""Names this process's spool files apart from a previous process with the same pid (containers reuse pid 1)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class WriteStatus:
    """What the store's writer knows about its writes right now (read on the write path, never by a query)."""

    ok: bool = True
    """False while writes are failing and being held."""
    reason: str | None = None
    """Why writes are held (the database's error), or that they lag; None when all is well."""
    waiting: int = 0
    """Writes submitted and not yet committed (held ones included)."""
    held: int = 0
    """Writes that failed at least once and wait for a retry."""
    spooled: int = 0
    """Held writes also kept in the spool file."""
    oldest_age_s: float | None = None
    """Seconds the oldest uncommitted write has been waiting (None: nothing waits)."""

    @staticmethod
    def worst(*statuses: WriteStatus) -> WriteStatus:
        """Several writers' statuses as one: the worst health (failing first, then the longest wait) with the
        largest counts."""
        worst = min(statuses, key=lambda w: (w.ok, -(w.oldest_age_s or 0.0)))
        return dataclasses.replace(
            worst,
            waiting=max(w.waiting for w in statuses),
            held=max(w.held for w in statuses),
            spooled=max(w.spooled for w in statuses),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class SpooledWrite:
    """One write read back from a spool: an ``insert`` of ``record`` or a ``close`` of ``key`` with ``values``."""

    kind: str
    record: Execution | None = None
    key: str = ""
    values: dict[str, Any] = dataclasses.field(default_factory=dict)


class Spool:
    """An append-only file of held claims and closes (JSON lines), created on the first append."""

    def __init__(self, folder: Path, stem: str) -> None:
        self._folder = folder
        self._stem = stem
        self.path = folder / f"{stem}.spool-{os.getpid()}-{_INCARNATION}-{next(_sequence)}.jsonl"

    def append(self, writes: list[SpooledWrite]) -> None:
        """Append ``writes`` durably (flushed and fsynced before returning)."""
        if not writes:
            return
        lines = "".join(json.dumps(_encode(write), default=_default) + "\n" for write in writes)
        self._folder.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as file:
            file.write(lines)
            file.flush()
            os.fsync(file.fileno())

    def clear(self) -> None:
        """Every spooled write landed: remove the file."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:  # replaying it again later is harmless (see the module docstring)
            _log.warning("jobdeck: could not remove the spool %s: %s", self.path, exc)

    def leftovers(self) -> list[Path]:
        """Spool files of this database left by processes that are gone (this process's own other stores' files,
        and live processes' files, are theirs to replay), oldest first."""
        return [path for path in spool_files(self._folder, self._stem) if not _owner_alive(path)]


def spool_files(folder: Path, stem: str) -> list[Path]:
    """Every spool file of ``stem`` in ``folder``, oldest first."""
    try:
        found = list(folder.glob(f"{stem}.spool-*.jsonl"))
    except OSError:
        return []
    return sorted(found, key=lambda path: (path.stat().st_mtime, path.name))


def read_spool(path: Path) -> list[SpooledWrite]:
    """The writes of a spool file; a torn last line (the process died while appending) is ignored."""
    writes: list[SpooledWrite] = []
    with path.open(encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            try:
                writes.append(_decode(json.loads(line, object_hook=_object_hook)))
            except (ValueError, KeyError, TypeError) as exc:
                _log.warning("jobdeck: spool %s line %d cannot be read (%s); ignored", path, number, exc)
    return writes


def _owner_alive(path: Path) -> bool:
    try:
        pid_text, incarnation = path.name.rsplit(".spool-", 1)[1].split("-")[:2]
        pid = int(pid_text)
    except ValueError:
        return False
    if incarnation == _INCARNATION:
        return True  # another store of this process: its own to clear
    if pid == os.getpid():
        return False  # a previous process that had our pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists under another user, or cannot tell
    return True


# -- JSON form --------------------------------------------------------------------------------------------------

_DATETIME = "$datetime"


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {_DATETIME: value.isoformat()}
    raise TypeError(f"cannot spool a {type(value).__name__}")


def _object_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and _DATETIME in obj:
        return datetime.fromisoformat(obj[_DATETIME])
    return obj


def _encode(write: SpooledWrite) -> dict[str, Any]:
    if write.kind == "insert":
        assert write.record is not None
        record = {f.name: getattr(write.record, f.name) for f in dataclasses.fields(Execution)}
        record["kwargs"] = dict(record["kwargs"])
        return {"kind": "insert", "record": record}
    return {"kind": write.kind, "key": write.key, "values": write.values}


def _decode(data: dict[str, Any]) -> SpooledWrite:
    kind = data["kind"]
    if kind == "insert":
        fields = dict(data["record"])
        fields["status"] = ExecutionStatus(fields["status"])
        fields["trigger"] = TriggerKind(fields["trigger"])
        return SpooledWrite(kind="insert", record=Execution(**fields), key=str(fields["id"]))
    if kind == "close":
        return SpooledWrite(kind="close", key=str(data["key"]), values=dict(data["values"]))
    raise ValueError(f"unknown spooled write {kind!r}")
