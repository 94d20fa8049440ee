"""The REST application: every router, the error envelope, middleware, served at /api/v1."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from api.context import AppContext
from api.errors import EXCEPTION_HANDLERS
from api.middleware import build_middleware
from api.routes import (
    account_links,
    admin,
    admin_live,
    admin_mail,
    admin_realtime,
    app_options,
    auth,
    calendar,
    datasets,
    datasets_delete,
    documents,
    documents_files,
    documents_manage,
    engagement,
    invitations,
    jobs,
    meeting_messages,
    meeting_series,
    meeting_states,
    meetings,
    ml,
    models,
    notifications,
    preferences,
    projects,
    records,
    records_export,
    system,
    tasks,
    uploads,
    users,
    visualizations,
)
from api.routing import Endpoint

ROUTERS = [
    system.router, auth.router, users.router, admin.router, projects.router, meetings.router,
    meeting_messages.router, tasks.router, notifications.router, uploads.router,
    datasets.router, jobs.router, models.router, ml.router,
    # Records and charts of a dataset.
    records.router, records_export.router, visualizations.router,
    # People: series, calendars, invitations, links, preferences, mail, engagement.
    meeting_states.router, meeting_series.router, calendar.router, account_links.router,
    invitations.router, preferences.router, admin_mail.router, admin_live.router,
    engagement.router,
    # Documents: sharing, finding, downloading.
    documents.router, documents_manage.router, documents_files.router,
    datasets_delete.router,
    # The web app: the sign-up mode, the operator's live counts.
    admin_realtime.router, app_options.router,
]


def all_endpoints() -> list[Endpoint]:
    return [endpoint for router in ROUTERS for endpoint in router.endpoints]


def create_app(ctx: AppContext, *, extra_routes: list[BaseRoute] | None = None) -> Starlette:
    """Build the REST app around an already-built context (no I/O happens here)."""
    routes: list[BaseRoute] = []
    # Every endpoint route sees the whole list (filled below) to answer a 405 truly.
    routes.extend(e.route(siblings=routes) for e in all_endpoints())
    routes.extend(extra_routes or [])
    app = Starlette(
        routes=routes,
        middleware=build_middleware(ctx),
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.ctx = ctx
    return app
