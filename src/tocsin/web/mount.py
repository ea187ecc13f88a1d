"""Put the pages, the one-click acknowledge page, the status page and the static files on the
application."""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute

from tocsin.web import ack, admin, maintenance, oncall, pages, profile, sso, status, swaps
from tocsin.web.headers import SecurityHeaders


def install(app: FastAPI) -> None:
    """Add the browser interface to `app`, and the security headers to all its answers."""
    settings = app.state.settings
    app.state.sso = sso.configure(settings)
    docs = (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
    app.add_middleware(
        SecurityHeaders,
        https=settings.base_url.startswith("https://"),
        docs_paths=[path for path in docs if path],
    )
    app.mount("/static", StaticFiles(packages=[("tocsin", "web/static")]), name="static")
    app.router.routes.extend(_routes())


@cache
def _routes() -> list[BaseRoute]:
    """Return the pages' routes, built once for every application (see `server._routes`)."""
    shared = APIRouter()
    shared.include_router(ack.router)
    shared.include_router(status.router)
    shared.include_router(pages.router)
    shared.include_router(oncall.router)
    shared.include_router(profile.router)
    shared.include_router(swaps.router)
    shared.include_router(admin.router)
    shared.include_router(maintenance.router)
    shared.include_router(sso.router)
    return list(shared.routes)
