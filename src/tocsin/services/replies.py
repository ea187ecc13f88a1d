"""What a person answers to a page from their phone (`ACK 12` or `RES 12` by SMS, a key
pressed during a call), and what the phone provider reports of each text and call.

The HTTP route proves the provider sent the request (its signature) and that it is new (its
message id); this finds whom the number or call belongs to, what they asked, and does it as them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.core import phone
from tocsin.core.incident import IncidentStatus, incident_ref
from tocsin.engine import outbox
from tocsin.errors import TocsinError
from tocsin.services import incidents
from tocsin.store import access, inbound
from tocsin.store.contacts import PHONE_TYPES, ContactType
from tocsin.store.models import ContactMethod, Incident, Notification, User
from tocsin.store.notifications import NotificationStatus as Status

HELP = "Reply ACK 12 to acknowledge INC-12, or RES 12 to resolve it."
_COMMAND = re.compile(
    r"\s*(?P<verb>ack|acknowledge|res|resolve)\b[\s:#-]*(?:inc-?)?(?P<number>\d+)?\s*[.!]*\s*",
    re.IGNORECASE,
)


def sms_reply(session: Session, *, from_number: str, body: str, now: datetime) -> str:
    """Act on one SMS reply and return the text to answer it with."""
    owners = list(
        session.scalars(
            select(User)
            .join(ContactMethod, ContactMethod.user_id == User.id)
            .where(
                ContactMethod.type.in_([t.value for t in PHONE_TYPES]),
                ContactMethod.target == from_number,
                User.disabled_at.is_(None),  # a disabled user acts nowhere
            )
            .distinct()
            .order_by(User.id)
        )
    )
    if not owners:
        return "Tocsin does not know this number: add it to your contact methods first."
    user = owners[0] if len(owners) == 1 else _paged_last(session, owners, from_number)
    if user is None:
        # A shared phone (a desk phone, a pager number) answers for nobody in particular.
        return (
            "This number belongs to more than one person in Tocsin and none was paged on it:"
            " act from the web page or the one-click link."
        )
    access.act_for(session, principal := access.principal_of(session, user))
    if not principal.may_respond_somewhere():
        return f"{user.handle} is a viewer in Tocsin and cannot act on incidents."
    found = _COMMAND.fullmatch(body)
    if found is None:
        return HELP
    number = found.group("number")
    incident = _named(session, int(number)) if number else last_page(session, user)
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


def _paged_last(session: Session, owners: list[User], number: str) -> User | None:
    """Return which of a shared number's owners was paged on it last, if any was."""
    found = session.scalar(
        select(Notification.user_id)
        .join(ContactMethod, ContactMethod.id == Notification.contact_method_id)
        .where(
            ContactMethod.target == number,
            ContactMethod.type.in_([t.value for t in PHONE_TYPES]),
            Notification.user_id.in_([u.id for u in owners]),
            Notification.sent_at.is_not(None),
        )
        .order_by(Notification.sent_at.desc(), Notification.id.desc())
        .limit(1)
    )
    return next((u for u in owners if u.id == found), None)


def _named(session: Session, number: int) -> Incident | None:
    return session.scalar(select(Incident).where(Incident.number == number))


def last_page(session: Session, user: User) -> Incident | None:
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


# --- delivery reports and the keys of a call ----------------------------------------------


def _rows(session: Session, ids: list[int], sid: str) -> list[tuple[Notification, ContactMethod]]:
    """Return the phone notifications `ids` names that the provider's `sid` is theirs, locked:
    the sender may be recording the same rows."""
    found = session.execute(
        select(Notification, ContactMethod)
        .join(ContactMethod, ContactMethod.id == Notification.contact_method_id)
        .where(Notification.id.in_(ids), ContactMethod.type.in_([t.value for t in PHONE_TYPES]))
        .order_by(Notification.id)
        .with_for_update(of=Notification)
    ).all()
    # A row not yet recorded has no sid; one that has must have this one, so that a report for
    # one text cannot be pinned on another row by changing the URL's numbers.
    return [
        (row, method)
        for row, method in found
        if row.provider_sid == sid or (row.provider_sid is None and row.status == Status.SENDING)
    ]


def delivery_report(
    session: Session,
    *,
    ids: list[int],
    sid: str,
    status: str,
    answered_by: str = "",
    error_code: str = "",
    now: datetime,
) -> int:
    """Store a provider's status report of a text or call on its notifications; return how
    many it changed.

    A final report that says it reached no one (failed, undelivered, busy, no answer, a
    voicemail box) fails the page and tries the person's next method at once. A report for a
    send not yet recorded is kept, and the sender acts on it when it records the send. Once a
    row's end is known, later or repeated reports change nothing.
    """
    changed = 0
    for row, method in _rows(session, ids, sid):
        if row.status not in (Status.SENT, Status.SENDING):
            continue
        if row.provider_status and phone.receipt(method.type, row.provider_status).final:
            continue
        stored = phone.stored_status(status, answered_by)
        row.provider_status = stored
        row.provider_sid = sid
        changed += 1
        if row.status != Status.SENT:
            continue
        receipt = (
            phone.text_receipt(stored, error_code)
            if method.type == ContactType.SMS
            else phone.receipt(method.type, stored)
        )
        if not receipt.final:
            continue
        who = f"{row.message.get('user') or row.user_id} via {method.name}"
        if receipt.reached:
            outbox.note(session, row, now, f"Reached {who}: {receipt.words}")
        else:
            row.last_error = receipt.words
            outbox.fail(session, row, now, f"Could not reach {who}: {receipt.words}")
    return changed


@dataclass(frozen=True, slots=True)
class Spoken:
    """What a call says after a key: `words`, then asks again when `again`, else hangs up."""

    words: str
    again: bool = False


def keypress(
    session: Session, *, ids: list[int], call_sid: str, digits: str, now: datetime
) -> Spoken:
    """Act on the key a person pressed during a page call, as that person."""
    rows = _rows(session, ids, call_sid)
    user = session.get(User, rows[0][0].user_id) if rows and rows[0][0].user_id else None
    if user is None:
        return Spoken("Tocsin does not know this call any more. Goodbye.")
    if user.disabled_at is not None:
        return Spoken(f"{user.handle} is disabled in Tocsin and cannot act on incidents. Goodbye.")
    access.act_for(session, principal := access.principal_of(session, user))
    if not principal.may_respond_somewhere():
        return Spoken(f"{user.handle} is a viewer in Tocsin and cannot act on incidents. Goodbye.")
    action = phone.KEYS.get(digits.strip()[:1])
    if action is None:
        return Spoken(f"That key does nothing. {phone.PROMPT}", again=True)
    if not inbound.first_time(session, "twilio", f"{call_sid}:{action}"[:64], now=now):
        return Spoken("That was done already. Goodbye.")
    said = []
    seen: set[int] = set()
    for row, _method in rows:
        if row.incident_id is None or row.incident_id in seen:
            continue
        seen.add(row.incident_id)
        incident = session.get(Incident, row.incident_id)
        if incident is not None:
            step = row.message.get("step")
            said.append(_act(session, incident, user, action, now, str(step) if step else None))
    return Spoken(" ".join(said) + " Goodbye.")


def _act(
    session: Session,
    incident: Incident,
    user: User,
    action: str,
    now: datetime,
    step: str | None = None,
) -> str:
    name = f"Incident {incident.number}"
    try:
        if action == "acknowledge":
            done = incidents.acknowledge(session, incident, actor=user.handle, now=now, via="phone")
            return f"{name} was acknowledged already." if done.warnings else f"{name} acknowledged."
        if action == "resolve":
            if incident.status in (IncidentStatus.RESOLVED.value, IncidentStatus.CLOSED.value):
                return f"{name} is {incident.status} already."
            incidents.resolve(
                session,
                incident,
                message=f"Resolved by {user.handle} by phone",
                actor=user.handle,
                now=now,
            )
            return f"{name} resolved."
        incidents.escalate_now(
            session, incident, actor=user.handle, now=now, via="phone", step=step
        )
        return f"{name}: paging the next level now."
    except TocsinError as exc:
        return f"{name}: {exc.message}."
