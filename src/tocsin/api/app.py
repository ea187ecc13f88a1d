"""The FastAPI application: REST under /api/v1, health, OpenAPI at /docs."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import text

import tocsin
from tocsin.api import errors
from tocsin.api.routes import directory, incidents, schedules
from tocsin.clock import Clock, SystemClock
from tocsin.settings import Settings
from tocsin.store.db import make_engine, make_sessionmaker


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """Return the Tocsin web application for `settings` (from the environment by default)."""
    settings = settings or Settings.from_env()
    app = FastAPI(
        title="Tocsin",
        version=tocsin.__version__,
        description="Self-hosted incident response: incidents, on-call, alerts, postmortems.",
    )
    engine = make_engine(settings.database_url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = make_sessionmaker(engine)
    app.state.clock = clock or SystemClock()
    errors.install(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Answer 200 when the process is up and the database answers."""
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok", "version": tocsin.__version__}

    api = "/api/v1"
    app.include_router(incidents.router, prefix=api)
    app.include_router(schedules.router, prefix=api)
    app.include_router(directory.router, prefix=api)
    return app
