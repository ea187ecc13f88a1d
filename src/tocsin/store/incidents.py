"""Incidents as stored: look-ups and read-only views (the lifecycle is `services.incidents`)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from tocsin.core.incident import (
    IncidentStatus,
    IncidentView,
    Participant,
    Role,
    TimelineEntry,
    incident_ref,
    parse_incident_ref,
    parse_status,
)
from tocsin.errors import NotFound
from tocsin.store import services as services_store
from tocsin.store import severities
from tocsin.store.models import Incident, IncidentRole, IncidentService, TimelineEvent, User


def get(session: Session, ref: str | int) -> Incident:
    """Return incident `ref` ("INC-42" or 42), or raise NotFound."""
    number = parse_incident_ref(ref)
    incident = session.scalar(select(Incident).where(Incident.number == number))
    if incident is None:
        raise NotFound(f"unknown incident {incident_ref(number)}")
    return incident


def list_(
    session: Session,
    *,
    statuses: list[str] | None = None,
    open_only: bool = False,
    service: str | None = None,
    severity: str | None = None,
    limit: int = 100,
) -> list[Incident]:
    """Return incidents, newest first, filtered as asked."""
    query = select(Incident).order_by(Incident.number.desc()).limit(limit)
    if open_only:
        query = query.where(Incident.status.in_([s.value for s in IncidentStatus if s.is_open]))
    if statuses:
        query = query.where(Incident.status.in_([parse_status(s).value for s in statuses]))
    if severity:
        query = query.where(Incident.severity == severities.scale(session).get(severity).name)
    if service:
        svc = services_store.get_by_slug(session, service)
        query = query.where(
            Incident.id.in_(
                select(IncidentService.incident_id).where(IncidentService.service_id == svc.id)
            )
        )
    return list(session.scalars(query))


def active_roles(incident: Incident) -> list[IncidentRole]:
    """Return the roles currently held, in the order they were assigned."""
    return [r for r in incident.roles if r.removed_at is None]


def commander_of(incident: Incident) -> User | None:
    """Return the current incident commander."""
    return next((r.user for r in active_roles(incident) if r.role == Role.COMMANDER.value), None)


def timeline(session: Session, incident: Incident | str | int) -> list[TimelineEvent]:
    """Return the incident's timeline, oldest first."""
    incident = resolve_ref(session, incident)
    return list(incident.events)


def view(incident: Incident, *, with_timeline: bool = True) -> IncidentView:
    """Return the incident as plain values, for templates and summaries."""
    participants = tuple(
        Participant(
            handle=r.user.handle, name=r.user.name, role=Role(r.role), speciality=r.speciality
        )
        for r in active_roles(incident)
    )
    return IncidentView(
        number=incident.number,
        title=incident.title,
        severity=incident.severity,
        status=IncidentStatus(incident.status),
        services=tuple(incident.service_slugs),
        channel=incident.channel,
        started_at=incident.started_at,
        detected_at=incident.detected_at,
        impact=incident.impact,
        summary=incident.summary,
        detection=incident.detection,
        root_cause=incident.root_cause,
        resolution=incident.resolution,
        acknowledged_at=incident.acknowledged_at,
        mitigated_at=incident.mitigated_at,
        resolved_at=incident.resolved_at,
        closed_at=incident.closed_at,
        skipped=tuple(incident.skipped),
        participants=participants,
        # An incident with thousands of alerts has as many entries: load them only if asked.
        timeline=tuple(
            TimelineEntry(at=e.at, kind=e.kind, actor=e.actor, message=e.message)
            for e in (incident.events if with_timeline else ())
        ),
    )


def open_count_by_severity(session: Session) -> dict[str, int]:
    """Return how many incidents are open per severity."""
    rows = session.execute(
        select(Incident.severity, func.count())
        .where(Incident.status.in_([s.value for s in IncidentStatus if s.is_open]))
        .group_by(Incident.severity)
    )
    return {severity: int(count) for severity, count in rows}


def load_for_view(session: Session, ref: str | int) -> Incident:
    """Return incident `ref` with its timeline and updates loaded in two queries."""
    number = parse_incident_ref(ref)
    incident = session.scalar(
        select(Incident)
        .where(Incident.number == number)
        .options(selectinload(Incident.events), selectinload(Incident.updates))
    )
    if incident is None:
        raise NotFound(f"unknown incident {incident_ref(number)}")
    return incident


def resolve_ref(session: Session, incident: Incident | str | int) -> Incident:
    """Return `incident` itself, or the incident a reference ("INC-42", 42) names."""
    return incident if isinstance(incident, Incident) else get(session, incident)
