"""Tocsin's own generic JSON webhook, for senders without a format of their own.

{
  "summary": "Checkout error rate 12%",          required for trigger
  "severity": "critical|error|warning|info",     default error
  "action": "trigger|acknowledge|resolve",       default trigger
  "dedup_key": "checkout-errors",                 optional for trigger (one is made)
  "source": "prometheus-eu-1",                    optional
  "details": {"any": "JSON"},                     optional
  "links": [{"href": "https://...", "text": "Dashboard"}]   optional
}
"""

from __future__ import annotations

import uuid
from typing import Any

from tocsin.core.alerts import MAX_DEDUP_KEY, MAX_SOURCE, AlertAction, AlertEvent, AlertSeverity
from tocsin.errors import InvalidInput
from tocsin.ingest import links_from, storage_problems, text

FIELDS = {"summary", "severity", "action", "dedup_key", "source", "details", "links"}


def parse(body: Any) -> AlertEvent:
    """Return the event in a generic webhook body, or raise listing every problem."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    problems = [f"{name}: unknown field" for name in sorted(set(body) - FIELDS)]
    problems += storage_problems(body)
    action_text = body.get("action", "trigger")
    try:
        action = AlertAction(str(action_text))
    except ValueError:
        problems.append(f"action: must be trigger, acknowledge or resolve (got {action_text!r})")
        action = AlertAction.TRIGGER
    summary = text(body.get("summary"))
    if action is AlertAction.TRIGGER and not summary.strip():
        problems.append("summary: required for a trigger")
    if len(summary) > 1024:
        problems.append("summary: at most 1024 characters")
    word = text(body.get("severity") or "error").lower()
    try:
        severity = AlertSeverity(word)
    except ValueError:
        problems.append(f"severity: must be one of {', '.join(AlertSeverity)} (got {word!r})")
        severity = AlertSeverity.ERROR
    dedup_key = body.get("dedup_key")
    if dedup_key is not None and (not isinstance(dedup_key, str) or not dedup_key):
        problems.append("dedup_key: must be a non-empty text")
    elif dedup_key is not None and len(dedup_key) > MAX_DEDUP_KEY:
        problems.append(f"dedup_key: at most {MAX_DEDUP_KEY} characters (got {len(dedup_key)})")
    if action is not AlertAction.TRIGGER and not dedup_key:
        problems.append(f"dedup_key: required for {action.value}")
    details = body.get("details", {})
    if not isinstance(details, dict):
        problems.append("details: must be an object")
    links = links_from(body.get("links"), "links", problems)
    if problems:
        raise InvalidInput.of(problems)
    return AlertEvent(
        action=action,
        dedup_key=str(dedup_key) if dedup_key else uuid.uuid4().hex,
        summary=summary,
        severity=severity,
        raw_severity=word,
        source=text(body.get("source"))[:MAX_SOURCE] or "generic",
        details=details,
        links=links,
    )
