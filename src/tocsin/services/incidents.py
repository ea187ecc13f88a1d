"""Incidents: declare, run and resolve them; every step lands on the timeline.

These functions are the one way in for the CLI, the REST API, the web UI, chat and drills.
Each takes a session and `now`, changes the incident, appends timeline events, hands what
happened (`services.events`) to the escalation, reminders and action items, and flushes; the
caller commits (so a failed step leaves nothing behind). The read-only look-ups of
`store.incidents` are here too, so a caller needs one module.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from tocsin.core import comms
from tocsin.core.incident import (
    EventKind,
    IncidentStatus,
    PublicStatus,
    Role,
    Visibility,
    channel_name,
    commander_warning,
    default_public_status,
    incident_ref,
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
from tocsin.engine import channels, escalations
from tocsin.errors import Conflict, InvalidInput
from tocsin.services import events as ev
from tocsin.store import policies, severities, users
from tocsin.store import services as services_store
from tocsin.store.incidents import (
    active_roles,
    commander_of,
    get,
    list_,
    load_for_view,
    open_count_by_severity,
    timeline,
    view,
)
from tocsin.store.incidents import resolve_ref as _resolve
from tocsin.store.models import (
    Incident,
    IncidentRole,
    IncidentService,
    Service,
    StatusUpdate,
    TimelineEvent,
)

HANDS_ON_ROLES = frozenset({Role.RESPONDER, Role.SCRIBE})


__all__ = [
    "Outcome",
    "acknowledge",
    "active_roles",
    "add_note",
    "assign",
    "change_severity",
    "commander_of",
    "declare",
    "edit",
    "get",
    "list_",
    "load_for_view",
    "open_count_by_severity",
    "post_update",
    "resolve",
    "set_status",
    "timeline",
    "unacknowledge",
    "unassign",
    "view",
]


@dataclass
class Outcome:
    """An incident after a change: warnings for the person who made it, and what happened."""

    incident: Incident
    warnings: list[str] = field(default_factory=list)
    events: list[ev.Event] = field(default_factory=list)


def _publish(session: Session, outcome: Outcome, *, now: datetime) -> Outcome:
    """Write the change, hand its events to their followers, and return the outcome."""
    session.flush()
    # The channel first: a severity raised to SEV-1 names the new channel in its pages.
    channels.changed(session, outcome.incident, now=now)
    ev.dispatch(session, outcome.events, now=now)
    return outcome


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
    session = object_session(incident)
    if session is not None and incident.id is not None and "events" in inspect(incident).unloaded:
        # Added beside the timeline, not to it: appending to an unloaded timeline reads every
        # entry first, and an incident an alert repeats into has thousands.
        event.incident_id = incident.id
        session.add(event)
    else:
        incident.events.append(event)
    incident.updated_at = at
    return event


def _savepoint(session: Session) -> AbstractContextManager[object]:
    """Return a savepoint to retry the incident's insert in, where another node can take the
    same number first. On SQLite one writer holds the lock from BEGIN IMMEDIATE: no other can,
    and the savepoint would only cost two statements."""
    if session.get_bind().dialect.name == "sqlite":
        return nullcontext()
    return session.begin_nested()


def _next_number(session: Session) -> int:
    return (session.scalar(select(func.max(Incident.number))) or 0) + 1


def declare(
    session: Session,
    *,
    title: str,
    severity: str,
    services: Sequence[str | Service] | None = None,
    impact: str = "",
    summary: str = "",
    detection: str = "",
    started_at: datetime | None = None,
    commander: str | None = None,
    commander_answered: bool = True,
    is_drill: bool = False,
    policy: str | None = None,
    group: str | None = None,
    actor: str,
    now: datetime,
) -> Outcome:
    """Declare an incident. Declare early: the severity can always be changed later.

    `policy` names the escalation policy to run instead of the first service's (a label route
    chose it). `group` is the alert group (`{cluster="eu"}`) of the services' alerts that this
    incident takes: their `group_by` grouping opened it.

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
    # A caller that holds the service rows already (ingestion) passes them, not their slugs.
    given = {s.slug: s for s in services or [] if isinstance(s, Service)}
    slugs = list(dict.fromkeys(s.slug if isinstance(s, Service) else s for s in services or []))
    found = []
    for slug in slugs:
        svc = given.get(slug) or services_store.find(session, slug)
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

    # Numbers come from max()+1; on PostgreSQL two nodes declaring at once collide on the unique
    # constraint, so the loser retries with the next number inside a savepoint.
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
            # A new incident has none of these: known empty, they are never read back.
            events=[],
            roles=[],
            updates=[],
            is_drill=is_drill,
            created_by=actor,
            created_at=now,
            updated_at=now,
            services=[
                IncidentService(service=svc, position=i, group_key=group)
                for i, svc in enumerate(found)
            ],
        )
        try:
            with _savepoint(session):
                session.add(incident)
                session.flush()
            break
        except IntegrityError:
            continue
    else:  # pragma: no cover - needs 20 simultaneous declarations
        raise Conflict("could not allocate an incident number; try again")

    where = f" on {', '.join(slugs)}" if slugs else ""
    grouped = f", alert group {group}" if group else ""
    _event(
        incident,
        at=now,
        actor=actor,
        kind=EventKind.DECLARED,
        message=f"Incident declared: {incident.title} ({level.name}{where}{grouped})",
        data={
            "severity": level.name,
            "services": slugs,
            "started_at": started.isoformat(),
            **({"group": group} if group else {}),
        },
    )
    outcome = Outcome(incident)
    if commander_user is not None:
        assigned = assign(
            session,
            incident,
            commander_user.handle,
            role=Role.COMMANDER,
            answered=commander_answered,
            actor=actor,
            now=now,
        )
        outcome.warnings += assigned.warnings
        outcome.events += assigned.events
    session.flush()
    # The service's escalation policy pages level 1 now, unless the commander named right away
    # answered: someone already has it.
    declared = ev.Declared(incident, policy)
    outcome.events.append(declared)
    # The channel first, so that the pages name it.
    channels.changed(session, incident, now=now)
    ev.dispatch(session, [declared], now=now)
    return outcome


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
    outcome = Outcome(incident, warnings)
    if role is Role.COMMANDER and answered and incident.acknowledged_at is None:
        # Someone took command: the page has been answered.
        incident.acknowledged_at = now
        outcome.events.append(ev.Acknowledged(incident))
    return _publish(session, outcome, now=now)


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
    return _publish(session, Outcome(incident), now=now)


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
    outcome = Outcome(incident)
    for name in transition.clears:
        setattr(incident, name, None)
    for name in transition.stamps:
        if getattr(incident, name) is None:
            setattr(incident, name, now)
            if name == "acknowledged_at":
                outcome.events.append(ev.Acknowledged(incident))
    if IncidentStatus(incident.status).is_open and not target.is_open:
        outcome.events.append(ev.Resolved(incident))
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
    return _publish(session, outcome, now=now)


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
    return _publish(session, Outcome(incident, events=[ev.SeverityChanged(incident, old)]), now=now)


def acknowledge(
    session: Session,
    incident: Incident | str | int,
    *,
    actor: str,
    now: datetime,
    sender: str | None = None,
    via: str | None = None,
) -> Outcome:
    """Acknowledge the incident: someone has it, escalation stops. A repeat changes nothing.

    `sender` names the kind of integration (pagerduty, opsgenie) when the monitoring sender
    acknowledged every alert of the incident rather than a person acknowledging it here;
    `via` says how the person did it when it was not here (SMS, phone).
    """
    incident = _resolve(session, incident)
    _require_open_for_changes(incident)
    # The first acknowledgement is the milestone (MTTA); after an unacknowledge the escalation
    # can be acknowledged again, which stops it again without moving the milestone.
    first = incident.acknowledged_at is None
    stopped = policies.is_acknowledged(session, incident) is False
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
        message=f"Acknowledged by the sender ({sender})"
        if sender
        else f"Acknowledged by {actor}" + (f" by {via}" if via else ""),
    )
    return _publish(session, Outcome(incident, events=[ev.Acknowledged(incident)]), now=now)


def escalate_now(
    session: Session,
    incident: Incident | str | int,
    *,
    actor: str,
    now: datetime,
    via: str | None = None,
    step: str | None = None,
) -> Outcome:
    """Page the escalation's next level now instead of after this level's delay.

    `step` ("level.loop") names the step whose page is being answered: once the escalation has
    moved past it, nothing more is done, so two people of one level asking at once move it one
    level, not two.
    """
    incident = _resolve(session, incident)
    _require_open_for_changes(incident)
    ref = incident_ref(incident.number)
    row = policies.escalation_of(session, incident, lock=True)
    if row is None or row.resolved:
        raise Conflict(f"{ref} has no escalation to move on")
    if row.acknowledged:
        raise Conflict(f"{ref} is acknowledged: its escalation has stopped")
    if step is not None and step != f"{row.level}.{row.loop}":
        raise Conflict(f"{ref} has moved on to its next level already")
    if row.next_at is None:
        raise Conflict(f"{ref} has paged every level of its escalation policy already")
    _event(
        incident,
        at=now,
        actor=actor,
        kind=EventKind.ESCALATION,
        message=f"{actor} asked to escalate now" + (f" by {via}" if via else ""),
    )
    return _publish(session, Outcome(incident, events=[ev.EscalatedNow(incident)]), now=now)


def page(
    session: Session,
    incident: Incident | str | int,
    target: str,
    *,
    actor: str,
    now: datetime,
) -> Outcome:
    """Page someone about the incident now, by their notification rules: `user:HANDLE`, or
    `schedule:NAME` (whoever it has on call)."""
    incident = _resolve(session, incident)
    _require_open_for_changes(incident)
    kind, _, name = target.partition(":")
    if kind == "user":
        if users.find(session, name) is None:
            raise InvalidInput(f"no user {name!r}")
        handles: tuple[str, ...] = (name,)
    elif kind == "schedule":
        handles = escalations.on_call_lookup(session)(name, now)
        if not handles:
            raise Conflict(f"nobody is on call in {name!r} now")
    else:
        raise InvalidInput(f"page user:HANDLE or schedule:NAME, not {target!r}")
    step = f"manual.{now.timestamp():.0f}"
    for handle in handles:
        queued = escalations.enqueue(session, incident, handle, kind="page", now=now, step=step)
        _event(
            incident,
            at=now,
            actor=actor,
            kind=EventKind.NOTIFIED,
            message=f"Paging {handle} (asked by {actor})"
            + (f" via {', '.join(queued)}" if queued else ": no contact method"),
            data={"user": handle, "target": target},
        )
    return _publish(session, Outcome(incident), now=now)


def unacknowledge(
    session: Session, incident: Incident | str | int, *, actor: str, now: datetime
) -> Outcome:
    """Give the incident back to the escalation policy: it restarts at level 1, paging now."""
    incident = _resolve(session, incident)
    _require_open_for_changes(incident)
    if not IncidentStatus(incident.status).is_open:
        raise Conflict(f"{incident_ref(incident.number)} is {incident.status}; nothing to page")
    if policies.is_acknowledged(session, incident) is not True:
        raise Conflict(f"{incident_ref(incident.number)} has no acknowledged escalation to restart")
    _event(
        incident,
        at=now,
        actor=actor,
        kind=EventKind.ACKNOWLEDGED,
        message=f"Unacknowledged by {actor}: escalation restarts",
    )
    return _publish(session, Outcome(incident, events=[ev.Unacknowledged(incident)]), now=now)


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
    session.flush()
    events: list[ev.Event] = [ev.PublicUpdatePosted(incident)] if vis is Visibility.PUBLIC else []
    return _publish(session, Outcome(incident, events=events), now=now), update


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
