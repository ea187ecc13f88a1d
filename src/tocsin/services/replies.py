"""What a person answers to a page from their phone: `ACK 12` or `RES 12` by SMS.

The HTTP route proves the provider sent the request (its signature) and that it is new (its
message id); this finds whom the number belongs to, what they asked, and does it as them.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.core.incident import IncidentStatus, incident_ref
from tocsin.errors import TocsinError
from tocsin.services import incidents
from tocsin.store.contacts import ContactType
from tocsin.store.models import ContactMethod, Incident, Notification, User

HELP = "Reply ACK 12 to acknowledge INC-12, or RES 12 to resolve it."
_COMMAND = re.compile(
    r"\s*(?P<verb>ack|acknowledge|res|resolve)\b[\s:#-]*(?:inc-?)?(?P<number>\d+)?\s*[.!]*\s*",
    re.IGNORECASE,
)


def sms_reply(session: Session, *, from_number: str, body: str, now: datetime) -> str:
    """Act on one SMS reply and return the text to answer it with."""
    user = session.scalar(
        select(User)
        .join(ContactMethod, ContactMethod.user_id == User.id)
        .where(ContactMethod.type == ContactType.SMS.value, ContactMethod.target == from_number)
        .order_by(User.id)
        .limit(1)
    )
    if user is None:
        return "Tocsin does not know this number: add it to your contact methods first."
    found = _COMMAND.fullmatch(body)
    if found is None:
        return HELP
    number = found.group("number")
    incident = _named(session, int(number)) if number else _last_page(session, user)
    if incident is None:
        if number:
            return f"There is no {incident_ref(int(number))}. {HELP}"
        return f"No incident has paged you lately: name it, like ACK 12. {HELP}"
    ref = incident_ref(incident.number)
    try:
        if found.group("verb").lower().startswith("ack"):
            done = incidents.acknowledge(session, incident, actor=user.handle, now=now, via="SMS")
            if done.warnings:
                return done.warnings[0]
            return f"{ref} acknowledged: escalation stopped. {incident.title}"[:300]
        if incident.status in (IncidentStatus.RESOLVED.value, IncidentStatus.CLOSED.value):
            return f"{ref} is already {incident.status}."
        incidents.resolve(
            session,
            incident,
            message=f"Resolved by {user.handle} by SMS",
            actor=user.handle,
            now=now,
        )
        return f"{ref} resolved. {incident.title}"[:300]
    except TocsinError as exc:
        return f"{ref}: {exc.message}"[:300]


def _named(session: Session, number: int) -> Incident | None:
    return session.scalar(select(Incident).where(Incident.number == number))


def _last_page(session: Session, user: User) -> Incident | None:
    """Return the open incident that paged the user last, if any."""
    open_ = [s.value for s in IncidentStatus if s.is_open]
    return session.scalar(
        select(Incident)
        .join(Notification, Notification.incident_id == Incident.id)
        .where(
            Notification.user_id == user.id,
            Notification.kind == "page",
            Incident.status.in_(open_),
        )
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(1)
    )
