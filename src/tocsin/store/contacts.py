"""Contact methods and notification rules: how, and how soon, each user is reached."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.store.models import ContactMethod, NotificationRule, User


class ContactType(StrEnum):
    """The ways Tocsin can reach a person."""

    EMAIL = "email"
    SLACK = "slack"
    WEBHOOK = "webhook"
    SMS = "sms"
    VOICE = "voice"
    TEAMS = "teams"
    TELEGRAM = "telegram"
    NTFY = "ntfy"
    WEBPUSH = "webpush"
    CONSOLE = "console"


# The methods that reach a phone number through the phone provider.
PHONE_TYPES = frozenset({ContactType.SMS, ContactType.VOICE})

# Which field of a method in the config file holds its destination, by type; the rest: url.
TARGET_FIELD = {
    ContactType.EMAIL: "address",
    ContactType.SMS: "number",
    ContactType.VOICE: "number",
    ContactType.TELEGRAM: "chat_id",
}


def target_field(kind: str) -> str:
    """Return the name of a method type's destination field: address, number, chat_id, url."""
    try:
        return TARGET_FIELD.get(ContactType(kind), "url")
    except ValueError:
        return "url"


class Method(NamedTuple):
    """A contact method's values; without a `secret`, the stored one is kept (or one is made)."""

    name: str
    type: str
    target: str
    secret: str | None
    throttle_seconds: int | None


def methods_of(session: Session, user: User) -> list[ContactMethod]:
    """Return a user's contact methods, by name."""
    return list(
        session.scalars(
            select(ContactMethod)
            .where(ContactMethod.user_id == user.id)
            .order_by(ContactMethod.name)
        )
    )


def rules_of(session: Session, user: User) -> list[tuple[ContactMethod, int]]:
    """Return a user's notification rules as (method, seconds after the page), soonest first."""
    rows = session.execute(
        select(ContactMethod, NotificationRule.after_seconds)
        .join(NotificationRule, NotificationRule.contact_method_id == ContactMethod.id)
        .where(NotificationRule.user_id == user.id)
        .order_by(NotificationRule.after_seconds, ContactMethod.name)
    )
    return [(method, int(after)) for method, after in rows]


def put(
    session: Session,
    user: User,
    methods: Sequence[Method],
    rules: Sequence[tuple[str, int]],
    *,
    now: datetime,
) -> list[str]:
    """Make `methods` and `rules` the user's only contact methods and rules; return change lines.

    `rules` are (method name, seconds after the page), each naming one of `methods`.
    """
    changes: list[str] = []
    existing = {m.name: m for m in methods_of(session, user)}
    wanted = {m.name for m in methods}
    for name, old in existing.items():
        if name not in wanted:
            session.delete(old)
            changes.append(f"delete contact method {user.handle}/{name}")
    for spec in methods:
        method: ContactMethod | None = existing.get(spec.name)
        if method is None:
            method = ContactMethod(
                user_id=user.id,
                name=spec.name,
                type=spec.type,
                target=spec.target,
                secret=spec.secret or (secrets.token_hex(32) if spec.type == "webhook" else None),
                throttle_seconds=spec.throttle_seconds,
                created_at=now,
            )
            session.add(method)
            changes.append(f"create contact method {user.handle}/{spec.name} ({spec.type})")
        elif (method.type, method.target, method.throttle_seconds) != (
            spec.type,
            spec.target,
            spec.throttle_seconds,
        ) or (spec.secret is not None and method.secret != spec.secret):
            method.type, method.target = spec.type, spec.target
            method.throttle_seconds = spec.throttle_seconds
            if spec.secret is not None:
                method.secret = spec.secret
            changes.append(f"update contact method {user.handle}/{spec.name}")
    session.flush()
    by_name = {m.name: m for m in methods_of(session, user)}
    wanted_rules = sorted((by_name[name].id, after) for name, after in rules)
    stored = list(
        session.scalars(select(NotificationRule).where(NotificationRule.user_id == user.id))
    )
    current = sorted((r.contact_method_id, r.after_seconds) for r in stored)
    if current != wanted_rules:
        for rule in stored:
            session.delete(rule)  # one by one, so the audit log sees each
        session.flush()
        session.add_all(
            NotificationRule(user_id=user.id, contact_method_id=method_id, after_seconds=after)
            for method_id, after in wanted_rules
        )
        changes.append(f"update notification rules of {user.handle}")
    session.flush()
    return changes


def add(
    session: Session, user: User, spec: Method, *, after_seconds: int | None, now: datetime
) -> ContactMethod:
    """Add one contact method to a user, with a notification rule `after_seconds` after a page
    (None: no rule); the name must be new for the user."""
    method = ContactMethod(
        user_id=user.id,
        name=spec.name,
        type=spec.type,
        target=spec.target,
        secret=spec.secret or (secrets.token_hex(32) if spec.type == "webhook" else None),
        throttle_seconds=spec.throttle_seconds,
        created_at=now,
    )
    session.add(method)
    session.flush()
    if after_seconds is not None:
        session.add(
            NotificationRule(
                user_id=user.id, contact_method_id=method.id, after_seconds=after_seconds
            )
        )
        session.flush()
    return method


def find(session: Session, user: User, name: str) -> ContactMethod | None:
    """Return a user's contact method by name."""
    return session.scalar(
        select(ContactMethod).where(ContactMethod.user_id == user.id, ContactMethod.name == name)
    )
