"""Response metrics from the stored milestones, and the figures of the live state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.core import metrics
from tocsin.core.incident import IncidentStatus
from tocsin.store import services as services_store
from tocsin.store import severities
from tocsin.store.models import Alert, Incident, IncidentService, Notification


def incident_times(
    session: Session, *, start: datetime | None = None, service: str | None = None
) -> list[metrics.IncidentTimes]:
    """Return the milestones of incidents detected since `start` (all: None)."""
    query = select(Incident).order_by(Incident.number)
    if start is not None:
        query = query.where(Incident.detected_at >= start)
    if service is not None:
        svc = services_store.get_by_slug(session, service)
        query = query.where(
            Incident.id.in_(
                select(IncidentService.incident_id).where(IncidentService.service_id == svc.id)
            )
        )
    return [
        metrics.IncidentTimes(
            number=i.number,
            severity=i.severity,
            services=tuple(i.service_slugs),
            started_at=i.started_at,
            detected_at=i.detected_at,
            acknowledged_at=i.acknowledged_at,
            mitigated_at=i.mitigated_at,
            resolved_at=i.resolved_at,
            is_drill=i.is_drill,
        )
        for i in session.scalars(query)
    ]


def summary_json(summary: metrics.Summary) -> dict[str, Any]:
    """Return a summary with durations in seconds."""

    def seconds(value: Any) -> float | None:
        return None if value is None else round(value.total_seconds(), 3)

    return {
        "count": summary.count,
        "mtta_seconds": seconds(summary.mtta),
        "mtta_p50_seconds": seconds(summary.mtta_p50),
        "mtta_p90_seconds": seconds(summary.mtta_p90),
        "mttr_seconds": seconds(summary.mttr),
        "mttr_p50_seconds": seconds(summary.mttr_p50),
        "mttr_p90_seconds": seconds(summary.mttr_p90),
        "ttd_mean_seconds": seconds(summary.ttd_mean),
        "within_response": summary.within_response,
        "within_count": summary.within_count,
        "judged_count": summary.judged_count,
    }


def report(
    session: Session, *, now: datetime, start: datetime | None, service: str | None = None
) -> dict[str, Any]:
    """Return the whole report: overall, per service, per severity and per month."""
    found = incident_times(session, start=start, service=service)
    scale = severities.scale(session)
    return {
        "since": start,
        "overall": summary_json(metrics.summarize(found, scale, now=now)),
        "by_service": {
            k: summary_json(v) for k, v in metrics.by_service(found, scale, now=now).items()
        },
        "by_severity": {
            k: summary_json(v) for k, v in metrics.by_severity(found, scale, now=now).items()
        },
        "by_month": {
            k: summary_json(v) for k, v in metrics.by_month(found, scale, now=now).items()
        },
    }


@dataclass(frozen=True, slots=True)
class LiveState:
    """The figures a metrics scrape reports, read in one session."""

    open_by_severity: dict[str, int]
    alert_events: int
    notifications: dict[str, int]
    page_lags: list[float]
    times_to_resolve: list[float]


def live_state(session: Session) -> LiveState:
    """Return what is open and what was sent, as of now (drills left out of incidents)."""
    counts: dict[str, int] = {}
    for severity, n in session.execute(
        select(Incident.severity, func.count())
        .where(
            Incident.status.in_([s.value for s in IncidentStatus if s.is_open]),
            Incident.is_drill.is_(False),
        )
        .group_by(Incident.severity)
    ):
        counts[severity] = int(n)
    open_by_severity = {
        level.name: counts.get(level.name, 0) for level in severities.scale(session).levels
    }
    events = int(session.scalar(select(func.coalesce(func.sum(Alert.count), 0))) or 0)
    notifications = {
        status: int(n)
        for status, n in session.execute(
            select(Notification.status, func.count()).group_by(Notification.status)
        )
    }
    lags = [
        (sent - due).total_seconds()
        for sent, due in session.execute(
            select(Notification.sent_at, Notification.due_at).where(
                Notification.sent_at.is_not(None), Notification.kind == "page"
            )
        )
        if sent is not None
    ]
    resolved = [
        (r - d).total_seconds()
        for d, r in session.execute(
            select(Incident.detected_at, Incident.resolved_at).where(
                Incident.resolved_at.is_not(None), Incident.is_drill.is_(False)
            )
        )
        if r is not None
    ]
    return LiveState(open_by_severity, events, notifications, lags, resolved)
