"""Alerts: people acting on them by hand (the senders' pipeline, with a person as actor), and the
look-ups of `store.alerts`, so a caller needs one module."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.core.alerts import AlertAction, AlertEvent, AlertStatus
from tocsin.errors import Conflict
from tocsin.services.ingest import Result, ingest
from tocsin.store import access
from tocsin.store.alerts import (
    Page,
    add_maintenance,
    end_maintenance,
    firing_state,
    for_incident,
    get,
    incident_numbers,
    list_,
    list_maintenance,
    page,
    record_change,
    runbook_scenarios,
    service_timeline,
)
from tocsin.store.models import Alert

__all__ = [
    "Page",
    "Result",
    "acknowledge",
    "add_maintenance",
    "end_maintenance",
    "firing_state",
    "for_incident",
    "get",
    "incident_numbers",
    "ingest",
    "list_",
    "list_maintenance",
    "page",
    "record_change",
    "resolve",
    "runbook_scenarios",
    "service_timeline",
]


def acknowledge(session: Session, alert_id: int, *, actor: str, now: datetime) -> Alert:
    """Acknowledge an alert by hand."""
    alert = get(session, alert_id)
    access.require_response_to_alert(session, alert)
    if alert.status != AlertStatus.TRIGGERED.value:
        raise Conflict(
            f"alert {alert_id} is {alert.status}; only a triggered alert can be acknowledged"
        )
    event = AlertEvent(AlertAction.ACKNOWLEDGE, alert.dedup_key)
    ingest(session, alert.integration, [event], now=now, actor=actor)
    session.refresh(alert)
    return alert


def resolve(session: Session, alert_id: int, *, actor: str, now: datetime) -> Alert:
    """Resolve an alert by hand."""
    alert = get(session, alert_id)
    access.require_response_to_alert(session, alert)
    if alert.status == AlertStatus.RESOLVED.value:
        raise Conflict(f"alert {alert_id} is already resolved")
    ingest(
        session,
        alert.integration,
        [AlertEvent(AlertAction.RESOLVE, alert.dedup_key)],
        now=now,
        actor=actor,
    )
    session.refresh(alert)
    return alert
