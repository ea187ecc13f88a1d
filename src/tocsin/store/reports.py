"""Response metrics from the stored milestones, and the Prometheus view of the live state."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tocsin.core import metrics
from tocsin.core.incident import IncidentStatus
from tocsin.store import services as services_store
from tocsin.store import severities
from tocsin.store.models import Alert, Incident, IncidentService, Notification

MTTR_BUCKETS = (300.0, 900.0, 1800.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 24 * 3600.0)
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0)


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


class StateCollector(Collector):
    """Prometheus metrics read from the database at each scrape (every node reports the same)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def collect(self) -> Iterator[Any]:
        """Yield the metric families."""
        with self._sessions() as session:
            open_by_sev = GaugeMetricFamily(
                "tocsin_open_incidents",
                "Incidents not yet resolved, by severity",
                labels=["severity"],
            )
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
            for level in severities.scale(session).levels:
                open_by_sev.add_metric([level.name], float(counts.get(level.name, 0)))
            yield open_by_sev

            ingested = CounterMetricFamily(
                "tocsin_alert_events", "Alert events ingested (repeats included)"
            )
            ingested.add_metric(
                [], float(session.scalar(select(func.coalesce(func.sum(Alert.count), 0))) or 0)
            )
            yield ingested

            notified = CounterMetricFamily(
                "tocsin_notifications", "Notifications by outcome", labels=["status"]
            )
            for status, n in session.execute(
                select(Notification.status, func.count()).group_by(Notification.status)
            ):
                notified.add_metric([status], float(n))
            yield notified

            lags = [
                (sent - due).total_seconds()
                for sent, due in session.execute(
                    select(Notification.sent_at, Notification.due_at).where(
                        Notification.sent_at.is_not(None), Notification.kind == "page"
                    )
                )
                if sent is not None
            ]
            yield _histogram(
                "tocsin_page_lag_seconds",
                "From a page falling due to it being sent",
                lags,
                LAG_BUCKETS,
            )
            resolved = [
                (r - d).total_seconds()
                for d, r in session.execute(
                    select(Incident.detected_at, Incident.resolved_at).where(
                        Incident.resolved_at.is_not(None), Incident.is_drill.is_(False)
                    )
                )
                if r is not None
            ]
            yield _histogram(
                "tocsin_time_to_resolve_seconds",
                "Detection to resolution of resolved incidents",
                resolved,
                MTTR_BUCKETS,
            )


def _histogram(
    name: str, text: str, values: list[float], buckets: tuple[float, ...]
) -> HistogramMetricFamily:
    cumulative = [(str(b), float(sum(1 for v in values if v <= b))) for b in buckets]
    cumulative.append(("+Inf", float(len(values))))
    family = HistogramMetricFamily(name, text)
    family.add_metric([], cumulative, sum_value=sum(values))
    return family
