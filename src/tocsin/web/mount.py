"""Put the pages, the status page and the static files on the application."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from tocsin.web import pages, status


def install(app: FastAPI) -> None:
    """Add the browser interface to `app`."""
    app.mount("/static", StaticFiles(packages=[("tocsin", "web/static")]), name="static")
    app.include_router(status.router)
    app.include_router(pages.router)
