"""The web dashboard: server-rendered pages (Jinja2) with a small script for live updates and actions.

Pages call the :class:`~jobdeck.service.SchedulerService`, never the store, and ask :mod:`jobdeck.access` (the
API's permission policy too) before an action. ``dashboard_router()`` gives the pages as a router; the standalone
server includes it at ``/``, and ``JobDeck.dashboard`` wraps it in an app a host mounts anywhere. The dashboard
imports nothing of the API: what both need over HTTP is :mod:`jobdeck.web`.
"""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["dashboard_router"]


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
