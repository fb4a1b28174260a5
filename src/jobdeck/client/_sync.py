"""``JobdeckClient``: the API over httpx, one blocking method per route."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar, cast

import httpx

from jobdeck.client import _routes as routes
from jobdeck.client._calls import Call, unreachable, unwrap
from jobdeck.client._sse import EventParser, ServerSentEvent
from jobdeck.client._types import (
    TERMINAL_STATUSES,
    AuditPage,
    ChangeEvent,
    Execution,
    ExecutionDetail,
    ExecutionPage,
    ExecutionStats,
    ExecutionStatus,
    Healthz,
    Job,
    JobDetail,
    LogPage,
    SchedulePreview,
    SchedulerHealth,
    SchedulerStats,
    Token,
    User,
)

__all__ = ["JobdeckClient"]

T = TypeVar("T")


class JobdeckClient:
    """A jobdeck server's API. Each method returns the envelope's ``data`` and raises the server's error classes
    (:class:`~jobdeck.errors.JobNotFound`, :class:`~jobdeck.errors.JobAlreadyRunning` …, with ``http_status``
    and ``request_id`` set); :class:`~jobdeck.client.ServerUnreachable` when no answer comes.

    ::

        with JobdeckClient("http://127.0.0.1:8000", token="jd_…") as client:
            run = client.trigger_job("daily_report")
            done = client.wait_for_execution(run["id"])
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, headers=dict(headers or {}), transport=transport
        )
        self.token = token

    # -- plumbing --------------------------------------------------------------------------------------------------

    @property
    def token(self) -> str | None:
        return self._token

    @token.setter
    def token(self, token: str | None) -> None:
        self._token = token
        if token:
            self._http.headers["Authorization"] = f"Bearer {token}"
        else:
            self._http.headers.pop("Authorization", None)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> JobdeckClient:
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.close()

    def _send(self, call: Call[T]) -> T:
        try:
            response = self._http.send(call.request(self._http))
        except httpx.TransportError as exc:
            raise unreachable(self.base_url, exc) from exc
        return cast(T, unwrap(response, envelope=call.envelope))

    # -- the original scheduler.ts ---------------------------------------------------------------------------------

    def get_jobs(self) -> list[Job]:
        return self._send(routes.get_jobs())

    def get_job_detail(self, job_id: str) -> JobDetail:
        return self._send(routes.get_job_detail(job_id))

    def pause_job(self, job_id: str, until: datetime | None = None) -> Job:
        """Pause (persisted, idempotent); with ``until`` (aware) the job resumes by itself then."""
        return self._send(routes.pause_job(job_id, until))

    def resume_job(self, job_id: str) -> Job:
        return self._send(routes.resume_job(job_id))

    def trigger_job(
        self,
        job_id: str,
        force: bool = False,
        kwargs: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Execution:
        """Run once now; ``kwargs`` for this run only; a repeated ``idempotency_key`` returns the first run.

        :raises JobAlreadyRunning: max_instances runs are going and ``force`` is false
        :raises InvalidInput: ``kwargs`` do not fit the job's parameters (422)
        """
        return self._send(routes.trigger_job(job_id, force, kwargs, idempotency_key))

    def get_job_history(self, job_id: str, *, limit: int | None = None, offset: int | None = None) -> AuditPage:
        return self._send(routes.get_job_history(job_id, limit, offset))

    def get_all_history(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        job_id: str | None = None,
        status: str | None = None,
        action: str | None = None,
    ) -> AuditPage:
        return self._send(routes.get_all_history(limit, offset, job_id, status, action))

    def get_scheduler_stats(self) -> SchedulerStats:
        return self._send(routes.get_scheduler_stats())

    def get_scheduler_health(self) -> SchedulerHealth:
        return self._send(routes.get_scheduler_health())

    def update_job_metadata(
        self, job_id: str, *, display_name: str | None = None, description: str | None = None
    ) -> Job:
        """``""`` clears a field; None leaves it."""
        return self._send(routes.update_job_metadata(job_id, display_name, description))

    def get_job_executions(
        self,
        *,
        job_id: str | None = None,
        status: ExecutionStatus | None = None,
        is_manual: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> ExecutionPage:
        query = routes.executions_query(status, is_manual, since, until, limit, offset)
        return self._send(routes.get_job_executions(job_id, query))

    def get_single_job_executions(
        self,
        job_id: str,
        *,
        status: ExecutionStatus | None = None,
        is_manual: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> ExecutionPage:
        query = routes.executions_query(status, is_manual, since, until, limit, offset)
        return self._send(routes.get_single_job_executions(job_id, query))

    def get_job_execution_stats(self, job_id: str) -> ExecutionStats:
        return self._send(routes.get_job_execution_stats(job_id))

    def cancel_execution(self, execution_id: str) -> Execution:
        return self._send(routes.cancel_execution(execution_id))

    def mark_execution_failed(self, execution_id: str, reason: str | None = None) -> Execution:
        return self._send(routes.mark_execution_failed(execution_id, reason))

    def delete_execution(self, execution_id: str) -> None:
        self._send(routes.delete_execution(execution_id))

    # -- jobdeck's additions ---------------------------------------------------------------------------------------

    def login(self, username: str, password: str) -> Token:
        """Sign in; the client sends the new access token from now on."""
        token = self._send(routes.login(username, password))
        self.token = token["access_token"]
        return token

    def get_me(self) -> User:
        return self._send(routes.get_me())

    def get_execution(self, execution_id: str) -> ExecutionDetail:
        return self._send(routes.get_execution(execution_id))

    def get_execution_log(self, execution_id: str, *, after: int | None = None, limit: int | None = None) -> LogPage:
        """Log lines with ``seq > after`` (0: the newest ``limit``); pass ``last_seq`` back as ``after``."""
        return self._send(routes.get_execution_log(execution_id, after, limit))

    def update_job_schedule(self, job_id: str, schedule: str) -> JobDetail:
        return self._send(routes.update_job_schedule(job_id, schedule))

    def reset_job_schedule(self, job_id: str) -> JobDetail:
        return self._send(routes.reset_job_schedule(job_id))

    def preview_schedule(
        self, schedule: str, *, timezone: str | None = None, language: str | None = None, count: int | None = None
    ) -> SchedulePreview:
        """A schedule string's next fire times, changing nothing. :raises InvalidInput: a bad schedule (422)."""
        return self._send(routes.preview_schedule(schedule, timezone, language, count))

    def healthz(self) -> Healthz:
        """The unauthenticated probe: ``{"status": …}`` whether it answered 200 or 503."""
        return self._send(routes.healthz())

    def stream_events(self, *, last_event_id: str | None = None) -> Iterator[ServerSentEvent]:
        """The raw Server-Sent Events of the events stream, until the server ends it (close the iterator to stop)."""
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        try:
            with self._http.stream("GET", routes.EVENTS_PATH, headers=headers, timeout=None) as response:
                if response.is_error:
                    response.read()
                    unwrap(response)
                parser = EventParser()
                for line in response.iter_lines():
                    event = parser.line(line)
                    if event is not None:
                        yield event
        except httpx.TransportError as exc:
            raise unreachable(self.base_url, exc) from exc

    def changes(self, *, last_event_id: str | None = None) -> Iterator[ChangeEvent]:
        """Only the ``change`` events of the stream, parsed."""
        for event in self.stream_events(last_event_id=last_event_id):
            if event.event == "change" and isinstance(event.json, dict):
                yield cast(ChangeEvent, event.json)

    # -- helpers ---------------------------------------------------------------------------------------------------

    def follow_execution(self, execution_id: str, *, interval: float = 0.5) -> Iterator[ExecutionDetail]:
        """Yield the execution now and after every ``interval`` seconds, ending with its terminal state."""
        pause = threading.Event()
        while True:
            execution = self.get_execution(execution_id)
            yield execution
            if execution["status"] in TERMINAL_STATUSES:
                return
            pause.wait(interval)

    def wait_for_execution(self, execution_id: str, *, timeout: float = 60.0, interval: float = 0.5) -> ExecutionDetail:
        """The execution once it has finished.

        :raises TimeoutError: it is still running after ``timeout`` seconds
        """
        deadline = time.monotonic() + timeout
        for execution in self.follow_execution(execution_id, interval=interval):
            if execution["status"] in TERMINAL_STATUSES:
                return execution
            if time.monotonic() > deadline:
                break
        raise TimeoutError(f"execution {execution_id} still running after {timeout}s")
