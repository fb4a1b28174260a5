"""``AsyncJobdeckClient``: the API over httpx, one coroutine per route (the twin of ``JobdeckClient``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
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

__all__ = ["AsyncJobdeckClient"]

T = TypeVar("T")


class AsyncJobdeckClient:
    """A jobdeck server's API. Each method returns the envelope's ``data`` and raises the server's error classes
    (:class:`~jobdeck.errors.JobNotFound`, :class:`~jobdeck.errors.JobAlreadyRunning` …, with ``http_status``
    and ``request_id`` set); :class:`~jobdeck.client.ServerUnreachable` when no answer comes.

    ::

        async with AsyncJobdeckClient("http://127.0.0.1:8000", token="jd_…") as client:
            run = await client.trigger_job("daily_report")
            done = await client.wait_for_execution(run["id"])
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
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

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncJobdeckClient:
        return self

    async def __aexit__(
        self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
    ) -> None:
        await self.aclose()

    async def _send(self, call: Call[T]) -> T:
        try:
            response = await self._http.send(call.request(self._http))
        except httpx.TransportError as exc:
            raise unreachable(self.base_url, exc) from exc
        return cast(T, unwrap(response, envelope=call.envelope))

    # -- the original scheduler.ts ---------------------------------------------------------------------------------

    async def get_jobs(self) -> list[Job]:
        return await self._send(routes.get_jobs())

    async def get_job_detail(self, job_id: str) -> JobDetail:
        return await self._send(routes.get_job_detail(job_id))

    async def pause_job(self, job_id: str, until: datetime | None = None) -> Job:
        """Pause (persisted, idempotent); with ``until`` (aware) the job resumes by itself then."""
        return await self._send(routes.pause_job(job_id, until))

    async def resume_job(self, job_id: str) -> Job:
        return await self._send(routes.resume_job(job_id))

    async def trigger_job(
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
        return await self._send(routes.trigger_job(job_id, force, kwargs, idempotency_key))

    async def get_job_history(self, job_id: str, *, limit: int | None = None, offset: int | None = None) -> AuditPage:
        return await self._send(routes.get_job_history(job_id, limit, offset))

    async def get_all_history(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        job_id: str | None = None,
        status: str | None = None,
        action: str | None = None,
    ) -> AuditPage:
        return await self._send(routes.get_all_history(limit, offset, job_id, status, action))

    async def get_scheduler_stats(self) -> SchedulerStats:
        return await self._send(routes.get_scheduler_stats())

    async def get_scheduler_health(self) -> SchedulerHealth:
        return await self._send(routes.get_scheduler_health())

    async def update_job_metadata(
        self, job_id: str, *, display_name: str | None = None, description: str | None = None
    ) -> Job:
        """``""`` clears a field; None leaves it."""
        return await self._send(routes.update_job_metadata(job_id, display_name, description))

    async def get_job_executions(
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
        return await self._send(routes.get_job_executions(job_id, query))

    async def get_single_job_executions(
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
        return await self._send(routes.get_single_job_executions(job_id, query))

    async def get_job_execution_stats(self, job_id: str) -> ExecutionStats:
        return await self._send(routes.get_job_execution_stats(job_id))

    async def cancel_execution(self, execution_id: str) -> Execution:
        return await self._send(routes.cancel_execution(execution_id))

    async def mark_execution_failed(self, execution_id: str, reason: str | None = None) -> Execution:
        return await self._send(routes.mark_execution_failed(execution_id, reason))

    async def delete_execution(self, execution_id: str) -> None:
        await self._send(routes.delete_execution(execution_id))

    # -- jobdeck's additions ---------------------------------------------------------------------------------------

    async def login(self, username: str, password: str) -> Token:
        """Sign in; the client sends the new access token from now on."""
        token = await self._send(routes.login(username, password))
        self.token = token["access_token"]
        return token

    async def get_me(self) -> User:
        return await self._send(routes.get_me())

    async def get_execution(self, execution_id: str) -> ExecutionDetail:
        return await self._send(routes.get_execution(execution_id))

    async def get_execution_log(
        self, execution_id: str, *, after: int | None = None, limit: int | None = None
    ) -> LogPage:
        """Log lines with ``seq > after`` (0: the newest ``limit``); pass ``last_seq`` back as ``after``."""
        return await self._send(routes.get_execution_log(execution_id, after, limit))

    async def update_job_schedule(self, job_id: str, schedule: str) -> JobDetail:
        return await self._send(routes.update_job_schedule(job_id, schedule))

    async def reset_job_schedule(self, job_id: str) -> JobDetail:
        return await self._send(routes.reset_job_schedule(job_id))

    async def preview_schedule(
        self, schedule: str, *, timezone: str | None = None, language: str | None = None, count: int | None = None
    ) -> SchedulePreview:
        """A schedule string's next fire times, changing nothing. :raises InvalidInput: a bad schedule (422)."""
        return await self._send(routes.preview_schedule(schedule, timezone, language, count))

    async def healthz(self) -> Healthz:
        """The unauthenticated probe: ``{"status": …}`` whether it answered 200 or 503."""
        return await self._send(routes.healthz())

    async def stream_events(self, *, last_event_id: str | None = None) -> AsyncIterator[ServerSentEvent]:
        """The raw Server-Sent Events of the events stream, until the server ends it (close the iterator to stop)."""
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        try:
            async with self._http.stream("GET", routes.EVENTS_PATH, headers=headers, timeout=None) as response:
                if response.is_error:
                    await response.aread()
                    unwrap(response)
                parser = EventParser()
                async for line in response.aiter_lines():
                    event = parser.line(line)
                    if event is not None:
                        yield event
        except httpx.TransportError as exc:
            raise unreachable(self.base_url, exc) from exc

    async def changes(self, *, last_event_id: str | None = None) -> AsyncIterator[ChangeEvent]:
        """Only the ``change`` events of the stream, parsed."""
        async for event in self.stream_events(last_event_id=last_event_id):
            if event.event == "change" and isinstance(event.json, dict):
                yield cast(ChangeEvent, event.json)

    # -- helpers ---------------------------------------------------------------------------------------------------

    async def follow_execution(self, execution_id: str, *, interval: float = 0.5) -> AsyncIterator[ExecutionDetail]:
        """Yield the execution now and after every ``interval`` seconds, ending with its terminal state."""
        while True:
            execution = await self.get_execution(execution_id)
            yield execution
            if execution["status"] in TERMINAL_STATUSES:
                return
            await asyncio.sleep(interval)

    async def wait_for_execution(
        self,
        execution_id: str,
        *,
        timeout: float = 60.0,  # noqa: ASYNC109 - the twin of JobdeckClient.wait_for_execution
        interval: float = 0.5,
    ) -> ExecutionDetail:
        """The execution once it has finished.

        :raises TimeoutError: it is still running after ``timeout`` seconds
        """
        async with asyncio.timeout(timeout):
            async for execution in self.follow_execution(execution_id, interval=interval):
                if execution["status"] in TERMINAL_STATUSES:
                    return execution
        raise AssertionError("follow_execution ends with a terminal execution")
