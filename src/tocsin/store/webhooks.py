"""Webhooks that escalation levels call (`webhook:NAME`): where to POST, and the signing secret."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.store.models import Webhook


def find(session: Session, name: str) -> Webhook | None:
    """Return the webhook `name`, or None."""
    return session.scalar(select(Webhook).where(Webhook.name == name))


def list_(session: Session) -> list[Webhook]:
    """Return every webhook, by name."""
    return list(session.scalars(select(Webhook).order_by(Webhook.name)))


def create(
    session: Session,
    *,
    name: str,
    url: str,
    secret: str,
    timeout_seconds: float | None,
    now: datetime,
) -> Webhook:
    """Create a webhook."""
    webhook = Webhook(
        name=name,
        url=url,
        secret=secret,
        timeout_seconds=timeout_seconds,
        created_at=now,
        updated_at=now,
    )
    session.add(webhook)
    session.flush()
    return webhook


def update(
    session: Session,
    webhook: Webhook,
    *,
    url: str,
    secret: str | None,
    timeout_seconds: float | None,
    now: datetime,
) -> list[str]:
    """Change the webhook to these values; return the names of the fields that changed.

    Without a `secret` the stored one is kept: an export written without secrets applies
    back without taking the receiver's key away.
    """
    changed = []
    if webhook.url != url:
        webhook.url = url
        changed.append("url")
    if secret is not None and webhook.secret != secret:
        webhook.secret = secret
        changed.append("secret")
    if webhook.timeout_seconds != timeout_seconds:
        webhook.timeout_seconds = timeout_seconds
        changed.append("timeout")
    if changed:
        webhook.updated_at = now
    session.flush()
    return changed
