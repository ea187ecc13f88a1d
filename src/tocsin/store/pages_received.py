"""The pages people received, as the on-call hours report counts them.

A page is one escalation step (or one manual page) of one incident reaching one person. The
outbox writes a row per contact method that step uses (a push now, a call five minutes later),
and may bundle rows of several incidents into one message; so rows are grouped by incident,
person and step, and the group counts once, at its first successful delivery (the row's
`sent_at`). Rows of one step share their `created_at` and their `message["step"]`; a restarted
escalation pages level 1 again with a later `created_at`, and that counts as a new page. Webhook
calls (no person) and drills are left out.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.store.models import Incident, Notification, User
from tocsin.store.notifications import NotificationStatus


def first_deliveries(
    session: Session, *, start: datetime, end: datetime
) -> list[tuple[str, datetime]]:
    """Return (handle, first delivery) of every page first delivered in [start, end)."""
    delivered = (
        Notification.kind == "page",
        Notification.status == NotificationStatus.SENT,
        Notification.user_id.is_not(None),
        Notification.sent_at.is_not(None),
    )
    # Only incidents with a delivery in range can hold a page first delivered in it; their rows
    # before `start` are read too, to tell a page first delivered earlier (its later methods
    # land in range) from a new one.
    touched = select(Notification.incident_id).where(
        *delivered, Notification.sent_at >= start, Notification.sent_at < end
    )
    rows = session.execute(
        select(
            User.handle,
            Notification.incident_id,
            Notification.created_at,
            Notification.message,
            Notification.sent_at,
        )
        .join(User, User.id == Notification.user_id)
        .join(Incident, Incident.id == Notification.incident_id)
        .where(*delivered, Incident.is_drill.is_(False), Notification.incident_id.in_(touched))
    )
    first: dict[tuple[str, int | None, datetime, str], datetime] = {}
    for handle, incident_id, created_at, message, sent_at in rows:
        if sent_at is None:
            continue
        key = (handle, incident_id, created_at, str((message or {}).get("step", "")))
        if key not in first or sent_at < first[key]:
            first[key] = sent_at
    return sorted(
        ((key[0], at) for key, at in first.items() if start <= at < end),
        key=lambda page: (page[1], page[0]),
    )
