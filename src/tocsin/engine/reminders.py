"""Reminders the seed asks for, and the stakeholders a SEV-1 tells.

- A SEV-1/SEV-2 incident without a commander after 5 minutes notifies whoever the service's
  IC policy names (`incident_commander`: a user, or the on-call of a schedule), else its owner.
  ("No incident commander" is a common mistake.)
- A public status update overdue by the severity's cadence (SEV-1: every 15 minutes) reminds the
  IC, again every cadence while the incident stays open.
- A SEV-1 (any level with `notify_executives`) notifies every stakeholder once.

Reminders are rows with a due time, like every other piece of durable work.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tocsin.core import comms
from tocsin.core import schedule as sched
from tocsin.core.incident import EventKind, IncidentStatus, incident_ref
from tocsin.engine import escalations
from tocsin.engine.messages import render_message
from tocsin.engine.work import announce_work
from tocsin.store import schedules, severities
from tocsin.store.incidents import commander_of
from tocsin.store.models import Incident, Notification, Reminder, Service, User

COMMANDER_AFTER = timedelta(minutes=5)
COMMANDER, UPDATE = "commander", "update"


def _commander(incident: Incident) -> str | None:
    user = commander_of(incident)
    return user.handle if user else None


def _urgent(session: Session, incident: Incident) -> bool:
    return severities.scale(session).get(incident.severity).rank <= 2


def _add(session: Session, incident: Incident, kind: str, due_at: datetime, now: datetime) -> None:
    session.add(
        Reminder(incident_id=incident.id, kind=kind, due_at=due_at, done=False, created_at=now)
    )
    announce_work(session)


def _pending(session: Session, incident: Incident, kind: str) -> Reminder | None:
    return session.scalar(
        select(Reminder).where(
            Reminder.incident_id == incident.id, Reminder.kind == kind, Reminder.done.is_(False)
        )
    )


def on_declared(session: Session, incident: Incident, *, now: datetime) -> None:
    """Set the reminders a new incident needs and tell the stakeholders of a SEV-1."""
    if _urgent(session, incident) and _commander(incident) is None:
        _add(session, incident, COMMANDER, now + COMMANDER_AFTER, now)
    cadence = severities.scale(session).get(incident.severity).update_cadence
    if cadence is not None:
        _add(session, incident, UPDATE, incident.detected_at + cadence, now)
    notify_stakeholders(session, incident, now=now)


def on_severity_changed(session: Session, incident: Incident, *, now: datetime) -> None:
    """Follow a severity change: a new cadence, an IC reminder, the stakeholders of a SEV-1."""
    if (
        _urgent(session, incident)
        and _commander(incident) is None
        and _pending(session, incident, COMMANDER) is None
    ):
        _add(session, incident, COMMANDER, now + COMMANDER_AFTER, now)
    _reschedule_update(session, incident, now=now, since=now)
    notify_stakeholders(session, incident, now=now)


def on_public_update(session: Session, incident: Incident, *, now: datetime) -> None:
    """A public update was posted: the next one is due a cadence from now."""
    _reschedule_update(session, incident, now=now, since=now)


def _reschedule_update(
    session: Session, incident: Incident, *, now: datetime, since: datetime
) -> None:
    session.execute(
        update(Reminder)
        .where(
            Reminder.incident_id == incident.id, Reminder.kind == UPDATE, Reminder.done.is_(False)
        )
        .values(done=True)
        .execution_options(synchronize_session=False)
    )
    cadence = severities.scale(session).get(incident.severity).update_cadence
    if cadence is not None and IncidentStatus(incident.status).is_open:
        _add(session, incident, UPDATE, since + cadence, now)


def notify_stakeholders(session: Session, incident: Incident, *, now: datetime) -> None:
    """Tell every stakeholder about an incident whose severity calls for it, once."""
    level = severities.scale(session).get(incident.severity)
    if not level.notify_executives:
        return
    # Who first: most deployments name no stakeholder, and then nothing is rendered or counted.
    people = session.scalars(
        select(User).where(User.stakeholder.is_(True)).order_by(User.handle)
    ).all()
    if not people:
        return
    already = session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.incident_id == incident.id, Notification.kind == "stakeholder")
    )
    if already:
        return
    text = render_message(session, incident)
    ref = incident_ref(incident.number)
    names = []
    for person in people:
        queued = escalations.enqueue(
            session,
            incident,
            person.handle,
            kind="stakeholder",
            now=now,
            step="stakeholder",
            subject=f"[{incident.severity}] {ref}: {incident.title}",
            text=text,
        )
        if queued:
            names.append(person.handle)
    if names:
        escalations.timeline(
            session,
            incident,
            now,
            EventKind.NOTIFIED,
            f"Telling the stakeholders ({', '.join(names)}) about this {incident.severity}",
            {"users": names},
        )


def _targets(session: Session, incident: Incident, now: datetime) -> list[str]:
    """Return who hears a reminder: the IC, else the service's IC policy, else its owner."""
    commander = _commander(incident)
    if commander:
        return [commander]
    for link in incident.services:
        service: Service = link.service
        kind, _, name = (service.incident_commander or "").partition(":")
        if kind == "user":
            return [name]
        if kind == "schedule":
            row = schedules.find(session, name)
            if row is not None:
                on_call = sched.on_call(schedules.to_core(row), now)
                if on_call:
                    return list(on_call)
        if service.owner is not None:
            return [service.owner.handle]
    return []


def update_all(session: Session, *, now: datetime, limit: int = 100) -> int:
    """Fire every reminder due at `now` whose reason still holds; return how many fired."""
    rows = session.scalars(
        select(Reminder)
        .where(Reminder.done.is_(False), Reminder.due_at <= now)
        .order_by(Reminder.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for reminder in rows:
        reminder.done = True
        incident = session.get(Incident, reminder.incident_id)
        if incident is None or not IncidentStatus(incident.status).is_open:
            continue
        ref = incident_ref(incident.number)
        if reminder.kind == COMMANDER:
            if _commander(incident) is not None or not _urgent(session, incident):
                continue
            minutes = int(COMMANDER_AFTER.total_seconds() // 60)
            subject = f"[{incident.severity}] {ref} has no incident commander after {minutes} min"
            text = (
                f"{ref} ({incident.title}) is {incident.severity} and nobody has taken "
                f"command. Take it: tocsin incident assign {ref} YOUR-HANDLE"
            )
            what = f"no incident commander after {minutes} min"
        else:
            cadence = severities.scale(session).get(incident.severity).update_cadence
            if cadence is None:
                continue
            every = comms.format_duration(cadence)
            subject = f"[{incident.severity}] {ref}: a public status update is due"
            text = (
                f"{ref} ({incident.title}) has had no public update for {every} "
                f"({incident.severity}: every {every}). Post one: tocsin incident update "
                f'{ref} "..." --public'
            )
            what = f"public status update overdue ({incident.severity}: every {every})"
            _add(session, incident, UPDATE, now + cadence, now)  # and again next cadence
        targets = _targets(session, incident, now)
        for handle in targets:
            escalations.enqueue(
                session,
                incident,
                handle,
                kind="reminder",
                now=now,
                step=f"{reminder.kind}-{reminder.id}",
                subject=subject,
                text=text,
            )
        who = ", ".join(targets) if targets else "nobody (no IC, IC policy or owner)"
        escalations.timeline(
            session,
            incident,
            now,
            EventKind.REMINDER,
            f"Reminder: {what}; notified {who}",
            {"kind": reminder.kind},
        )
    session.flush()
    return len(rows)


def next_due(session: Session) -> datetime | None:
    """Return when the next reminder falls due."""
    return session.scalar(select(func.min(Reminder.due_at)).where(Reminder.done.is_(False)))
