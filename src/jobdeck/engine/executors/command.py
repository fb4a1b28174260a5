"""The command executor: a subprocess per run, its output captured line by line, progress read from its stdout.

The process starts in a session (and process group) of its own, so stopping it reaches every process it started:
a cancel request sends SIGTERM to the whole group at once (a process's way of being asked to stop); when the
runner's escalation cancels the run's task — ``cancel_grace`` later, or at a timeout or shutdown — the group gets
SIGKILL. Whatever remains of the group after a cancelled run is killed too, so no orphan is left behind.

Progress protocol — a line on stdout of one of these forms updates the run's progress and is not logged::

    ::progress 42                      42 %
    ::progress 42 syncing 420/1000     42 %, message "syncing 420/1000"
    ::progress 420/1000 syncing        420 of 1000 items (42 %), message "syncing"
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fnmatch
import functools
import json
import os
import re
import signal
import sys
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from jobdeck.engine.context import JobCancelled, JobContext
from jobdeck.engine.executors.base import JobCall, JobFailure, UntypedExecutor
from jobdeck.models import CommandTarget

__all__ = ["CommandExecutor", "command_environment", "parse_progress"]

_OWN_PREFIX = "JOBDECK_"

_PROGRESS = re.compile(
    r"::progress\s+(?:(?P<done>\d+)\s*/\s*(?P<total>\d+)|(?P<pct>\d+(?:\.\d+)?)%?)(?:\s+(?P<msg>.*))?"
)
_CHUNK = 65536
_MAX_LINE_BYTES = 64 * 1024
_STDERR_TAIL = 10
_DRAIN_TIMEOUT = 2.0
"""After the process exits, how long its pipes may stay open (a background child holding them) before reading
stops."""
_KILL_WAIT = 5.0


def parse_progress(line: str) -> dict[str, Any] | None:
    """The progress fields of a protocol line (see the module docstring), or None for any other line."""
    match = _PROGRESS.fullmatch(line.strip())
    if match is None:
        return None
    fields: dict[str, Any] = {"message": (match["msg"] or "").strip() or None}
    if match["pct"] is not None:
        fields["progress"] = float(match["pct"])
    else:
        done, total = int(match["done"]), int(match["total"])
        fields.update(processed_items=done, total_items=total)
    return fields


def command_environment(
    environ: Mapping[str, str], pass_env: tuple[str, ...], own: Mapping[str, str]
) -> dict[str, str]:
    """A command's environment: the variables of ``environ`` matching ``pass_env`` (names or ``fnmatch`` patterns,
    case-sensitive), never a ``JOBDECK_*`` one (jobdeck's settings: the signing key, the admin password, the
    database URL), then the job's ``own`` table on top."""
    passed = {
        name: value
        for name, value in environ.items()
        if not name.startswith(_OWN_PREFIX) and any(fnmatch.fnmatchcase(name, pattern) for pattern in pass_env)
    }
    return {**passed, **own}


class CommandExecutor(UntypedExecutor):
    """Runs a :class:`CommandTarget`. kwargs reach the process as JSON in ``JOBDECK_KWARGS``.

    The process gets a clean environment (:func:`command_environment`): jobdeck's own settings never reach a job,
    whose output any viewer can read in the run's log.
    """

    def __init__(self, target: CommandTarget, *, pass_env: tuple[str, ...] = ("*",)) -> None:
        self._target = target
        self._pass_env = pass_env

    async def invoke(self, call: JobCall) -> Any:
        ctx = call.ctx
        target = self._target
        env = command_environment(os.environ, self._pass_env, target.env)
        env.update(
            JOBDECK_EXECUTION_ID=ctx.execution_id,
            JOBDECK_JOB_ID=ctx.job_id,
            JOBDECK_ATTEMPT=str(ctx.attempt),
            JOBDECK_KWARGS=json.dumps(dict(call.kwargs), default=str),
        )
        pipes: dict[str, Any] = {
            "stdin": asyncio.subprocess.DEVNULL,
            "stdout": asyncio.subprocess.PIPE,
            "stderr": asyncio.subprocess.PIPE,
            "cwd": target.cwd,
            "env": env,
            "start_new_session": True,
        }
        if sys.platform == "linux":
            pipes["preexec_fn"] = functools.partial(ctypes.CDLL(None).prctl, _PR_SET_PDEATHSIG, signal.SIGKILL)
        try:
            if target.shell:
                process = await asyncio.create_subprocess_shell(target.describe(), **pipes)
            else:
                process = await asyncio.create_subprocess_exec(*target.argv, **pipes)
        except OSError as exc:
            raise JobFailure(f"cannot start {target.describe()!r}: {exc.strerror or exc}") from exc
        group = process.pid  # the session leader's pid is the group id
        ctx.log(f"[jobdeck] started pid {process.pid}: {target.describe()}", level="info")
        ctx.on_cancel(lambda: _signal_group(group, signal.SIGTERM))
        stderr_tail: deque[str] = deque(maxlen=_STDERR_TAIL)
        assert process.stdout is not None and process.stderr is not None
        readers = [
            asyncio.create_task(_read_lines(process.stdout, lambda line: _on_stdout(ctx, line))),
            asyncio.create_task(_read_lines(process.stderr, lambda line: _on_stderr(ctx, line, stderr_tail))),
        ]
        try:
            code = await process.wait()
        except asyncio.CancelledError:
            # The escalation (cancel grace over, timeout, shutdown): the whole group goes, now.
            ctx.log(f"[jobdeck] sending SIGKILL to process group {group}", level="warning")
            _signal_group(group, signal.SIGKILL)
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(process.wait()), _KILL_WAIT)
            for reader in readers:
                reader.cancel()
            raise
        if ctx.cancel_requested:
            _signal_group(group, signal.SIGKILL)  # what is left of the group: no orphans
        _, pending = await asyncio.wait(readers, timeout=_DRAIN_TIMEOUT)
        for reader in pending:
            reader.cancel()
        if ctx.cancel_requested:
            how = f"signal {_signal_name(-code)}" if code < 0 else f"exit code {code}"
            raise JobCancelled(f"the command stopped ({how}) after the cancel request")
        if code == 0:
            return {"exit_code": 0}
        how = f"killed by signal {_signal_name(-code)}" if code < 0 else f"exit code {code}"
        tail = "\n".join(stderr_tail)
        raise JobFailure(
            f"command failed: {how}" + (f"; last stderr lines:\n{tail}" if tail else ""), detail=tail or None
        )


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _on_stdout(ctx: JobContext, line: str) -> None:
    fields = parse_progress(line) if line.startswith("::progress") else None
    if fields is None:
        ctx.log(line, level="stdout")
        return
    with contextlib.suppress(JobCancelled):  # stopping a command is the signals' business, not the reader's
        ctx.progress(**fields)


def _on_stderr(ctx: JobContext, line: str, tail: deque[str]) -> None:
    tail.append(line)
    ctx.log(line, level="stderr")


async def _read_lines(stream: asyncio.StreamReader, on_line: Callable[[str], None]) -> None:
    """Split a pipe into lines (a very long line is cut into pieces of at most 64 KB) until EOF."""
    buffer = b""
    while True:
        chunk = await stream.read(_CHUNK)
        if not chunk:
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for raw in lines:
            on_line(_decode(raw))
        while len(buffer) > _MAX_LINE_BYTES:
            on_line(_decode(buffer[:_MAX_LINE_BYTES]))
            buffer = buffer[_MAX_LINE_BYTES:]
    if buffer:
        on_line(_decode(buffer))


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\r")


_PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal a child gets when its parent dies. Set in the child before exec (the libc handle
is opened in the parent: nothing but the call runs between fork and exec), so that kill -9 of jobdeck ends the
command too instead of leaving it running behind a record closed as failed. It reaches the command itself, not
what a shell starts beside it."""
