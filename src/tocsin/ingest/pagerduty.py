"""PagerDuty Events API v2 (`/v2/enqueue`) and Change Events (`/v2/change/enqueue`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tocsin.core.alerts import MAX_SOURCE, AlertAction, AlertEvent, AlertSeverity
from tocsin.errors import InvalidInput
from tocsin.ingest import links_from, storage_problems, text

MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255


@dataclass(frozen=True, slots=True)
class Envelope:
    """An Events API v2 body: who it is for and what it says."""

    routing_key: str
    event: AlertEvent


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """A Change Events API body: a deploy or config change, for the service's timeline."""

    routing_key: str
    summary: str
    source: str
    timestamp: datetime | None
    details: dict[str, Any]


def routing_key_of(body: Any) -> str | None:
    """Return the body's routing key if it has a usable one."""
    if isinstance(body, dict) and isinstance(body.get("routing_key"), str):
        return str(body["routing_key"])
    return None


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput("Event object is invalid: the body must be a JSON object")
    return body


def _routing_key(body: dict[str, Any], problems: list[str]) -> str:
    routing_key = body.get("routing_key")
    if not isinstance(routing_key, str) or not routing_key:
        problems.append("'routing_key' is missing or blank")
        return ""
    return routing_key


def _summary(payload: dict[str, Any], problems: list[str]) -> str:
    summary = text(payload.get("summary"))
    if not summary.strip():
        problems.append("'payload.summary' is missing or blank")
    elif len(summary) > MAX_SUMMARY:
        problems.append(
            f"Length of 'payload.summary' is incorrect (should be at most {MAX_SUMMARY} "
            f"characters, got {len(summary)})"
        )
    return summary


def parse_event(body: Any) -> Envelope:
    """Return the event in an Events API v2 body, or raise listing every problem."""
    body = _object(body)
    problems = storage_problems(body, quoted=True)
    routing_key = _routing_key(body, problems)
    action_text = body.get("event_action")
    try:
        action = AlertAction(str(action_text))
    except ValueError:
        problems.append(
            f"'event_action' must be one of trigger, acknowledge, resolve (got {action_text!r})"
        )
        action = AlertAction.TRIGGER
    dedup_key = body.get("dedup_key")
    if dedup_key is not None and not isinstance(dedup_key, str):
        problems.append("'dedup_key' must be a string")
        dedup_key = None
    if isinstance(dedup_key, str) and len(dedup_key) > MAX_DEDUP_KEY:
        problems.append(f"Length of 'dedup_key' is incorrect (should be at most {MAX_DEDUP_KEY})")
    if action is not AlertAction.TRIGGER and not dedup_key:
        problems.append(f"'dedup_key' is required for event_action {action.value!r}")
    summary = source = raw_severity = ""
    severity = AlertSeverity.ERROR  # what an acknowledge or resolve never uses
    details: dict[str, Any] = {}
    occurred: datetime | None = None
    payload = body.get("payload")
    if action is AlertAction.TRIGGER:
        if not isinstance(payload, dict):
            problems.append("'payload' is missing or not an object")
            payload = {}
        summary = _summary(payload, problems)
        source = text(payload.get("source"))[:MAX_SOURCE]
        if not source.strip():
            problems.append("'payload.source' is missing or blank")
        raw_severity = text(payload.get("severity"))
        try:
            severity = AlertSeverity(raw_severity)
        except ValueError:
            problems.append(
                f"'payload.severity' must be one of {', '.join(AlertSeverity)} "
                f"(got {payload.get('severity')!r})"
            )
        occurred = _timestamp(payload.get("timestamp"), problems)
        custom = payload.get("custom_details")
        details = {key: payload[key] for key in ("component", "group", "class") if payload.get(key)}
        if custom is not None:
            details["custom_details"] = custom
    links = links_from(body.get("links"), "'links'", problems)
    if problems:
        raise InvalidInput.of(problems)
    return Envelope(
        routing_key=routing_key,
        event=AlertEvent(
            action=action,
            # A trigger without a key gets one, and the answer says which (PagerDuty does so).
            dedup_key=dedup_key or uuid.uuid4().hex,
            summary=summary,
            severity=severity,
            raw_severity=raw_severity,
            source=source,
            details=details,
            links=links,
            occurred_at=occurred,
        ),
    )


def parse_change(body: Any) -> ChangeEvent:
    """Return the change in a Change Events API body, or raise listing every problem."""
    body = _object(body)
    problems = storage_problems(body, quoted=True)
    routing_key = _routing_key(body, problems)
    payload = body.get("payload")
    if not isinstance(payload, dict):
        problems.append("'payload' is missing or not an object")
        payload = {}
    summary = _summary(payload, problems)
    timestamp = _timestamp(payload.get("timestamp"), problems)
    links_from(body.get("links"), "'links'", problems)
    if problems:
        raise InvalidInput.of(problems)
    details = payload.get("custom_details")
    return ChangeEvent(
        routing_key=routing_key,
        summary=summary,
        source=text(payload.get("source"))[:MAX_SOURCE],
        timestamp=timestamp,
        details=details if isinstance(details, dict) else {},
    )


def _timestamp(value: Any, problems: list[str]) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        problems.append(f"'payload.timestamp' is not an ISO 8601 time (got {value!r})")
        return None
    return parsed if parsed.tzinfo else None
