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
    PublicMaintenance,
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
    """Return the maintenance windows that touch the history period.

    Those silencing a public maintenance are left out: the page shows that maintenance itself,
    on the components it names (and not at all once cancelled before its start).
    """
    rows = session.execute(
        select(MaintenanceWindow.start, MaintenanceWindow.end, Service.slug)
        .join(Service, Service.id == MaintenanceWindow.service_id)
        .where(MaintenanceWindow.end >= since, MaintenanceWindow.public_id.is_(None))
    )
    return [
        core.Maintenance(services=frozenset({slug}), start=start, end=end)
        for start, end, slug in rows
    ]


def facts_of(row: PublicMaintenance) -> core.MaintenanceFacts:
    """Return what the status page may know of public maintenance `row`."""
    return core.MaintenanceFacts(
        id=row.id,
        title=row.title,
        message=row.message,
        components=tuple(row.components),
        start=row.start,
        end=row.end,
        announced_at=row.created_at,
        cancelled_at=row.cancelled_at,
    )


def announced(session: Session, *, since: datetime) -> list[core.MaintenanceFacts]:
    """Return the public maintenance ending after `since` (every one ahead, and history)."""
    rows = session.scalars(
        select(PublicMaintenance)
        .where(PublicMaintenance.end >= since)
        .order_by(PublicMaintenance.start, PublicMaintenance.id)
    )
    return [facts_of(row) for row in rows]


def page(session: Session, *, now: datetime) -> core.Page:
    """Return the status page at `now`."""
    since = now - timedelta(days=core.HISTORY_DAYS)
    comps = components(session)
    return core.build(
        comps,
        incident_facts(session, since=since),
        maintenance(session, since=since),
        now=now,
        announced=announced(session, since=since),
    )


def feed(session: Session, *, now: datetime) -> list[core.FeedEntry]:
    """Return the newest entries of the Atom feed: public updates and maintenance stages."""
    since = now - timedelta(days=core.HISTORY_DAYS)
    return core.feed(
        incident_facts(session, since=since),
        announced(session, since=since),
        components(session),
        now=now,
    )


def public_maintenance(
    session: Session, maintenance_id: int, *, now: datetime
) -> core.MaintenanceView | None:
    """Return public maintenance `maintenance_id` as the status page shows it, or None."""
    row = session.get(PublicMaintenance, maintenance_id)
    if row is None:
        return None
    return core.maintenance_view(facts_of(row), components(session), now=now)


# --- public maintenance: the rows behind it ---------------------------------------------------


def get_maintenance(session: Session, maintenance_id: int) -> PublicMaintenance | None:
    """Return public maintenance `maintenance_id`, or None."""
    return session.get(PublicMaintenance, maintenance_id)


def lock_maintenance(session: Session, maintenance_id: int) -> PublicMaintenance | None:
    """Return public maintenance `maintenance_id` locked for this transaction, or None: its
    notices and its cancellation are decided by one transaction at a time."""
    return session.scalars(
        select(PublicMaintenance)
        .where(PublicMaintenance.id == maintenance_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def list_maintenance(session: Session, *, since: datetime | None = None) -> list[PublicMaintenance]:
    """Return public maintenance (those ending after `since`, if given), soonest first."""
    query = select(PublicMaintenance).order_by(PublicMaintenance.start, PublicMaintenance.id)
    if since is not None:
        query = query.where(PublicMaintenance.end > since)
    return list(session.scalars(query))


def notices_pending(session: Session) -> list[PublicMaintenance]:
    """Return public maintenance whose subscribers have yet to hear its last stage."""
    return list(
        session.scalars(
            select(PublicMaintenance)
            .where(
                PublicMaintenance.notified.not_in(
                    [core.Notified.COMPLETED.value, core.Notified.CANCELLED.value]
                )
            )
            .order_by(PublicMaintenance.id)
        )
    )


def claim_notices(session: Session, ids: list[int]) -> list[PublicMaintenance]:
    """Return the rows of `ids` that no other engine holds, locked until this transaction ends
    (SKIP LOCKED: another node telling the same stage now is not waited for)."""
    if not ids:
        return []
    return list(
        session.scalars(
            select(PublicMaintenance)
            .where(PublicMaintenance.id.in_(ids))
            .order_by(PublicMaintenance.id)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    )


def silencing_windows(session: Session, maintenance_id: int) -> list[MaintenanceWindow]:
    """Return the windows silencing paging for public maintenance `maintenance_id`."""
    return list(
        session.scalars(
            select(MaintenanceWindow)
            .where(MaintenanceWindow.public_id == maintenance_id)
            .order_by(MaintenanceWindow.id)
        )
    )


def services_of(session: Session, slugs: list[str]) -> dict[str, list[Service]]:
    """Return the services of each status component of `slugs`."""
    found: dict[str, list[Service]] = {slug: [] for slug in slugs}
    rows = session.execute(
        select(StatusComponent.slug, Service)
        .join(Service, Service.component_id == StatusComponent.id)
        .where(StatusComponent.slug.in_(slugs))
        .order_by(Service.slug)
    )
    for slug, service in rows:
        found[slug].append(service)
    return found


def public_incident(session: Session, number: int) -> core.PublicIncident | None:
    """Return incident `number` as the status page shows it, or None if it is not public."""
    facts = incident_facts(session, since=datetime.min, numbers=[number])
    if not facts:
        return None
    return core.public(facts[0], components(session))
