"""Integrations: the keys senders use, one service each. Keys are shown once, stored hashed."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from tocsin.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from tocsin.store import services
from tocsin.store.models import Integration

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class IntegrationType(StrEnum):
    """The sender formats Tocsin speaks."""

    ALERTMANAGER = "alertmanager"
    PAGERDUTY = "pagerduty"
    OPSGENIE = "opsgenie"
    GENERIC = "generic"
    HEARTBEAT = "heartbeat"


def hash_key(key: str) -> str:
    """Return the stored form of an integration key."""
    # A lone surrogate (from a JSON "\ud800") cannot be UTF-8: hash its code point as is, so
    # such a key matches nothing instead of failing.
    return hashlib.sha256(key.strip().encode("utf-8", "surrogatepass")).hexdigest()


def create(
    session: Session,
    *,
    service: str,
    type: str,
    name: str | None = None,
    interval: timedelta | None = None,
    now: datetime,
    key: str | None = None,
) -> tuple[Integration, str]:
    """Create an integration; return it and its key, which is shown only now.

    `key` keeps a key its senders already use (moving from another tool); without it, a new
    one is made.
    """
    svc = services.get_by_slug(session, service)
    problems: list[str] = []
    try:
        kind = IntegrationType(type.lower())
    except ValueError:
        kind = None
        problems.append(f"unknown integration type {type!r}; valid: {', '.join(IntegrationType)}")
    label = (name or (kind.value if kind else type)).strip()
    if not NAME.match(label):
        problems.append(f"name {label!r}: use letters, digits, '.', '_' or '-' (at most 100)")
    if kind is IntegrationType.HEARTBEAT:
        if interval is None or interval < timedelta(minutes=1):
            problems.append("a heartbeat needs an interval of at least 1 minute (like 5m)")
    elif interval is not None:
        problems.append("only a heartbeat integration has an interval")
    if problems or kind is None:
        raise InvalidInput.of(problems)
    if session.scalar(
        select(Integration).where(Integration.service_id == svc.id, Integration.name == label)
    ):
        raise Conflict(f"service {svc.slug!r} already has an integration named {label!r}")
    # 32 hex characters: the shape of a PagerDuty integration key, which some senders check.
    key = key.strip() if key is not None else secrets.token_hex(16)
    integration = Integration(
        service=svc,
        type=kind.value,
        name=label,
        key_hash=hash_key(key),
        key_hint=key[-4:],
        created_at=now,
        heartbeat_interval_seconds=int(interval.total_seconds()) if interval else None,
        heartbeat_deadline_at=now + interval if interval else None,
    )
    session.add(integration)
    session.flush()
    return integration, key


def authenticate(
    session: Session, key: str | None, *, expect: IntegrationType | None = None
) -> Integration:
    """Return the integration whose key is `key`, or raise Unauthenticated."""
    integration = session.scalar(select(Integration).where(Integration.key_hash == _hashed(key)))
    if integration is None:
        raise Unauthenticated("unknown integration key")
    check_type(integration, expect)
    return integration


def type_of_key(session: Session, key: str | None) -> str:
    """Return the type of the integration whose key is `key`, or raise Unauthenticated.

    What a route checks before it reads a body: one column, not the integration and its service.
    """
    found = session.scalar(_TYPE_OF_KEY, {"key_hash": _hashed(key)})
    if found is None:
        raise Unauthenticated("unknown integration key")
    return str(found)


_TYPE_OF_KEY = select(Integration.type).where(Integration.key_hash == bindparam("key_hash"))


def _hashed(key: str | None) -> str:
    if not key or not key.strip():
        raise Unauthenticated("missing integration key")
    return hash_key(key)


def check_type(integration: Integration | str, expect: IntegrationType | None) -> None:
    """Raise InvalidInput if a key of another sender type was used on this sender's route.

    `integration` is the key's integration, or its type.
    """
    kind = integration if isinstance(integration, str) else integration.type
    if expect is not None and kind != expect.value:
        raise InvalidInput(f"this key belongs to a {kind} integration, not {expect.value}")


def list_(session: Session, *, service: str | None = None) -> list[Integration]:
    """Return integrations, by service and name."""
    query = select(Integration).order_by(Integration.service_id, Integration.name)
    if service:
        query = query.where(Integration.service_id == services.get_by_slug(session, service).id)
    return list(session.scalars(query))


def get(session: Session, integration_id: int) -> Integration:
    """Return integration `integration_id`, or raise NotFound."""
    found = session.get(Integration, integration_id)
    if found is None:
        raise NotFound(f"unknown integration {integration_id}")
    return found


def remove(session: Session, integration_id: int) -> None:
    """Delete an integration; its key stops working at once (its alerts go with it)."""
    session.delete(get(session, integration_id))
    session.flush()


def set_key(integration: Integration, key: str) -> None:
    """Make `key` the integration's key (the old one stops working)."""
    integration.key_hash = hash_key(key)
    integration.key_hint = key.strip()[-4:]


def find_by_key(session: Session, key: str) -> Integration | None:
    """Return the integration whose key this is, if any."""
    return session.scalar(select(Integration).where(Integration.key_hash == hash_key(key)))
