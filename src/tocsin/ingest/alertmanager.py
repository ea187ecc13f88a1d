"""Prometheus Alertmanager's webhook (payload version 4): one POST carries a whole group."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from tocsin.core.alerts import (
    MAX_DEDUP_KEY,
    MAX_RAW_SEVERITY,
    MAX_SOURCE,
    AlertAction,
    AlertEvent,
    Link,
    normalize_severity,
)
from tocsin.errors import InvalidInput
from tocsin.ingest import storage_problems, text

# Firing alerts carry Go's zero time as their end.
_ZERO_TIME = "0001-01-01T00:00:00Z"


def parse(body: Any) -> list[AlertEvent]:
    """Return one event per alert in the group; unknown extra fields are accepted.

    The severity is read from the `severity` label; `with_severity_label` reads another, and
    refuses values that cannot be stored.
    """
    problems: list[str] = []
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object (Alertmanager webhook, version 4)")
    version = body.get("version")
    if version != "4":
        problems.append(f'version: expected "4" (Alertmanager webhook payload), got {version!r}')
    alerts = body.get("alerts")
    if not isinstance(alerts, list):
        problems.append("alerts: required, a list of alerts")
        alerts = []
    events: list[AlertEvent] = []
    for i, alert in enumerate(alerts):
        where = f"alerts[{i}]"
        if not isinstance(alert, dict):
            problems.append(f"{where}: must be an object")
            continue
        problems += storage_problems(alert, where)
        status = alert.get("status")
        if status not in ("firing", "resolved"):
            problems.append(f"{where}.status: expected firing or resolved, got {status!r}")
        fingerprint = alert.get("fingerprint")
        if not isinstance(fingerprint, str) or not fingerprint:
            problems.append(f"{where}.fingerprint: required, a non-empty text")
        elif len(fingerprint) > MAX_DEDUP_KEY:
            problems.append(
                f"{where}.fingerprint: at most {MAX_DEDUP_KEY} characters (got {len(fingerprint)})"
            )
        labels = alert.get("labels", {})
        annotations = alert.get("annotations", {})
        if not isinstance(labels, dict):
            problems.append(f"{where}.labels: must be an object")
            labels = {}
        if annotations is None:
            annotations = {}
        if not isinstance(annotations, dict):
            problems.append(f"{where}.annotations: must be an object")
            annotations = {}
        # Checked by `with_severity_label`, against the label the service reads: a service that
        # reads another label must not refuse an alert for its `severity` label's length.
        raw = text(labels.get("severity"))
        if problems:
            continue
        name = text(labels.get("alertname")) or "alert"
        summary = text(annotations.get("summary")) or text(annotations.get("description"))
        if not summary:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")
            summary = f"{name} ({shown})" if shown else name
        elif name not in summary:
            summary = f"{name}: {summary}"
        generator = text(alert.get("generatorURL"))
        started = _time(alert.get("startsAt"))
        events.append(
            AlertEvent(
                action=AlertAction.TRIGGER if status == "firing" else AlertAction.RESOLVE,
                dedup_key=str(fingerprint),
                summary=summary[:1024],
                severity=normalize_severity(raw or None),
                raw_severity=raw,
                source=(text(labels.get("instance")) or text(labels.get("job")) or "alertmanager")[
                    :MAX_SOURCE
                ],
                details={"labels": labels, "annotations": annotations},
                links=(Link(generator, "Source"),) if generator else (),
                occurred_at=started,
            )
        )
    if problems:
        raise InvalidInput.of(problems)
    return events


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or value == _ZERO_TIME:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def severity_problems(raw: str, where: str) -> list[str]:
    """Return why a severity label's value cannot be stored, if it cannot.

    Any word is a severity (an unknown one counts as error), but the word itself is kept.
    """
    if len(raw) > MAX_RAW_SEVERITY:
        return [f"{where}: a severity of at most {MAX_RAW_SEVERITY} characters (got {len(raw)})"]
    return []


def with_severity_label(events: list[AlertEvent], label: str) -> list[AlertEvent]:
    """Return `events` with their severity read from label `label` instead of `severity`.

    Raises InvalidInput listing every value of that label that cannot be stored.
    """
    relabelled = []
    problems: list[str] = []
    for i, event in enumerate(events):
        raw = text(event.details.get("labels", {}).get(label))
        problems += severity_problems(raw, f"alerts[{i}].labels.{label}")
        relabelled.append(
            replace(event, severity=normalize_severity(raw or None), raw_severity=raw)
        )
    if problems:
        raise InvalidInput.of(problems)
    return relabelled
