"""Read and write status-page subscribers, their rate-limit attempts and their messages."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tocsin.core.incident import Visibility
from tocsin.store.models import (
    StatusSubscriber,
    StatusUpdate,
    SubscriberMessage,
    SubscriptionAttempt,
)


def get(session: Session, subscriber_id: int) -> StatusSubscriber | None:
    """Return subscriber `subscriber_id`, or None."""
    return session.get(StatusSubscriber, subscriber_id)


def get_by_token(session: Session, token: str) -> StatusSubscriber | None:
    """Return the subscriber whose link carries `token`, or None."""
    if not token:
        return None
    return session.scalars(select(StatusSubscriber).where(StatusSubscriber.token == token)).first()


def get_by_address_key(session: Session, *, kind: str, address_key: str) -> StatusSubscriber | None:
    """Return the subscriber of `kind` with that address key, or None."""
    return session.scalars(
        select(StatusSubscriber).where(
            StatusSubscriber.kind == kind, StatusSubscriber.address_key == address_key
        )
    ).first()


def list_(session: Session) -> list[StatusSubscriber]:
    """Return every subscriber, oldest first."""
    return list(session.scalars(select(StatusSubscriber).order_by(StatusSubscriber.id)))


def confirmed(session: Session) -> list[StatusSubscriber]:
    """Return the subscribers who may be sent messages: confirmed ones, oldest first."""
    return list(
        session.scalars(
            select(StatusSubscriber)
            .where(StatusSubscriber.confirmed_at.is_not(None))
            .order_by(StatusSubscriber.id)
        )
    )


def queued_keys(session: Session, keys: Collection[str]) -> set[str]:
    """Return which of the idempotency `keys` already have a message."""
    found: set[str] = set()
    wanted = list(keys)
    # Chunked so that a long list of subscribers stays under every driver's parameter cap.
    for start in range(0, len(wanted), 500):
        found.update(
            session.scalars(
                select(SubscriberMessage.idempotency_key).where(
                    SubscriberMessage.idempotency_key.in_(wanted[start : start + 500])
                )
            )
        )
    return found


def add_message(
    session: Session,
    *,
    subscriber: StatusSubscriber,
    kind: str,
    idempotency_key: str,
    message: dict[str, object],
    now: datetime,
) -> SubscriberMessage:
    """Queue one message to `subscriber`, due now."""
    row = SubscriberMessage(
        idempotency_key=idempotency_key,
        subscriber_id=subscriber.id,
        kind=kind,
        status="pending",
        due_at=now,
        attempts=0,
        last_error="",
        message=message,
        created_at=now,
    )
    session.add(row)
    return row


def add_attempt(session: Session, *, address_key: str, client_key: str, now: datetime) -> None:
    """Record one use of the subscribe form."""
    session.add(SubscriptionAttempt(at=now, address_key=address_key, client_key=client_key))


def attempts_by_client(session: Session, *, client_key: str, since: datetime) -> list[datetime]:
    """Return when the client used the subscribe form since `since`, oldest first."""
    return list(
        session.scalars(
            select(SubscriptionAttempt.at)
            .where(SubscriptionAttempt.client_key == client_key, SubscriptionAttempt.at >= since)
            .order_by(SubscriptionAttempt.at)
        )
    )


def attempts_by_address(session: Session, *, address_key: str, since: datetime) -> list[datetime]:
    """Return when the form mailed the address of `address_key` since `since`, oldest first."""
    return list(
        session.scalars(
            select(SubscriptionAttempt.at)
            .where(SubscriptionAttempt.address_key == address_key, SubscriptionAttempt.at >= since)
            .order_by(SubscriptionAttempt.at)
        )
    )


def purge(session: Session, *, before: datetime) -> tuple[int, int]:
    """Delete unconfirmed subscribers whose link expired before `before`, and attempts made
    before it; return how many of each."""
    expired = session.execute(
        delete(StatusSubscriber).where(
            StatusSubscriber.confirmed_at.is_(None),
            StatusSubscriber.confirm_expires_at.is_not(None),
            StatusSubscriber.confirm_expires_at < before,
        )
    )
    old = session.execute(delete(SubscriptionAttempt).where(SubscriptionAttempt.at < before))
    return int(getattr(expired, "rowcount", 0) or 0), int(getattr(old, "rowcount", 0) or 0)


def next_purge(session: Session, *, retention: timedelta) -> datetime | None:
    """Return when `purge` next has something to delete, if kept for `retention`."""
    expires = session.scalar(
        select(func.min(StatusSubscriber.confirm_expires_at)).where(
            StatusSubscriber.confirmed_at.is_(None)
        )
    )
    oldest = session.scalar(select(func.min(SubscriptionAttempt.at)))
    found = [t + retention for t in (expires, oldest) if t is not None]
    return min(found) if found else None


def message_counts(session: Session) -> dict[tuple[int, str], int]:
    """Return how many messages each subscriber has in each status."""
    return {
        (subscriber_id, status): int(n)
        for subscriber_id, status, n in session.execute(
            select(SubscriberMessage.subscriber_id, SubscriberMessage.status, func.count())
            .where(SubscriberMessage.status != "sent")
            .group_by(SubscriberMessage.subscriber_id, SubscriberMessage.status)
        )
    }


def latest_public_update(session: Session, incident_id: int) -> StatusUpdate | None:
    """Return the incident's newest public status update, or None."""
    return session.scalars(
        select(StatusUpdate)
        .where(
            StatusUpdate.incident_id == incident_id,
            StatusUpdate.visibility == Visibility.PUBLIC.value,
            StatusUpdate.public_status.is_not(None),
        )
        .order_by(StatusUpdate.at.desc(), StatusUpdate.id.desc())
        .limit(1)
    ).first()
