"""Health and metrics: /healthz for load balancers, /metrics for Prometheus."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

import tocsin
from tocsin.errors import InvalidInput
from tocsin.http import errors
from tocsin.http.deps import bearer
from tocsin.schemas import HealthDown, HealthOut
from tocsin.store import tokens
from tocsin.store.tokens import Scope

router = APIRouter(tags=["health"])

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """Return the networks of TOCSIN_METRICS_ALLOW, or raise InvalidInput naming each bad one."""
    found: list[Network] = []
    problems = []
    for cidr in cidrs:
        try:
            found.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            problems.append(f"TOCSIN_METRICS_ALLOW: {cidr!r} is not a network like 10.0.0.0/8")
    if problems:
        raise InvalidInput.of(problems)
    return tuple(found)


def allowed_address(host: str | None, networks: tuple[Network, ...]) -> bool:
    """Return whether client address `host` is inside one of `networks`."""
    if not host or not networks:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


@router.get(
    "/healthz",
    response_model=HealthOut,
    responses={503: {"model": HealthDown, "description": "A dependency is down."}},
)
def healthz(request: Request) -> HealthOut | JSONResponse:
    """Answer 200 when the process is up and the database answers, else 503 naming what is down."""
    try:
        # A read session: the check must not queue behind writers for SQLite's write lock.
        with request.app.state.read_sessions() as session:
            session.execute(text("SELECT 1"))
    except (DBAPIError, PoolTimeout) as exc:
        if not errors.database_down(exc):
            raise
        reason = errors.database_reason(exc)
        down = HealthDown(
            status="unavailable",
            version=tocsin.__version__,
            checks={"database": f"down: {reason}"},
            detail=f"the database is unavailable ({reason})",
            errors=[f"database: down: {reason}"],
        )
        errors.log.warning("health check: database unavailable: %s", exc)
        return JSONResponse(
            down.model_dump(),
            status_code=503,
            headers={"Retry-After": str(errors.RETRY_AFTER)},
        )
    return HealthOut(status="ok", version=tocsin.__version__, checks={"database": "ok"})


def metrics_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """Let in an allowed network, or a token with the metrics (or admin) scope."""
    networks: tuple[Network, ...] = request.app.state.metrics_networks
    if allowed_address(request.client.host if request.client else None, networks):
        return
    with request.app.state.read_sessions() as session:
        _user, scopes = tokens.authenticate(
            session, credentials.credentials if credentials else None
        )
    tokens.require_scope(scopes, Scope.METRICS)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={
        **errors.responses(401, 403, 503),
        200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
    },
    dependencies=[Depends(metrics_caller)],
)
def prometheus(request: Request) -> PlainTextResponse:
    """Prometheus metrics: open incidents, alert events, notifications, lag, MTTR.

    Needs a bearer token with the `metrics` (or `admin`) scope, unless the client's address is
    in TOCSIN_METRICS_ALLOW.
    """
    return PlainTextResponse(
        generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST
    )
