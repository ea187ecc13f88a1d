"""Read what the public status page needs, and only that, from the database."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tocsin.core import statuspage as core
from tocsin.core.incident import IncidentStatus, PublicStatus, Visibility
from tocsin.store import severities
from tocsin.store.models import (
    Incident,
    IncidentService,
    MaintenanceWindow,
    Service,
    StatusComponent,
    StatusUpdate,
)

_OPEN = [s.value for s in IncidentStatus if s.is_open]


def components(session: Session) -> list[core.Component]:
    """Return the status-page components in display order, each with its services' slugs."""
    rows = list(
        session.scalars(
            select(StatusComponent).order_by(StatusComponent.position, StatusComponent.id)
        )
    )
    members: dict[int, set[str]] = {}
    for component_id, slug in session.execute(
        select(Service.component_id, Service.slug).where(Service.component_id.is_not(None))
    ):
        if component_id is not None:
            members.setdefault(component_id, set()).add(slug)
    return [
        core.Component(
            slug=row.slug,
            name=row.name,
            description=row.description,
            services=frozenset(members.get(row.id, ())),
        )
        for row in rows
    ]


def incident_facts(
    session: Session, *, since: datetime, numbers: list[int] | None = None
) -> list[core.IncidentFacts]:
    """Return the public facts of incidents open now or started since `since` (no drills)."""
    query = select(Incident).where(Incident.is_drill.is_(False))
    if numbers is not None:
        query = query.where(Incident.number.in_(numbers))
    else:
        query = query.where(or_(Incident.started_at >= since, Incident.status.in_(_OPEN)))
    found = list(session.scalars(query))
    if not found:
        return []
    ids = [i.id for i in found]
    updates: dict[int, list[core.PublicUpdate]] = {}
    for row in session.scalars(
        select(StatusUpdate).where(
            StatusUpdate.incident_id.in_(ids),
            StatusUpdate.visibility == Visibility.PUBLIC.value,
            StatusUpdate.public_status.is_not(None),
        )
    ):
        if row.public_status is None:
            continue
        updates.setdefault(row.incident_id, []).append(
            core.PublicUpdate(
                at=row.at, status=PublicStatus(row.public_status), message=row.message
            )
        )
    services: dict[int, set[str]] = {}
    for incident_id, slug in session.execute(
        select(IncidentService.incident_id, Service.slug)
        .join(Service, Service.id == IncidentService.service_id)
        .where(IncidentService.incident_id.in_(ids))
    ):
        services.setdefault(incident_id, set()).add(slug)
    scale = severities.scale(session)
    ranks = {name: n for n, name in enumerate(scale.names, start=1)}
    return [
        core.IncidentFacts(
            number=i.number,
            public_title=i.public_title,
            severity_rank=ranks.get(i.severity, len(ranks)),
            is_open=IncidentStatus(i.status).is_open,
            services=frozenset(services.get(i.id, ())),
            started_at=i.started_at,
            resolved_at=i.resolved_at,
            updates=tuple(updates.get(i.id, ())),
        )
        for i in found
    ]


def maintenance(session: Session, *, since: datetime) -> list[core.Maintenance]:
    """Return the maintenance windows that touch the history period."""
    rows = session.execute(
        select(MaintenanceWindow.start, MaintenanceWindow.end, Service.slug)
        .join(Service, Service.id == MaintenanceWindow.service_id)
        .where(MaintenanceWindow.end >= since)
    )
    return [
        core.Maintenance(services=frozenset({slug}), start=start, end=end)
        for start, end, slug in rows
    ]


def page(session: Session, *, now: datetime) -> core.Page:
    """Return the status page at `now`."""
    since = now - timedelta(days=core.HISTORY_DAYS)
    comps = components(session)
    return core.build(
        comps,
        incident_facts(session, since=since),
        maintenance(session, since=since),
        now=now,
    )


def feed(session: Session, *, now: datetime) -> list[tuple[core.PublicIncident, core.PublicUpdate]]:
    """Return the newest public updates for the Atom feed."""
    since = now - timedelta(days=core.HISTORY_DAYS)
    return core.feed_entries(incident_facts(session, since=since), components(session))


def public_incident(session: Session, number: int) -> core.PublicIncident | None:
    """Return incident `number` as the status page shows it, or None if it is not public."""
    facts = incident_facts(session, since=datetime.min, numbers=[number])
    if not facts:
        return None
    return core.public(facts[0], components(session))
