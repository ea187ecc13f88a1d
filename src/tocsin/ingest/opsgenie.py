"""Opsgenie's Alert API: create, close and acknowledge, keyed by `alias`."""

from __future__ import annotations

import hashlib
from typing import Any

from tocsin.core.alerts import MAX_SOURCE, PRIORITY_SEVERITY, AlertAction, AlertEvent
from tocsin.errors import InvalidInput
from tocsin.ingest import storage_problems, text

MAX_MESSAGE = 130  # Opsgenie's limits
MAX_ALIAS = 512  # the alias is the dedup key: also the column's size
MAX_DESCRIPTION = 15000


def parse_create(body: Any) -> AlertEvent:
    """Return the trigger in a create-alert body, or raise listing every problem."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    problems = storage_problems(body)
    message = text(body.get("message"))
    if not message.strip():
        problems.append("message: required, the alert's text")
    elif len(message) > MAX_MESSAGE:
        problems.append(f"message: at most {MAX_MESSAGE} characters, got {len(message)}")
    alias = text(body.get("alias"))
    if len(alias) > MAX_ALIAS:
        problems.append(f"alias: at most {MAX_ALIAS} characters")
    description = text(body.get("description"))
    if len(description) > MAX_DESCRIPTION:
        problems.append(f"description: at most {MAX_DESCRIPTION} characters")
    priority = text(body.get("priority") or "P3").upper()
    if priority not in PRIORITY_SEVERITY:
        problems.append(
            f"priority: must be one of P1, P2, P3, P4, P5 (got {body.get('priority')!r})"
        )
    tags = body.get("tags")
    if tags is not None and (
        not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)
    ):
        problems.append("tags: must be a list of texts")
    details = body.get("details")
    if details is not None and not isinstance(details, dict):
        problems.append("details: must be an object of texts")
    if problems:
        raise InvalidInput.of(problems)
    # Without an alias Opsgenie dedups on the message; so do we.
    key = alias or "message:" + hashlib.sha256(message.encode()).hexdigest()[:32]
    extra = {
        name: body[name]
        for name in ("description", "tags", "details", "entity", "note", "user", "actions")
        if body.get(name)
    }
    return AlertEvent(
        action=AlertAction.TRIGGER,
        dedup_key=key,
        summary=message,
        severity=PRIORITY_SEVERITY[priority],
        raw_severity=priority,
        source=(text(body.get("source")) or text(body.get("entity")) or "opsgenie")[:MAX_SOURCE],
        details=extra,
    )


def parse_identifier_type(value: str | None) -> str:
    """Return "alias" or "id", Opsgenie's ways to name an alert in a URL (default id)."""
    kind = (value or "id").lower()
    if kind not in ("id", "alias"):
        raise InvalidInput(f"identifierType: must be id or alias (got {value!r})")
    return kind


def close_or_ack(action: AlertAction, identifier: str) -> AlertEvent:
    """Return the event for closing or acknowledging `identifier`, or raise if it cannot be one."""
    problems = storage_problems(identifier, "identifier")
    if len(identifier) > MAX_ALIAS:
        problems.append(f"identifier: at most {MAX_ALIAS} characters (got {len(identifier)})")
    if problems:
        raise InvalidInput.of(problems)
    return AlertEvent(action=action, dedup_key=identifier)
