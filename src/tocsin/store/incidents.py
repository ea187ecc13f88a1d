"""Incidents: declare, run and resolve them; every step lands on the timeline.

These functions are the one way in for the CLI, the REST API and the web UI. Each takes a
session and `now`, changes the incident, appends timeline events and flushes; the caller
commits (so a failed step leaves nothing behind).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from tocsin.core import comms
from tocsin.core.incident import (
    EventKind,
    IncidentStatus,
    IncidentView,
    Participant,
    PublicStatus,
    Role,
    TimelineEntry,
    Visibility,
    channel_name,
    commander_warning,
    default_public_status,
    incident_ref,
    parse_incident_ref,
    parse_public_status,
    parse_role,
    parse_status,
    parse_visibility,
    plan_transition,
    require_text,
    role_message,
    severity_message,
    status_message,
    update_message,
)
from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.store import actions, escalation, reminders, severities, users
from tocsin.store import services as services_store
from tocsin.store.models import (
    Incident,
    IncidentRole,
    IncidentService,
    StatusUpdate,
    TimelineEvent,
    User,
)

HANDS_ON_ROLES = frozenset({Role.RESPONDER, Role.SCRIBE})


@dataclass
class Outcome:
    """An incident after a change, with any warnings for the person who made it."""

    incident: Incident
    warnings: list[str] = field(default_factory=list)


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


def _event(
    incident: Incident,
    *,
    at: datetime,
    actor: str,
    kind: EventKind,
    message: str,
    data: dict[str, Any] | None = None,
) -> TimelineEvent:
    event = TimelineEvent(at=at, actor=actor, kind=kind.value, message=message, data=data or {})
    incident.events.append(event)
    incident.updated_at = at
    return event


def _next_number(session: Session) -> int:
    return (session.scalar(select(func.max(Incident.number))) or 0) + 1


def declare(
    session: Session,
    *,
    title: str,
    severity: str,
    services: list[str] | None = None,
    impact: str = "",
    summary: str = "",
    detection: str = "",
    started_at: datetime | None = None,
    commander: str | None = None,
    commander_answered: bool = True,
    is_drill: bool = False,
    actor: str,
    now: datetime,
) -> Outcome:
    """Declare an incident. Declare early: the severity can always be changed later.

    A commander named by a person counts as the page being answered; one picked by a service's
    IC policy (`commander_answered=False`) has not answered yet, so the escalation still runs.
    """
    problems: list[str] = []
    if not title.strip():
        problems.append("title must not be empty")
    try:
        level = severities.scale(session).get(severity)
    except InvalidInput as exc:
        problems.append(exc.message)
        level = None
    slugs = list(dict.fromkeys(services or []))
    found = []
    for slug in slugs:
        svc = services_store.find(session, slug)
        if svc is None:
            problems.append(f"unknown service {slug!r}")
        else:
            found.append(svc)
    commander_user = None
    if commander:
        commander_user = users.find(session, commander)
        if commander_user is None:
            problems.append(f"commander: unknown user {commander!r}")
    started = started_at or now
    if started.tzinfo is None:
        problems.append("started_at needs a time zone offset")
    elif started > now:
        problems.append("started_at is in the future; impact cannot start after it is detected")
    if problems or level is None:
        raise InvalidInput.of(problems)

    # Numbers come from max()+1; two nodes declaring at once collide on the unique constraint,
    # so the loser retries with the next number inside a savepoint.
    for _attempt in range(20):
        number = _next_number(session)
        incident = Incident(
            number=number,
            title=title.strip(),
            severity=level.name,
            status=IncidentStatus.DETECTED.value,
            summary=summary.strip(),
            impact=impact.strip(),
            detection=detection.strip(),
            channel=channel_name(number, slugs),
            started_at=started,
            detected_at=now,
            skipped=[],
            is_drill=is_drill,
            created_by=actor,
            created_at=now,
            updated_at=now,
            services=[IncidentService(service=svc, position=i) for i, svc in enumerate(found)],
        )
        try:
            with session.begin_nested():
                session.add(incident)
                session.flush()
            break
        except IntegrityError:
            continue
    else:  # pragma: no cover - needs 20 simultaneous declarations
        raise Conflict("could not allocate an incident number; try again")

    where = f" on {', '.join(slugs)}" if slugs else ""
    _event(
        incident,
        at=now,
        actor=actor,
        kind=EventKind.DECLARED,
        message=f"Incident declared: {incident.title} ({level.name}{where})",
        data={"severity": level.name, "services": slugs, "started_at": started.isoformat()},
    )
    outcome = Outcome(incident)
    if commander_user is not None:
        outcome.warnings += assign(
            session,
            incident,
            commander_user.handle,
            role=Role.COMMANDER,
            answered=commander_answered,
            actor=actor,
            now=now,
        ).warnings
    session.flush()
    if incident.acknowledged_at is None:
        # The service's escalation policy pages level 1 now, unless a commander was named right
        # away: someone already has it, and that is the acknowledgement.
        escalation.start(session, incident, now=now)
    reminders.on_declared(session, incident, now=now)
    session.flush()
    return outcome


def active_roles(incident: Incident) -> list[IncidentRole]:
    """Return the roles currently held, in the order they were assigned."""
    return [r for r in incident.roles if r.removed_at is None]


def commander_of(incident: Incident) -> User | None:
    """Return the current incident commander."""
    return next((r.user for r in active_roles(incident) if r.role == Role.COMMANDER.value), None)


def _resolve(session: Session, incident: Incident | str | int) -> Incident:
    return incident if isinstance(incident, Incident) else get(session, incident)


def _require_open_for_changes(incident: Incident) -> None:
    if incident.status == IncidentStatus.CLOSED.value:
        raise Conflict(f"{incident_ref(incident.number)} is closed; it can no longer be changed")


def assign(
    session: Session,
    incident: Incident | str | int,
    handle: str,
    *,
    role: Role | str = Role.COMMANDER,
    speciality: str | None = None,
    handover: bool = False,
    answered: bool = True,
    actor: str,
    now: datetime,
) -> Outcome:
    """Give user `handle` a role; a second commander needs `handover=True`.

    Taking command answers the page (acknowledges) unless `answered` is False: a commander
    chosen by a rule has not seen the incident yet.
    """
    incident = _resolve(session, incident)
    ref = incident_ref(incident.number)
    role = parse_role(role) if isinstance(role, str) else role
    user = users.get_by_handle(session, handle)
    _require_open_for_changes(incident)
    if speciality is not None and role is not Role.RESPONDER:
        raise InvalidInput("only a responder has a speciality (like Networking or Backend)")
    held = active_roles(incident)
    warnings: list[str] = []
    if role is Role.COMMANDER:
        current = next((r for r in held if r.role == Role.COMMANDER.value), None)
        if current is not None and current.user_id == user.id:
            raise Conflict(f"@{user.handle} is already the commander of {ref}")
        if current is not None and not handover:
            raise Conflict(
                f"{ref} already has a commander (@{current.user.handle}); there is exactly one "
                f"IC at a time: hand over to @{user.handle} with --handover"
            )
        if current is not None:
            current.removed_at = now
            _event(
                incident,
                at=now,
                actor=actor,
                kind=EventKind.ROLE_REMOVED,
                message=f"IC handed over from {current.user.name} to {user.name}",
                data={"role": "commander", "user": current.user.handle, "to": user.handle},
            )
        if any(r.user_id == user.id and Role(r.role) in HANDS_ON_ROLES for r in held):
            warnings.append(commander_warning(user.name))
    else:
        if any(r.user_id == user.id and r.role == role.value for r in held):
            raise Conflict(f"@{user.handle} is already {role.value} on {ref}")
        if role in HANDS_ON_ROLES and any(
            r.user_id == user.id and r.role == Role.COMMANDER.value for r in held
        ):
            warnings.append(commander_warning(user.name))
    incident.roles.append(
        IncidentRole(
            user=user,
            role=role.value,
            speciality=(speciality or "").strip() or None,
            assigned_at=now,
        )
    )
    _event(
        incident,
        at=now,
        actor=actor,
        kind=EventKind.ROLE_ASSIGNED,
        message=role_message(role, user.name, (speciality or "").strip() or None),
        data={"role": role.value, "user": user.handle, "speciality": speciality},
    )
    if role is Role.COMMANDER and answered and incident.acknowledged_at is None:
        # Someone took command: the page has been answered.
        incident.acknowledged_at = now
        escalation.acknowledged(session, incident, now=now)
    session.flush()
    return Outcome(incident, warnings)


def unassign(
    session: Session,
    incident: Incident | str | int,
    handle: str,
    *,
    role: Role | str,
    actor: str,
    now: datetime,
) -> Outcome:
    """End user `handle`'s `role` in the incident."""
    incident = _resolve(session, incident)
    role = parse_role(role) if isinstance(role, str) else role
    user = users.get_by_handle(session, handle)
    _require_open_for_changes(incident)
    held = next(
        (r for r in active_roles(incident) if r.user_id == user.id and r.role == role.value), None
    )
    if held is None:
        raise Conflict(f"@{user.handle} is not {role.value} on {incident_ref(incident.number)}")
    held.removed_at = now
    _event(
        incident,
        at=now,
        actor=actor,
        kind=EventKind.ROLE_REMOVED,
        message=f"{'IC' if role is Role.COMMANDER else role.value.capitalize()} stood down: "
        f"{user.name}",
        data={"role": role.value, "user": user.handle},
    )
    session.flush()
    return Outcome(incident)


def set_status(
    session: Session,
    incident: Incident | str | int,
    status: IncidentStatus | str,
    *,
    message: str | None = None,
    actor: str,
    now: datetime,
) -> Outcome:
    """Move the incident to `status`, recording skipped stages; resolved -> mitigating reopens."""
    incident = _resolve(session, incident)
    target = parse_status(status) if isinstance(status, str) else status
    ref = incident_ref(incident.number)
    transition = plan_transition(ref, IncidentStatus(incident.status), target)
    if transition.skipped:
        names = [s.value for s in transition.skipped]
        incident.skipped = sorted(set(incident.skipped) | set(names))
        _event(
            incident,
            at=now,
            actor=actor,
            kind=EventKind.MILESTONE_SKIPPED,
            message=f"Skipped {', '.join(names)} (went from {incident.status} to {target.value})",
            data={"skipped": names},
        )
    if transition.reopen:
        _event(
            incident,
            at=now,
            actor=actor,
            kind=EventKind.REOPENED,
            message=f"Reopened (was resolved at {comms.format_utc(incident.resolved_at or now)})",
            data={
                "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None
            },
        )
    for name in transition.clears:
        setattr(incident, name, None)
    for name in transition.stamps:
        if getattr(incident, name) is None:
            setattr(incident, name, now)
            if name == "acknowledged_at":
                escalation.acknowledged(session, incident, now=now)
    if IncidentStatus(incident.status).is_open and not target.is_open:
        escalation.resolved(session, incident, now=now)
        actions.on_resolved(session, incident, now=now)
    previous = incident.status
    incident.status = target.value
    _event(
        incident,
        at=now,
        actor=actor,
        kind=EventKind.STATUS_CHANGED,
        message=status_message(target, message),
        data={"from": previous, "to": target.value},
    )
    session.flush()
    return Outcome(incident)


def resolve(
    session: Session,
    incident: Incident | str | int,
    *,
    message: str | None = None,
    resolution: str | None = None,
    root_cause: str | None = None,
    summary: str | None = None,
    actor: str,
    now: datetime,
) -> Outcome:
    """Resolve the incident, recording how (the resolution summary's fields)."""
    incident = _resolve(session, incident)
    for name, value in (
        ("resolution", resolution),
        ("root_cause", root_cause),
        ("summary", summary),
    ):
        if value is not None and value.strip():
            setattr(incident, name, value.strip())
    if not incident.resolution and message:
        incident.resolution = message.strip()
    return set_status(
        session, incident, IncidentStatus.RESOLVED, message=message, actor=actor, now=now
    )


def change_severity(
    session: Session,
    incident: Incident | str | int,
    severity: str,
    *,
    reason: str,
    actor: str,
    now: datetime,
) -> Outcome:
    """Upgrade or downgrade the severity; a reason is required."""
    incident = _resolve(session, incident)
    scale = severities.scale(session)
    level = scale.get(severity)
    why = require_text(reason, "the reason for a severity change")
    _require_open_for_changes(incident)
    if level.name == incident.severity:
        raise Conflict(f"{incident_ref(incident.number)} is already {level.name}")
    upgrade = scale.compare(level.name, incident.severity) < 0
    old = incident.severity
    incident.severity = level.name
    _event(
        incident,
        at=now,
        actor=actor,
        kind=EventKind.SEVERITY_CHANGED,
        message=severity_message(old, level.name, upgrade, why),
        data={"from": old, "to": level.name, "reason": why, "upgrade": upgrade},
    )
    reminders.on_severity_changed(session, incident, now=now)
    session.flush()
    return Outcome(incident)


def acknowledge(
    session: Session, incident: Incident | str | int, *, actor: str, now: datetime
) -> Outcome:
    """Acknowledge the incident: someone has it, escalation stops. A repeat changes nothing."""
    incident = _resolve(session, incident)
    _require_open_for_changes(incident)
    # The first acknowledgement is the milestone (MTTA); after an unacknowledge the escalation
    # can be acknowledged again, which stops it again without moving the milestone.
    first = incident.acknowledged_at is None
    stopped = escalation.acknowledged(session, incident, now=now)
    if not first and not stopped:
        assert incident.acknowledged_at is not None
        return Outcome(
            incident,
            [
                f"{incident_ref(incident.number)} was already acknowledged at "
                f"{comms.format_utc(incident.acknowledged_at)}"
            ],
        )
    if first:
        incident.acknowledged_at = now
    _event(
        incident,
        at=now,
        actor=actor,
        kind=EventKind.ACKNOWLEDGED,
        message=f"Acknowledged by {actor}",
    )
    session.flush()
    return Outcome(incident)


def unacknowledge(
    session: Session, incident: Incident | str | int, *, actor: str, now: datetime
) -> Outcome:
    """Give the incident back to the escalation policy: it restarts at level 1, paging now."""
    incident = _resolve(session, incident)
    _require_open_for_changes(incident)
    if not IncidentStatus(incident.status).is_open:
        raise Conflict(f"{incident_ref(incident.number)} is {incident.status}; nothing to page")
    if escalation.is_acknowledged(session, incident) is not True:
        raise Conflict(f"{incident_ref(incident.number)} has no acknowledged escalation to restart")
    _event(
        incident,
        at=now,
        actor=actor,
        kind=EventKind.ACKNOWLEDGED,
        message=f"Unacknowledged by {actor}: escalation restarts",
    )
    escalation.unacknowledged(session, incident, now=now)
    session.flush()
    return Outcome(incident)


def post_update(
    session: Session,
    incident: Incident | str | int,
    message: str,
    *,
    visibility: Visibility | str = Visibility.INTERNAL,
    public_status: PublicStatus | str | None = None,
    actor: str,
    now: datetime,
) -> tuple[Outcome, StatusUpdate]:
    """Post a status update for stakeholders; public ones carry a status-page status."""
    incident = _resolve(session, incident)
    text = require_text(message, "a status update")
    vis = parse_visibility(visibility) if isinstance(visibility, str) else visibility
    status = parse_public_status(public_status) if isinstance(public_status, str) else public_status
    if vis is Visibility.INTERNAL and status is not None:
        raise InvalidInput(
            "an internal update has no public status; make it public or leave the status out"
        )
    if vis is Visibility.PUBLIC and status is None:
        status = default_public_status(IncidentStatus(incident.status))
    _require_open_for_changes(incident)
    event = _event(
        incident,
        at=now,
        actor=actor,
        kind=EventKind.STATUS_UPDATE,
        message=update_message(vis, status, text),
        data={"visibility": vis.value, "public_status": status.value if status else None},
    )
    session.flush()
    update = StatusUpdate(
        at=now,
        author=actor,
        visibility=vis.value,
        public_status=status.value if status else None,
        message=text,
        timeline_event_id=event.id,
    )
    incident.updates.append(update)
    if vis is Visibility.PUBLIC:
        reminders.on_public_update(session, incident, now=now)
    session.flush()
    return Outcome(incident), update


def add_note(
    session: Session, incident: Incident | str | int, message: str, *, actor: str, now: datetime
) -> Outcome:
    """Add a note to the timeline."""
    incident = _resolve(session, incident)
    text = require_text(message, "a note")
    _event(incident, at=now, actor=actor, kind=EventKind.NOTE, message=text)
    session.flush()
    return Outcome(incident)


EDITABLE = (
    "title",
    "public_title",
    "summary",
    "impact",
    "detection",
    "root_cause",
    "resolution",
)


def edit(
    session: Session,
    incident: Incident | str | int,
    *,
    changes: dict[str, Any],
    actor: str,
    now: datetime,
) -> Outcome:
    """Change the incident's descriptive fields (and `started_at`, which may be back-dated)."""
    incident = _resolve(session, incident)
    problems = [
        f"{name} cannot be edited; editable: {', '.join((*EDITABLE, 'started_at'))}"
        for name in changes
        if name not in (*EDITABLE, "started_at")
    ]
    started = changes.get("started_at")
    if started is not None:
        if not isinstance(started, datetime) or started.tzinfo is None:
            problems.append("started_at needs a date, a time and a time zone offset")
        elif started > incident.detected_at:
            problems.append("started_at must not be after the incident was detected")
    if "title" in changes and not str(changes["title"] or "").strip():
        problems.append("title must not be empty")
    if problems:
        raise InvalidInput.of(problems)
    _require_open_for_changes(incident)
    changed = []
    for name, value in changes.items():
        value = value.strip() if isinstance(value, str) else value
        if value is not None and getattr(incident, name) != value:
            setattr(incident, name, value)
            changed.append(name)
    if changed:
        _event(
            incident,
            at=now,
            actor=actor,
            kind=EventKind.EDITED,
            message=f"Edited {', '.join(changed)}",
            data={name: _jsonable(getattr(incident, name)) for name in changed},
        )
    session.flush()
    return Outcome(incident)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def timeline(session: Session, incident: Incident | str | int) -> list[TimelineEvent]:
    """Return the incident's timeline, oldest first."""
    incident = _resolve(session, incident)
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


TEMPLATES = ("notification", "resolution", "page")


def template_source(name: str, template_dir: Path | None = None) -> str:
    """Return the Jinja2 source of template `name`: the deployment's copy, else the shipped one."""
    if name not in TEMPLATES:
        raise InvalidInput(f"unknown template {name!r}; valid templates: {', '.join(TEMPLATES)}")
    filename = f"{name}.txt.j2"
    if template_dir is None and os.environ.get("TOCSIN_TEMPLATE_DIR"):
        template_dir = Path(os.environ["TOCSIN_TEMPLATE_DIR"])
    if template_dir is not None and (template_dir / filename).is_file():
        return (template_dir / filename).read_text(encoding="utf-8")
    return (resources.files("tocsin") / "templates" / "comms" / filename).read_text(
        encoding="utf-8"
    )


def render_message(
    session: Session,
    incident: Incident | str | int,
    kind: str = "notification",
    *,
    template_dir: Path | None = None,
) -> str:
    """Return the INCIDENT NOTIFICATION or RESOLUTION summary of the incident."""
    incident = _resolve(session, incident)
    source = template_source(kind, template_dir)
    snapshot = view(incident, with_timeline=False)  # no message template shows the timeline
    if kind in ("notification", "page"):
        scale = severities.scale(session)
        context = comms.notification_context(snapshot, scale.get(incident.severity))
    else:
        context = comms.resolution_context(snapshot)
    return comms.render(source, context)


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
