"""The web dashboard: server-rendered pages (Jinja2) with a small script for live updates and actions.

Pages call the :class:`~jobdeck.service.SchedulerService`, never the store. ``dashboard_router()`` gives the pages
as a router (the standalone server includes it at ``/``); ``create_dashboard(deck)`` wraps them in an app a host
mounts anywhere (``app.mount("/scheduler", deck.dashboard)``), with the event stream and schedule preview the
pages' script calls at ``<mount>/api/scheduler/…``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI

if TYPE_CHECKING:
    from jobdeck.api.app import JobDeck
    from jobdeck.runtime import Runtime

__all__ = ["create_dashboard", "dashboard_router"]


def dashboard_router() -> APIRouter:
    """Every dashboard page and action, relative to wherever the router is included or mounted."""
    from jobdeck.dashboard import actions, pages_jobs, pages_runs, signin
    from jobdeck.dashboard.web import Ui

    ui = Ui()
    router = APIRouter(include_in_schema=False)
    router.include_router(signin.routes(ui))
    router.include_router(pages_jobs.routes(ui))
    router.include_router(pages_runs.routes(ui))
    router.include_router(actions.routes(ui))
    return router


def create_dashboard(deck: JobDeck) -> FastAPI:
    """The dashboard as a mountable app. A mounted app's own lifespan and state are not the host's, so it finds
    the runtime through ``deck`` (which the host app's ``deck.lifespan`` starts)."""
    from jobdeck.api.deps import get_runtime
    from jobdeck.api.envelope import install_error_handlers
    from jobdeck.api.routes import events
    from jobdeck.errors import StoreUnavailable

    async def deck_runtime() -> Runtime:  # async: no thread-pool hop (see get_runtime)
        try:
            return deck.runtime
        except RuntimeError:
            raise StoreUnavailable("jobdeck is not running: add deck.lifespan to the host application") from None

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    install_error_handlers(app)
    app.dependency_overrides[get_runtime] = deck_runtime
    app.include_router(events.router)
    app.include_router(dashboard_router())
    app.state.deck = deck
    return app
