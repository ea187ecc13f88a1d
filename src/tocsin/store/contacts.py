"""Contact methods and notification rules: how, and how soon, each user is reached."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tocsin.config import ContactMethodSpec, NotificationRuleSpec
from tocsin.core import paging
from tocsin.core.timeutil import parse_duration
from tocsin.errors import TocsinError
from tocsin.store.models import ContactMethod, NotificationRule, User

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ContactType(StrEnum):
    """The ways Tocsin can reach a person."""

    EMAIL = "email"
    SLACK = "slack"
    WEBHOOK = "webhook"
    CONSOLE = "console"


def method_problems(spec: ContactMethodSpec) -> list[str]:
    """Return every problem with one contact method (paths relative to it)."""
    problems: list[str] = []
    try:
        kind = ContactType(spec.type)
    except ValueError:
        return [
            f"type: unknown contact method type {spec.type!r}; valid: " + ", ".join(ContactType)
        ]
    if kind is ContactType.EMAIL and not (spec.address and EMAIL.match(spec.address)):
        problems.append(f"address: an email method needs an email address (got {spec.address!r})")
    if kind in (ContactType.SLACK, ContactType.WEBHOOK) and not (
        spec.url and spec.url.startswith(("http://", "https://"))
    ):
        problems.append(f"url: a {kind.value} method needs an http(s) URL (got {spec.url!r})")
    if spec.secret is not None and kind is not ContactType.WEBHOOK:
        problems.append("secret: only a webhook method signs its requests")
    if spec.throttle is not None:
        try:
            parse_duration(spec.throttle)
        except TocsinError as exc:
            problems.append(f"throttle: {exc.message}")
    return problems


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
    methods: list[ContactMethodSpec],
    rules: list[NotificationRuleSpec] | None,
    *,
    now: datetime,
) -> list[str]:
    """Make the user's contact methods and rules what the file says; return change lines.

    Without `notification_rules`, every method is used at once when a page arrives.
    """
    changes: list[str] = []
    existing = {m.name: m for m in methods_of(session, user)}
    wanted = {m.name for m in methods}
    for name, old in existing.items():
        if name not in wanted:
            session.delete(old)
            changes.append(f"delete contact method {user.handle}/{name}")
    for spec in methods:
        target = spec.address if spec.type == ContactType.EMAIL else (spec.url or "")
        throttle = int(parse_duration(spec.throttle).total_seconds()) if spec.throttle else None
        method: ContactMethod | None = existing.get(spec.name)
        if method is None:
            method = ContactMethod(
                user_id=user.id,
                name=spec.name,
                type=spec.type,
                target=target or "",
                secret=spec.secret or (secrets.token_hex(32) if spec.type == "webhook" else None),
                throttle_seconds=throttle,
                created_at=now,
            )
            session.add(method)
            changes.append(f"create contact method {user.handle}/{spec.name} ({spec.type})")
        elif (method.type, method.target, method.throttle_seconds) != (
            spec.type,
            target or "",
            throttle,
        ) or (spec.secret is not None and method.secret != spec.secret):
            method.type, method.target = spec.type, target or ""
            method.throttle_seconds = throttle
            if spec.secret is not None:
                method.secret = spec.secret
            changes.append(f"update contact method {user.handle}/{spec.name}")
    session.flush()
    by_name = {m.name: m for m in methods_of(session, user)}
    specs = (
        rules
        if rules is not None
        else [NotificationRuleSpec(contact_method=m.name, after="0m") for m in methods]
    )
    parsed = paging.parse_rules([r.model_dump() for r in specs], set(by_name))
    wanted_rules = sorted(
        (by_name[r.contact_method].id, int(r.after.total_seconds())) for r in parsed
    )
    current = sorted(
        (r.contact_method_id, r.after_seconds)
        for r in session.scalars(
            select(NotificationRule).where(NotificationRule.user_id == user.id)
        )
    )
    if current != wanted_rules:
        session.execute(delete(NotificationRule).where(NotificationRule.user_id == user.id))
        session.add_all(
            NotificationRule(user_id=user.id, contact_method_id=method_id, after_seconds=after)
            for method_id, after in wanted_rules
        )
        changes.append(f"update notification rules of {user.handle}")
    session.flush()
    return changes
