"""Alerts in the database: look-ups, pages of them, maintenance windows, change events.

Alert events get in only through `services.ingest`, whichever sender they came from and whoever
acts on an alert by hand (`services.alerts`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select, text, tuple_
from sqlalchemy.orm import Session

from tocsin.core import pagination
from tocsin.core.alerts import AlertStatus
from tocsin.core.pagination import Page
from tocsin.errors import InvalidInput, NotFound
from tocsin.store import services
from tocsin.store.models import (
    Alert,
    Incident,
    Integration,
    MaintenanceWindow,
    ServiceEvent,
    UTCDateTime,
)

__all__ = ["Page"]


# --- looking alerts up --------------------------------------------------------------------------


def get(session: Session, alert_id: int) -> Alert:
    """Return alert `alert_id`, or raise NotFound."""
    found = session.get(Alert, alert_id)
    if found is None:
        raise NotFound(f"unknown alert {alert_id}")
    return found


# Written out, not bound, so both databases match it to the partial index of open alerts.
_OPEN = text("alerts.status != 'resolved'")


def list_(
    session: Session,
    *,
    status: list[str] | None = None,
    open_only: bool = False,
    service: str | None = None,
    limit: int = 100,
) -> list[Alert]:
    """Return the first `limit` alerts, most recently seen first."""
    return page(session, status=status, open_only=open_only, service=service, limit=limit).items


def page(
    session: Session,
    *,
    status: list[str] | None = None,
    open_only: bool = False,
    service: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> Page[Alert]:
    """Return a page of alerts, most recently seen first, and the cursor of the next page.

    Keyset pagination on (last_seen, id): an alert seen again while someone pages moves to the
    front of the list, so a later page neither repeats it nor shows it again.
    """
    query = select(Alert).order_by(Alert.last_seen.desc(), Alert.id.desc()).limit(limit + 1)
    if cursor:
        at, after_id = pagination.decode(_RECENT, cursor)
        query = query.where(tuple_(Alert.last_seen, Alert.id) < tuple_(_at(at), after_id))
    if open_only:
        query = query.where(_OPEN)
    if status:
        wanted = []
        for s in status:
            try:
                wanted.append(AlertStatus(s.lower()).value)
            except ValueError:
                raise InvalidInput(
                    f"unknown alert status {s!r}; valid: {', '.join(AlertStatus)}"
                ) from None
        query = query.where(Alert.status.in_(wanted))
    if service:
        query = query.where(Alert.service_id == services.get_by_slug(session, service).id)
    found = list(session.scalars(query))
    if len(found) <= limit:
        return Page(found)
    last = found[limit - 1]
    return Page(found[:limit], pagination.encode(_RECENT, last.last_seen, last.id))


def firing_state(session: Session, *, limit: int) -> list[tuple[Any, ...]]:
    """Return what the first `limit` open alerts show, cheaply: id, status, count, last seen."""
    rows = session.execute(
        select(Alert.id, Alert.status, Alert.count, Alert.last_seen, Alert.incident_id)
        .where(_OPEN)
        .order_by(Alert.last_seen.desc(), Alert.id.desc())
        .limit(limit)
    )
    return [tuple(row) for row in rows]


_RECENT = "alerts"
_OF_INCIDENT = "incident-alerts"


def _at(value: datetime) -> Any:
    """Return an instant as a bound value of the alert times' column type."""
    return literal(value, UTCDateTime())


# --- maintenance windows ----------------------------------------------------------------------


def add_maintenance(
    session: Session,
    *,
    service: str,
    start: datetime,
    end: datetime,
    reason: str = "",
    actor: str,
    now: datetime,
) -> MaintenanceWindow:
    """Suppress paging for `service` from `start` to `end`; alerts are still recorded."""
    svc = services.get_by_slug(session, service)
    if end <= start:
        raise InvalidInput(f"maintenance for {service!r} must end after it starts")
    if end <= now:
        raise InvalidInput(f"maintenance for {service!r} would already be over")
    window = MaintenanceWindow(
        service=svc, start=start, end=end, reason=reason.strip(), created_by=actor, created_at=now
    )
    session.add(window)
    session.add(
        ServiceEvent(
            service_id=svc.id,
            at=now,
            kind="maintenance",
            summary=f"Maintenance {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
            + (f": {reason.strip()}" if reason.strip() else ""),
            source=actor,
            details={},
        )
    )
    session.flush()
    return window


def list_maintenance(
    session: Session, *, service: str | None = None, since: datetime | None = None
) -> list[MaintenanceWindow]:
    """Return maintenance windows (those ending after `since`, if given), by start."""
    query = select(MaintenanceWindow).order_by(MaintenanceWindow.start)
    if service:
        query = query.where(
            MaintenanceWindow.service_id == services.get_by_slug(session, service).id
        )
    if since is not None:
        query = query.where(MaintenanceWindow.end > since)
    return list(session.scalars(query))


def end_maintenance(session: Session, window_id: int, *, now: datetime) -> MaintenanceWindow:
    """End a maintenance window now (or delete it if it has not started)."""
    window = session.get(MaintenanceWindow, window_id)
    if window is None:
        raise NotFound(f"unknown maintenance window {window_id}")
    if window.start > now:
        session.delete(window)
    else:
        window.end = min(window.end, now)
    session.flush()
    return window


# --- change events ----------------------------------------------------------------------------


def record_change(
    session: Session,
    integration: Integration,
    *,
    summary: str,
    source: str,
    at: datetime,
    details: dict[str, Any],
) -> ServiceEvent:
    """Put a change (a deploy, a config push) on the service's timeline."""
    event = ServiceEvent(
        service_id=integration.service_id,
        at=at,
        kind="change",
        summary=summary,
        source=source or f"{integration.type}:{integration.name}",
        details=details,
    )
    session.add(event)
    session.flush()
    return event


def service_timeline(session: Session, service: str, *, limit: int = 100) -> list[ServiceEvent]:
    """Return the newest entries of a service's own timeline."""
    svc = services.get_by_slug(session, service)
    return list(
        session.scalars(
            select(ServiceEvent)
            .where(ServiceEvent.service_id == svc.id)
            .order_by(ServiceEvent.at.desc(), ServiceEvent.id.desc())
            .limit(limit)
        )
    )


def incident_numbers(session: Session, found: list[Alert]) -> dict[int, int]:
    """Return {incident id: number} for the incidents these alerts are attached to (one query)."""
    ids = {a.incident_id for a in found if a.incident_id is not None}
    if not ids:
        return {}
    rows = session.execute(select(Incident.id, Incident.number).where(Incident.id.in_(ids)))
    return {row[0]: row[1] for row in rows}


def runbook_scenarios(session: Session, incident: Incident) -> list[tuple[str, Any]]:
    """Return (reference, scenario or None) for each runbook scenario the incident's alerts name."""
    from tocsin.core import runbook
    from tocsin.errors import TocsinError

    refs = sorted(
        {
            r
            for r in session.scalars(
                select(Alert.runbook).where(
                    Alert.incident_id == incident.id, Alert.runbook.is_not(None)
                )
            )
            if r
        }
    )
    found: list[tuple[str, Any]] = []
    for ref in refs:
        slug, _, scenario = ref.partition("#")
        service = services.find(session, slug)
        if service is None or service.runbook is None:
            found.append((ref, None))
            continue
        try:
            found.append((ref, runbook.scenario(runbook.parse(service.runbook), scenario)))
        except TocsinError:
            found.append((ref, None))
    return found


def for_incident(
    session: Session, incident: Incident, *, limit: int = 100, cursor: str | None = None
) -> Page[Alert]:
    """Return a page of the alerts attached to `incident`, first seen first, and their total."""
    query = (
        select(Alert)
        .where(Alert.incident_id == incident.id)
        .order_by(Alert.first_seen, Alert.id)
        .limit(limit + 1)
    )
    if cursor:
        at, after_id = pagination.decode(_OF_INCIDENT, cursor, parameter="alerts")
        query = query.where(tuple_(Alert.first_seen, Alert.id) > tuple_(_at(at), after_id))
    found = list(session.scalars(query))
    total = session.scalar(
        select(func.count()).select_from(Alert).where(Alert.incident_id == incident.id)
    )
    if len(found) <= limit:
        return Page(found, total=total)
    last = found[limit - 1]
    return Page(
        found[:limit], pagination.encode(_OF_INCIDENT, last.first_seen, last.id), total=total
    )
