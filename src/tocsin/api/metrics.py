"""The Prometheus view of the live state, read from the database at each scrape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from tocsin.store import reports

MTTR_BUCKETS = (300.0, 900.0, 1800.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 24 * 3600.0)
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0)


class StateCollector(Collector):
    """Prometheus metrics read from the database at each scrape (every node reports the same)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def collect(self) -> Iterator[Any]:
        """Yield the metric families."""
        with self._sessions() as session:
            state = reports.live_state(session)
        open_by_sev = GaugeMetricFamily(
            "tocsin_open_incidents",
            "Incidents not yet resolved, by severity",
            labels=["severity"],
        )
        for severity, count in state.open_by_severity.items():
            open_by_sev.add_metric([severity], float(count))
        yield open_by_sev
        ingested = CounterMetricFamily(
            "tocsin_alert_events", "Alert events ingested (repeats included)"
        )
        ingested.add_metric([], float(state.alert_events))
        yield ingested
        notified = CounterMetricFamily(
            "tocsin_notifications", "Notifications by outcome", labels=["status"]
        )
        for status, count in state.notifications.items():
            notified.add_metric([status], float(count))
        yield notified
        yield _histogram(
            "tocsin_page_lag_seconds",
            "From a page falling due to it being sent",
            state.page_lags,
            LAG_BUCKETS,
        )
        yield _histogram(
            "tocsin_time_to_resolve_seconds",
            "Detection to resolution of resolved incidents",
            state.times_to_resolve,
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
