"""Heartbeats: a sender that stops pinging is an alert, opened through the ingest pipeline.

A missed heartbeat is an alert like any other, so it enters where every alert enters
(`services.ingest`); the engine runs `update_all` as one of its tasks.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.core.alerts import AlertAction, AlertEvent, AlertSeverity
from tocsin.errors import InvalidInput
from tocsin.services.ingest import Result, ingest
from tocsin.store.models import Integration

log = logging.getLogger("tocsin.engine")

# The dedup key of the alert a missed heartbeat opens (and a ping resolves).
HEARTBEAT_KEY = "heartbeat-missed"


def ping(session: Session, integration: Integration, *, now: datetime) -> list[Result]:
    """Record a heartbeat: the next is due an interval from now; a missed-beat alert resolves."""
    if integration.heartbeat_interval_seconds is None:
        raise InvalidInput(f"integration {integration.name!r} is not a heartbeat")
    integration.heartbeat_last_ping_at = now
    integration.heartbeat_deadline_at = now + timedelta(
        seconds=integration.heartbeat_interval_seconds
    )
    return ingest(session, integration, [AlertEvent(AlertAction.RESOLVE, HEARTBEAT_KEY)], now=now)


def missed(session: Session, *, now: datetime) -> list[Result]:
    """Open an alert for every heartbeat whose deadline has passed; return what was done."""
    due = session.scalars(
        select(Integration)
        .where(Integration.heartbeat_deadline_at <= now)
        .order_by(Integration.heartbeat_deadline_at)
    ).all()
    results = []
    for integration in due:
        last = integration.heartbeat_last_ping_at
        since = f"no ping since {last:%Y-%m-%d %H:%M:%S} UTC" if last else "no ping yet"
        minutes = (integration.heartbeat_interval_seconds or 0) // 60
        event = AlertEvent(
            AlertAction.TRIGGER,
            HEARTBEAT_KEY,
            summary=f"Heartbeat {integration.name} of {integration.service.slug} missed: {since} "
            f"(expected every {minutes} min)",
            severity=AlertSeverity.ERROR,
            raw_severity="error",
            source="tocsin heartbeat",
        )
        results += ingest(session, integration, [event], now=now)
        # Until the next ping there is nothing more to wait for; the open alert says it all.
        integration.heartbeat_deadline_at = None
    session.flush()
    return results


def update_all(session: Session, *, now: datetime) -> int:
    """Open an alert for every heartbeat missed by `now`; return how many."""
    fired = missed(session, now=now)
    for result in fired:
        log.warning("heartbeat missed: alert %s (%s)", result.alert_id, result.outcome)
    return len(fired)


def next_due(session: Session) -> datetime | None:
    """Return the earliest heartbeat deadline still ahead."""
    return session.scalar(select(func.min(Integration.heartbeat_deadline_at)))
