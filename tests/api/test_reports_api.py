"""The report and the Prometheus view, over HTTP."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import Api

V1 = "/api/v1"


def _run_incident(api: Api, severity: str, ack_after: int, resolve_after: int) -> None:
    answer = api.client.post(
        f"{V1}/incidents",
        json={"title": "x", "severity": severity, "services": ["api-gateway"]},
        headers=api.writer,
    )
    ref = answer.json()["ref"]
    start = api.clock.now()
    api.clock.set(start + timedelta(minutes=ack_after))
    api.client.post(f"{V1}/incidents/{ref}/acknowledge", headers=api.writer)
    api.clock.set(start + timedelta(minutes=resolve_after))
    api.client.post(f"{V1}/incidents/{ref}/resolve", json={}, headers=api.writer)


def test_report_computes_mtta_and_mttr_from_milestones(api: Api) -> None:
    _run_incident(api, "SEV-1", ack_after=2, resolve_after=12)  # acked in time (5 min)
    _run_incident(api, "SEV-1", ack_after=10, resolve_after=30)  # acked late
    report = api.client.get(f"{V1}/report", params={"since": "all"}, headers=api.reader).json()
    sev1 = report["by_severity"]["SEV-1"]
    assert sev1["count"] == 2
    assert sev1["mtta_seconds"] == 360.0  # (2 + 10) / 2 = 6 min
    assert sev1["mttr_seconds"] == 1260.0  # (12 + 30) / 2 = 21 min
    assert (sev1["within_count"], sev1["judged_count"]) == (1, 2)
    assert report["by_service"]["api-gateway"]["count"] == 2
    assert list(report["by_month"]) == ["2024-06"]


def test_prometheus_metrics(api: Api) -> None:
    _run_incident(api, "SEV-2", ack_after=1, resolve_after=20)
    api.client.post(f"{V1}/incidents", json={"title": "y", "severity": "SEV-1"}, headers=api.writer)
    answer = api.client.get("/metrics", headers=api.admin)
    assert answer.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}
    open_ = {s.labels["severity"]: s.value for s in families["tocsin_open_incidents"].samples}
    assert open_ == {"SEV-1": 1.0, "SEV-2": 0.0, "SEV-3": 0.0, "SEV-4": 0.0}
    resolve = {
        s.name: s.value
        for s in families["tocsin_time_to_resolve_seconds"].samples
        if s.name.endswith(("_count", "_sum"))
    }
    assert resolve == {
        "tocsin_time_to_resolve_seconds_count": 1.0,
        "tocsin_time_to_resolve_seconds_sum": 1200.0,
    }
    assert "tocsin_alert_events" in families and "tocsin_notifications" in families
