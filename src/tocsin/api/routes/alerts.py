"""Alerts, integrations, maintenance windows and a service's own timeline, over HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from tocsin.api import paging
from tocsin.api.params import RowId, ServiceSlug
from tocsin.core.timeutil import parse_duration
from tocsin.http.deps import NowDep, Reader, SessionDep, Writer
from tocsin.schemas import (
    AlertOut,
    IntegrationCreated,
    IntegrationOut,
    MaintenanceOut,
    ServiceEventOut,
    alert_views,
)
from tocsin.services import alerts
from tocsin.store import integrations

router = APIRouter()


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IntegrationIn(Body):
    service: str
    type: str = Field(description="alertmanager, pagerduty, opsgenie, generic or heartbeat")
    name: str | None = None
    interval: str | None = Field(None, description="Heartbeats only: like 5m.")


class MaintenanceIn(Body):
    start: datetime
    end: datetime
    reason: str = ""


@router.get(
    "/alerts",
    tags=["alerts"],
    responses={200: {"headers": paging.headers("alerts")}},
)
def list_alerts(
    request: Request,
    response: Response,
    session: SessionDep,
    _caller: Reader,
    status: Annotated[list[str] | None, Query()] = None,
    open: bool = False,
    service: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[
        str | None, Query(description="From the previous page's X-Next-Cursor or Link.")
    ] = None,
) -> list[AlertOut]:
    """List alerts, most recently seen first, a page at a time.

    The body is a list of at most `limit` alerts (100 unless asked, at most 1000). When more
    follow, the answer carries `Link: </api/v1/alerts?...&cursor=...>; rel="next"` and the same
    cursor in `X-Next-Cursor`: ask again with it (and the same filters) for the next page; the
    last page has neither. A cursor is opaque; one that this list did not give out is refused
    with 400. An alert seen again while you page moves to the front and is not repeated.
    """
    found = alerts.page(
        session, status=status, open_only=open, service=service, limit=limit, cursor=cursor
    )
    paging.link_next(request, response, found.next_cursor)
    return alert_views(session, found.items)


@router.get("/alerts/{alert_id}", tags=["alerts"])
def show_alert(alert_id: RowId, session: SessionDep, _caller: Reader) -> AlertOut:
    """Show one alert."""
    return alert_views(session, [alerts.get(session, alert_id)])[0]


@router.post("/alerts/{alert_id}/acknowledge", tags=["alerts"])
def acknowledge_alert(
    alert_id: RowId, session: SessionDep, caller: Writer, now: NowDep
) -> AlertOut:
    """Acknowledge an alert."""
    alert = alerts.acknowledge(session, alert_id, actor=caller.actor, now=now)
    session.commit()
    return alert_views(session, [alert])[0]


@router.post("/alerts/{alert_id}/resolve", tags=["alerts"])
def resolve_alert(alert_id: RowId, session: SessionDep, caller: Writer, now: NowDep) -> AlertOut:
    """Resolve an alert."""
    alert = alerts.resolve(session, alert_id, actor=caller.actor, now=now)
    session.commit()
    return alert_views(session, [alert])[0]


@router.get("/integrations", tags=["integrations"])
def list_integrations(
    session: SessionDep, _caller: Reader, service: str | None = None
) -> list[IntegrationOut]:
    """List integrations (never their keys)."""
    return [IntegrationOut.of(i) for i in integrations.list_(session, service=service)]


@router.post("/integrations", status_code=201, tags=["integrations"])
def create_integration(
    body: IntegrationIn, session: SessionDep, _caller: Writer, now: NowDep
) -> IntegrationCreated:
    """Create an integration; its key is in this answer and nowhere else, ever.

    Administrators, and the administrators of the service's team, may (403 else).
    """
    interval = parse_duration(body.interval) if body.interval else None
    integration, key = integrations.create(
        session, service=body.service, type=body.type, name=body.name, interval=interval, now=now
    )
    session.commit()
    return IntegrationCreated(
        id=integration.id,
        service=integration.service.slug,
        type=integration.type,
        name=integration.name,
        key=key,
    )


@router.delete("/integrations/{integration_id}", status_code=204, tags=["integrations"])
def remove_integration(integration_id: RowId, session: SessionDep, _caller: Writer) -> Response:
    """Delete an integration; its key stops working at once (administrators, and the
    administrators of the service's team)."""
    integrations.remove(session, integration_id)
    session.commit()
    return Response(status_code=204)


@router.get("/services/{slug}/maintenance", tags=["services"])
def list_maintenance(
    slug: ServiceSlug, session: SessionDep, _caller: Reader, now: NowDep, all: bool = False
) -> list[MaintenanceOut]:
    """List maintenance windows (current and future unless all=true)."""
    found = alerts.list_maintenance(session, service=slug, since=None if all else now)
    return [MaintenanceOut.of(w) for w in found]


@router.post("/services/{slug}/maintenance", status_code=201, tags=["services"])
def add_maintenance(
    slug: ServiceSlug, body: MaintenanceIn, session: SessionDep, caller: Writer, now: NowDep
) -> MaintenanceOut:
    """Start or schedule a maintenance window: alerts are recorded, nothing pages."""
    window = alerts.add_maintenance(
        session,
        service=slug,
        start=body.start,
        end=body.end,
        reason=body.reason,
        actor=caller.actor,
        now=now,
    )
    session.commit()
    return MaintenanceOut.of(window)


@router.delete("/maintenance/{window_id}", status_code=204, tags=["services"])
def end_maintenance(
    window_id: RowId, session: SessionDep, _caller: Writer, now: NowDep
) -> Response:
    """End a maintenance window now."""
    alerts.end_maintenance(session, window_id, now=now)
    session.commit()
    return Response(status_code=204)


@router.get("/services/{slug}/timeline", tags=["services"])
def service_timeline(
    slug: ServiceSlug, session: SessionDep, _caller: Reader
) -> list[ServiceEventOut]:
    """The service's own timeline: change events, maintenance."""
    return [ServiceEventOut.model_validate(e) for e in alerts.service_timeline(session, slug)]
