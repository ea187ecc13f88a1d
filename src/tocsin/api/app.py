"""The FastAPI application: REST under /api/v1, health, OpenAPI at /docs."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

import tocsin
from tocsin.api import errors, openapi
from tocsin.api.limits import BodyLimit
from tocsin.api.routes import (
    ack,
    alerts,
    directory,
    health,
    incidents,
    ingest,
    postmortems,
    schedules,
)
from tocsin.api.writer import Writer
from tocsin.clock import Clock, SystemClock
from tocsin.engine.loop import Engine
from tocsin.engine.outbox import Sender, adapter_factory
from tocsin.settings import Settings
from tocsin.store import tokens
from tocsin.store.db import make_engine, make_read_sessionmaker, make_sessionmaker
from tocsin.store.reports import StateCollector
from tocsin.web import mount as web
from tocsin.web.throttle import LoginThrottle


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    run_engine: bool = True,
    ingest_limit: int = 256,
) -> FastAPI:
    """Return the Tocsin web application for `settings` (from the environment by default).

    `run_engine` starts the background loop that does due work (missed heartbeats); tests that
    drive time by hand turn it off and call the store directly.
    """
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ingest_writer.start()
        if run_engine:
            app.state.worker.start()
        try:
            yield
        finally:
            if run_engine:
                app.state.worker.stop()
            app.state.ingest_writer.stop()

    app = FastAPI(
        title="Tocsin",
        version=tocsin.__version__,
        description="Self-hosted incident response: incidents, on-call, alerts, postmortems.",
        lifespan=lifespan,
    )
    engine = make_engine(settings.database_url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = make_sessionmaker(engine)
    app.state.read_sessions = make_read_sessionmaker(engine)
    app.state.login_throttle = LoginThrottle()
    app.state.clock = clock or SystemClock()
    sender = Sender(
        app.state.sessions,
        app.state.clock,
        adapter_factory(settings),
        node=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
        base_url=settings.base_url,
        claim_for=timedelta(seconds=settings.claim_seconds),
        secret_key=settings.secret_key,
    )
    app.state.worker = Engine(app.state.sessions, app.state.clock, sender=sender)
    app.state.wake_engine = app.state.worker.wake
    app.state.ingest_gate = ingest.Gate(limit=ingest_limit)
    app.state.ingest_writer = Writer(app.state.sessions, app.state.clock)
    errors.install(app)

    def check_token(secret: str | None) -> None:
        with app.state.read_sessions() as session:
            tokens.authenticate(session, secret)

    app.add_middleware(
        BodyLimit,
        limit=settings.api_max_body,
        check_token=check_token,
    )
    app.state.metrics_networks = health.parse_networks(settings.metrics_allow)
    app.include_router(health.router)
    app.include_router(ingest.router)
    app.include_router(ack.router)
    registry = CollectorRegistry()
    registry.register(StateCollector(app.state.read_sessions))
    app.state.metrics_registry = registry

    for router in (
        incidents.router,
        schedules.router,
        alerts.router,
        postmortems.router,
        directory.router,
    ):
        app.include_router(router, prefix="/api/v1", responses=errors.API_RESPONSES)
    web.install(app)
    openapi.install(app)
    return app
