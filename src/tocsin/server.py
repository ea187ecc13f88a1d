"""The web server's application: the REST API under /api/v1, ingestion, health, the web UI and
the status page, assembled on the runtime that `tocsin.app` builds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import cache
from typing import ClassVar

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

import tocsin
from tocsin import app as runtime
from tocsin.api import openapi
from tocsin.api.metrics import StateCollector
from tocsin.api.routes import (
    alerts,
    audit,
    chat,
    directory,
    health,
    incidents,
    ingest,
    maintenance,
    postmortems,
    replies,
    reports,
    schedules,
    subscribers,
    swaps,
)
from tocsin.api.writer import Writer
from tocsin.clock import Clock
from tocsin.http import errors
from tocsin.http.limits import BodyLimit
from tocsin.settings import Settings
from tocsin.store import tokens
from tocsin.web import mount as web
from tocsin.web.headers import SecurityHeaders
from tocsin.web.throttle import LoginThrottle

Endpoint = Callable[..., Awaitable[Response]]


class IngestPaths:
    """The short way in for the busiest ingestion routes: a POST from Alertmanager, PagerDuty's
    Events API, Opsgenie or the generic webhook goes straight to its route, past the
    framework's routing and middleware (which cost more than the route on a one-alert body).

    The routes are the same functions FastAPI calls, answering every bad input as they always
    do; their answers get the same security headers. Every other request, and every other
    method on these paths, goes the normal way.
    """

    BUSIEST: ClassVar[tuple[Endpoint, ...]] = (
        ingest.alertmanager_with_bearer,
        ingest.alertmanager_with_key,
        ingest.pagerduty_enqueue,
        ingest.opsgenie_create,
        ingest.generic_webhook,
    )
    ROUTE = "tocsin.ingest_route"

    def __init__(self, *, https: bool) -> None:
        self.secured = SecurityHeaders(self._answer, https=https)
        # The paths are the router's own: a route moved there moves here too.
        self.exact: dict[str, Endpoint] = {}
        self.keyed: dict[str, Endpoint] = {}  # "/hooks/generic/" for "/hooks/generic/{key}"
        for route in ingest.router.routes:
            if isinstance(route, APIRoute) and route.endpoint in self.BUSIEST:
                if route.path.endswith("/{key}"):
                    self.keyed[route.path.removesuffix("{key}")] = route.endpoint
                else:
                    self.exact[route.path] = route.endpoint
        if len(self.exact) + len(self.keyed) != len(self.BUSIEST):
            raise RuntimeError("an ingestion route of IngestPaths.BUSIEST is not on the router")

    def match(self, scope: Scope) -> tuple[Endpoint, tuple[str, ...]] | None:
        """Return the route for this request and its path parameter, if it takes the short
        way."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        found = self.exact.get(path)
        if found is not None:
            return found, ()
        prefix, slash, key = path.rpartition("/")
        keyed = self.keyed.get(prefix + slash)
        if keyed is not None and key:
            return keyed, (key,)
        return None

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint, args = scope[self.ROUTE]
        try:
            response = await endpoint(*args, Request(scope, receive))
        except Exception as exc:  # what the framework's handlers would answer
            response = errors.answer_for(exc)
        await response(scope, receive, send)


class Tocsin(FastAPI):
    """The application; ingestion's busiest routes take the short way in (`IngestPaths`)."""

    ingest_paths: IngestPaths | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request (or a lifespan event)."""
        paths = self.ingest_paths
        route = paths.match(scope) if paths is not None else None
        if paths is None or route is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        scope[IngestPaths.ROUTE] = route
        await paths.secured(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    run_engine: bool = True,
    ingest_limit: int = 256,
) -> FastAPI:
    """Return the Tocsin web application for `settings` (from the environment by default).

    `run_engine` starts the background loop that does due work (escalations, reminders, missed
    heartbeats, the outbox); tests that drive time by hand turn it off and run it themselves.
    """
    built = runtime.build(settings, clock=clock)

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
            built.adapters.close()

    app = Tocsin(
        title="Tocsin",
        version=tocsin.__version__,
        description="Self-hosted incident response: incidents, on-call, alerts, postmortems.",
        lifespan=lifespan,
    )
    settings = built.settings
    app.state.runtime = built
    app.state.settings = settings
    app.state.engine = built.database
    app.state.sessions = built.sessions
    app.state.read_sessions = built.read_sessions
    app.state.login_throttle = LoginThrottle()
    app.state.clock = built.clock
    app.state.worker = built.engine
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
    registry = CollectorRegistry()
    registry.register(StateCollector(app.state.read_sessions))
    app.state.metrics_registry = registry

    app.router.routes.extend(_routes())
    web.install(app)
    openapi.install(app)
    app.ingest_paths = IngestPaths(https=settings.base_url.startswith("https://"))
    return app


def serving_app(settings: Settings | None = None) -> FastAPI:
    """Return the application for a process that does nothing else but serve it: what was
    made while building it is put out of the garbage collector's reach
    (`tocsin.app.freeze_startup_objects`)."""
    app = create_app(settings)
    runtime.freeze_startup_objects()
    return app


@cache
def _routes() -> list[BaseRoute]:
    """Return health, ingestion and the API under /api/v1, built once for every application.

    FastAPI builds an included router's routes again for each application that includes it, on
    its first requests: about 0.3 s of CPU per application, which a process making many (the
    tests make one per test) paid every time. The routes read their state from `request.app`,
    so applications can share them.
    """
    shared = APIRouter()
    shared.include_router(health.router)
    shared.include_router(ingest.router)
    shared.include_router(replies.router)
    shared.include_router(chat.router)
    for router in (
        incidents.router,
        schedules.router,
        swaps.router,
        alerts.router,
        postmortems.router,
        reports.router,
        directory.router,
        audit.router,
        maintenance.router,
        subscribers.router,
    ):
        shared.include_router(router, prefix="/api/v1", responses=errors.API_RESPONSES)
    return list(shared.routes)
