"""``JobDeck`` — the embeddable facade — and ``create_app`` for the standalone server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from jobdeck._version import __version__
from jobdeck.api.deps import current_principal, get_runtime
from jobdeck.api.envelope import RequestIdMiddleware, install_error_handlers
from jobdeck.api.responses import install_openapi
from jobdeck.api.routes import auth as auth_routes
from jobdeck.api.routes import events as events_routes
from jobdeck.api.routes import scheduler as scheduler_routes
from jobdeck.api.routes import system as system_routes
from jobdeck.clock import Clock
from jobdeck.config import Settings, load_jobs_file
from jobdeck.dashboard import dashboard_router
from jobdeck.errors import ConfigError, StoreUnavailable
from jobdeck.jobspec import JobDefaults, job_spec
from jobdeck.models import JobSpec
from jobdeck.process_log import ProcessLog, startup_summary
from jobdeck.runtime import Runtime

__all__ = ["JobDeck", "create_app"]

F = TypeVar("F", bound=Callable[..., Any])


class JobDeck:
    """jobdeck inside any FastAPI app: register jobs, add the lifespan, include the router.

    ::

        deck = JobDeck.from_env()

        @deck.job("daily_report", schedule="18:00")
        async def daily_report(ctx: JobContext) -> None: ...

        app = FastAPI(lifespan=deck.lifespan)
        app.include_router(deck.api_router)
    """

    def __init__(self, settings: Settings | None = None, *, clock: Clock | None = None) -> None:
        self.settings = settings if settings is not None else Settings()
        self._clock = clock
        self._specs: dict[str, JobSpec] = {}
        self._auth_dependency: Callable[..., Any] | None = None
        self._runtime: Runtime | None = None
        self.listen_address: str | None = None
        """Where the HTTP server listens, for the start-up line (``jobdeck serve`` sets it)."""

    @classmethod
    def from_env(cls) -> JobDeck:
        """Settings from ``JOBDECK_*`` variables (and ``.env``); the jobs file of ``JOBDECK_JOBS_FILE`` if set."""
        deck = cls(Settings())
        if deck.settings.jobs_file is not None:
            deck.load_jobs_file(deck.settings.jobs_file)
        return deck

    # -- registration ----------------------------------------------------------------------------------------

    def job(self, job_id: str, *, schedule: str, **options: Any) -> Callable[[F], F]:
        """Register the decorated function as a job. Options are the jobs file's keys (``display_name`` …), checked by
        the same model with the same messages (:mod:`jobdeck.jobspec`); ``enabled=False`` leaves the job out.

        :raises ConfigError: a bad id, schedule or option — at decoration time, before anything starts
        """

        def register(function: F) -> F:
            spec = self._spec_for(function, job_id, schedule, options)
            if spec.enabled:
                self.add_job(spec)
            return function

        return register

    def _spec_for(self, function: Callable[..., Any], job_id: str, schedule: str, options: dict[str, Any]) -> JobSpec:
        for key in ("id", "func"):  # the decorator gives these itself
            if key in options:
                raise ConfigError(f"{key!r} is given by the decorator, not as an option", job_id=job_id, field=key)
        defaults = JobDefaults(
            timezone=self.settings.timezone, misfire_grace=self.settings.misfire_grace, function=function
        )
        return job_spec({"id": job_id, "schedule": schedule, **options}, defaults=defaults, label=job_id)

    def add_job(self, spec: JobSpec) -> None:
        """Register a job built elsewhere (e.g. from a jobs file).

        :raises ConfigError: another job has the same id
        """
        if spec.id in self._specs:
            raise ConfigError("a job with this id is already registered", job_id=spec.id, field="id")
        if self._runtime is not None:
            raise ConfigError("jobs must be registered before jobdeck starts", job_id=spec.id)
        self._specs[spec.id] = spec

    def load_jobs_file(self, path: str | Path) -> None:
        """Register every enabled job of a TOML jobs file; its ``[scheduler]`` table overrides the settings.

        :raises ConfigError: naming the file, the job and the field of every problem
        """
        jobs_file = load_jobs_file(
            Path(path), default_timezone=self.settings.timezone, default_misfire_grace=self.settings.misfire_grace
        )
        self.settings = self.settings.with_overrides(jobs_file.scheduler, source=str(jobs_file.path))
        for spec in jobs_file.jobs:
            self.add_job(spec)

    @property
    def specs(self) -> tuple[JobSpec, ...]:
        return tuple(self._specs.values())

    def use_auth(self, dependency: Callable[..., Any]) -> None:
        """Use the host app's own current-user dependency; it must return a :class:`jobdeck.Principal`."""
        self._auth_dependency = dependency

    # -- running ---------------------------------------------------------------------------------------------

    @property
    def runtime(self) -> Runtime:
        """The started runtime (store, engine, service).

        :raises RuntimeError: jobdeck has not been started by its lifespan yet
        """
        if self._runtime is None:
            raise RuntimeError("jobdeck is not running: use JobDeck.lifespan as (part of) the app's lifespan")
        return self._runtime

    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        """Start jobdeck with the app and stop it (gracefully) with it."""
        self._runtime = runtime = await Runtime.start(self.settings, self.specs, clock=self._clock)
        app.state.jobdeck = runtime
        if self._auth_dependency is not None:
            app.dependency_overrides[current_principal] = self._auth_dependency
        process_log = ProcessLog()
        try:
            with process_log.attached(runtime.events):
                process_log.started(await startup_summary(runtime, address=self.listen_address))
                watcher = asyncio.create_task(process_log.watch(runtime.service.health), name="jobdeck-process-log")
                try:
                    yield
                finally:
                    watcher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await watcher
                    self._runtime = None
                    await runtime.stop()  # still listening: the runs shutdown closes are logged
        finally:
            if self._runtime is not None:  # attaching failed before the block ran
                self._runtime = None
                await runtime.stop()

    @property
    def api_router(self) -> APIRouter:
        """``/api/scheduler/*`` and ``/api/auth/*``, answering in the envelope even inside a host app."""
        router = APIRouter()
        router.include_router(scheduler_routes.router)
        router.include_router(events_routes.router)
        router.include_router(auth_routes.router)
        return router

    @property
    def dashboard(self) -> FastAPI:
        """The web dashboard as an app to mount in a host app: ``app.mount("/scheduler", deck.dashboard)``.

        It signs in jobdeck's own users (session cookie) and serves, under its mount, the event stream and the
        schedule preview its pages use; the host app's lifespan must include ``deck.lifespan``.
        """

        # A mounted app's lifespan and state are not the host's: it finds the runtime through this deck.
        async def deck_runtime() -> Runtime:  # async: no thread-pool hop (see get_runtime)
            try:
                return self.runtime
            except RuntimeError:
                raise StoreUnavailable("jobdeck is not running: add deck.lifespan to the host application") from None

        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        install_error_handlers(app)
        app.dependency_overrides[get_runtime] = deck_runtime
        app.include_router(events_routes.router)
        app.include_router(dashboard_router())
        app.state.deck = self
        return app


def create_app(
    settings: Settings | None = None,
    *,
    jobs_file: str | Path | None = None,
    clock: Clock | None = None,
    deck: JobDeck | None = None,
) -> FastAPI:
    """The standalone jobdeck server: API, probes, and the jobs of ``jobs_file`` (or ``settings.jobs_file``).

    Pass ``deck`` to serve a JobDeck whose jobs were registered in code (``settings`` and ``clock`` are then its).
    """
    if deck is None:
        deck = JobDeck(settings, clock=clock)
        path = jobs_file if jobs_file is not None else deck.settings.jobs_file
        if path is not None:
            deck.load_jobs_file(path)
    app = FastAPI(
        title="jobdeck",
        version=__version__,
        description="A control plane for scheduled jobs: run, record, see and steer every execution.",
        lifespan=deck.lifespan,
        docs_url=None,
        redoc_url=None,
    )
    _serve_docs(app)
    app.add_middleware(RequestIdMiddleware)
    install_error_handlers(app)
    install_openapi(app)
    app.include_router(deck.api_router)
    app.include_router(system_routes.router)
    app.state.deck = deck
    app.include_router(dashboard_router())
    return app


_DOCS_ASSETS = "/docs-assets"


def _serve_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` from files shipped in a package (fastapi-offline's copy of
    swagger-ui-dist and ReDoc), never a CDN: the server works offline, and no third party sees who reads the docs."""
    static = resources.files("fastapi_offline").joinpath("static")
    app.mount(_DOCS_ASSETS, StaticFiles(directory=str(static)), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - API",
            swagger_js_url=f"{root}{_DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{_DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{_DOCS_ASSETS}/favicon.png",
            # Swagger UI's default validator badge is an image fetched from validator.swagger.io: off.
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - API",
            redoc_js_url=f"{root}{_DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{_DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )
