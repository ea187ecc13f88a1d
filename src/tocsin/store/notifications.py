"""The outbox as stored: the states of a notification, and what has been sent for an incident."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import Session, aliased

from tocsin.core.incident import incident_ref
from tocsin.store import incidents
from tocsin.store.models import ContactMethod, Notification, User


class NotificationStatus:
    """The states of an outbox row (the values are what the database holds)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


def paged_users(session: Session, incident_id: int, *, in_flight: bool = False) -> set[str]:
    """Return the handles of users a page of this incident reached (or, with `in_flight`, may
    still reach: it is being sent). A webhook a level called is no user: it is not among them."""
    statuses = [NotificationStatus.SENT]
    if in_flight:
        statuses.append(NotificationStatus.SENDING)
    return set(
        session.scalars(
            select(User.handle)
            .join(Notification, Notification.user_id == User.id)
            .where(
                Notification.incident_id == incident_id,
                Notification.kind == "page",
                Notification.status.in_(statuses),
            )
        )
    )


# Kinds that must follow the pages queued before them: a later level's page, and the resolve
# notice (which is only for users a page reached).
ORDERED_KINDS = ("page", "resolved")
# Operations in an incident's chat channel, which run one after another in the order written.
CHANNEL_KIND = "channel"


@functools.cache  # one expression, built once: it is part of every claim and every engine pass
def waits_for_earlier_page() -> ColumnElement[bool]:
    """Return a condition on `Notification`: true while an earlier step's page of its incident
    is unfinished, so this row must not be sent yet; and true for an operation in an incident's
    chat channel while an earlier one of the same channel is unfinished (a post never goes
    ahead of the channel's creation).

    Unfinished is "being sent" (perhaps by a node that died: its claim runs out soon and the
    page is sent or withdrawn then) or "pending and due no later than this row". A page retried
    later after a temporary failure, or due later by its user's notification rules, does not
    hold the next level back: escalation must not wait for one person's broken pager. Pages of
    one step (same `created_at`) never wait for each other.
    """
    earlier = aliased(Notification)
    unfinished = or_(
        earlier.status == NotificationStatus.SENDING,
        (earlier.status == NotificationStatus.PENDING) & (earlier.due_at <= Notification.due_at),
    )
    pages = Notification.kind.in_(ORDERED_KINDS) & exists().where(
        earlier.incident_id == Notification.incident_id,
        earlier.kind == "page",
        earlier.id < Notification.id,
        earlier.created_at < Notification.created_at,
        unfinished,
    )
    channel = (Notification.kind == CHANNEL_KIND) & exists().where(
        earlier.incident_id == Notification.incident_id,
        earlier.kind == CHANNEL_KIND,
        earlier.id < Notification.id,
        unfinished,
    )
    return or_(pages, channel)


def notifications_json(session: Session, ref: str) -> list[dict[str, Any]]:
    """Return an incident's outbox rows, oldest first: who, how, and how it went.

    A webhook's call has no user and no contact method; `webhook` names it (null otherwise),
    even once the webhook itself was removed. An operation in the incident's Slack channel
    names the channel (`slack_channel`) and says what it did in `subject`.
    """
    incident = incidents.get(session, ref)
    rows = session.execute(
        select(Notification, User.handle, ContactMethod.name)
        .outerjoin(User, User.id == Notification.user_id)
        .outerjoin(ContactMethod, ContactMethod.id == Notification.contact_method_id)
        .where(Notification.incident_id == incident.id)
        .order_by(Notification.created_at, Notification.id)
    )
    return [
        {
            "id": n.id,
            "incident": incident_ref(incident.number),
            "user": handle,
            "webhook": n.message.get("webhook"),
            "slack_channel": n.message.get("channel_name"),
            "contact_method": method,
            "kind": n.kind,
            "subject": n.message.get("subject"),
            "status": n.status,
            "due_at": n.due_at,
            "attempts": n.attempts,
            "sent_at": n.sent_at,
            "last_error": n.last_error,
        }
        for n, handle, method in rows
    ]
