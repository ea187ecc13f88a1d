"""Dedup, routing into incidents, maintenance and heartbeats, on both databases."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from tests.conftest import T0, People
from tocsin.core.alerts import AlertAction, AlertEvent, AlertSeverity, Outcome, normalize_severity
from tocsin.core.incident import incident_ref
from tocsin.core.severity import Severity
from tocsin.errors import Conflict, InvalidInput, Unauthenticated
from tocsin.ingest import alertmanager
from tocsin.services import alerts, heartbeats, incidents
from tocsin.services.ingest import Submission, ingest_many
from tocsin.store import integrations, services, severities
from tocsin.store.integrations import IntegrationType
from tocsin.store.models import Integration

MIN = timedelta(minutes=1)


def trigger(key: str, severity: str = "critical", summary: str | None = None) -> AlertEvent:
    """Return a trigger whose sender said `severity`, read as every parser reads it."""
    return AlertEvent(
        AlertAction.TRIGGER,
        key,
        summary=summary or f"{key} is down",
        severity=normalize_severity(severity),
        raw_severity=severity,
    )


def resolve(key: str) -> AlertEvent:
    return AlertEvent(AlertAction.RESOLVE, key)


def ack(key: str) -> AlertEvent:
    return AlertEvent(AlertAction.ACKNOWLEDGE, key)


@pytest.fixture
def hook(session: Session, people: People) -> Integration:
    integration, _ = integrations.create(session, service="api-gateway", type="generic", now=T0)
    return integration


def kinds(session: Session, ref: str) -> list[tuple[str, str]]:
    return [(e.kind, e.message) for e in incidents.get(session, ref).events]


def test_a_critical_alert_declares_an_incident(session: Session, hook: Integration) -> None:
    [result] = alerts.ingest(session, hook, [trigger("db", summary="DB primary down")], now=T0)
    assert (result.outcome, result.incident) == (Outcome.OPENED, "INC-1")
    incident = incidents.get(session, "INC-1")
    assert (incident.title, incident.severity, incident.created_by) == (
        "DB primary down",
        "SEV-1",
        "generic:generic",
    )
    assert incident.detection == "generic alert via generic: DB primary down"
    assert kinds(session, "INC-1")[-1] == (
        "alert_attached",
        "Alert triggered: DB primary down [critical] via generic (generic)",
    )


def test_repeats_count_and_page_nobody(session: Session, hook: Integration) -> None:
    alerts.ingest(session, hook, [trigger("db")], now=T0)
    results = alerts.ingest(session, hook, [trigger("db"), trigger("db")], now=T0 + MIN)
    assert [r.outcome for r in results] == [Outcome.REPEATED, Outcome.REPEATED]
    [alert] = alerts.list_(session)
    assert (alert.count, alert.first_seen, alert.last_seen) == (3, T0, T0 + MIN)
    assert len(incidents.list_(session)) == 1
    assert kinds(session, "INC-1")[-1] == ("alert_repeated", "Alert repeated (x3): db is down")


def test_trigger_after_resolve_opens_a_new_alert(session: Session, hook: Integration) -> None:
    alerts.ingest(session, hook, [trigger("db"), resolve("db")], now=T0)
    [again] = alerts.ingest(session, hook, [trigger("db")], now=T0 + MIN)
    assert again.outcome is Outcome.OPENED
    assert [a.status for a in alerts.list_(session)] == ["triggered", "resolved"]


def test_ack_and_resolve_of_unknown_keys_are_ignored(session: Session, hook: Integration) -> None:
    results = alerts.ingest(session, hook, [ack("ghost"), resolve("ghost")], now=T0)
    assert [r.outcome for r in results] == [Outcome.IGNORED, Outcome.IGNORED]
    assert alerts.list_(session) == []


def test_acknowledge_then_resolve(session: Session, hook: Integration) -> None:
    alerts.ingest(session, hook, [trigger("db")], now=T0)
    results = alerts.ingest(session, hook, [ack("db"), ack("db"), resolve("db")], now=T0 + MIN)
    assert [r.outcome for r in results] == [
        Outcome.ACKNOWLEDGED,
        Outcome.IGNORED,
        Outcome.RESOLVED,
    ]
    [alert] = alerts.list_(session)
    assert (alert.acknowledged_at, alert.resolved_at) == (T0 + MIN, T0 + MIN)


def test_all_alerts_resolved_says_so_but_the_incident_stays_open(
    session: Session, hook: Integration
) -> None:
    alerts.ingest(session, hook, [trigger("a"), trigger("b", "error")], now=T0)
    alerts.ingest(session, hook, [resolve("a")], now=T0 + MIN)
    assert kinds(session, "INC-1")[-1] == ("alert_resolved", "Alert resolved: a is down")
    alerts.ingest(session, hook, [resolve("b")], now=T0 + 2 * MIN)
    assert kinds(session, "INC-1")[-1] == (
        "alerts_resolved",
        "All alerts resolved; the incident stays open until a person resolves it",
    )
    assert incidents.get(session, "INC-1").status == "detected"


@pytest.mark.parametrize(
    ("severity", "sev", "route", "incident"),
    [
        pytest.param("critical", "SEV-1", "incident", "INC-1", id="critical"),
        pytest.param("error", "SEV-2", "incident", "INC-1", id="error"),
        pytest.param("warning", "SEV-3", "attach", None, id="warning-no-open-incident"),
        pytest.param("info", None, "alert", None, id="info"),
        pytest.param("bogus", "SEV-2", "incident", "INC-1", id="unknown-is-error"),
    ],
)
def test_default_routing(
    session: Session,
    hook: Integration,
    severity: str,
    sev: str | None,
    route: str,
    incident: str | None,
) -> None:
    [result] = alerts.ingest(session, hook, [trigger("x", severity)], now=T0)
    [alert] = alerts.list_(session)
    assert (alert.sev, alert.route, result.incident) == (sev, route, incident)
    assert (alert.severity, alert.raw_severity) == (normalize_severity(severity), severity)


def test_an_unknown_label_value_is_stored_as_error_with_the_senders_word(
    session: Session, people: People
) -> None:
    _, key = integrations.create(session, service="api-gateway", type="alertmanager", now=T0)
    body = {
        "version": "4",
        "alerts": [
            {"status": "firing", "fingerprint": "f", "labels": {"severity": "Disaster"}},
            {"status": "firing", "fingerprint": "g", "labels": {"severity": "P4"}},
        ],
    }
    [results] = ingest_many(
        session,
        [Submission(key, None, alertmanager.parse(body))],
        now=T0,
    )
    assert not isinstance(results, Exception)
    assert [(r.dedup_key, r.incident) for r in results] == [("f", "INC-1"), ("g", None)]
    stored = {a.dedup_key: (a.severity, a.raw_severity, a.sev) for a in alerts.list_(session)}
    assert stored == {"f": ("error", "Disaster", "SEV-2"), "g": ("info", "P4", None)}
    assert incidents.get(session, "INC-1").severity == "SEV-2"


def p_scale(count: int) -> list[Severity]:
    """Return a scale of `count` levels named P1, P2, ... (no SEV-n among them)."""
    return [
        Severity(f"P{rank}", rank, f"priority {rank}", timedelta(minutes=5 * rank))
        for rank in range(1, count + 1)
    ]


def test_default_routing_goes_by_rank_on_a_scale_of_other_names(
    session: Session, hook: Integration, caplog: pytest.LogCaptureFixture
) -> None:
    severities.replace_all(session, p_scale(4))
    caplog.set_level(logging.WARNING, logger="tocsin")
    [error] = alerts.ingest(session, hook, [trigger("latency", "error")], now=T0)
    assert error.incident == "INC-1"
    assert incidents.get(session, "INC-1").severity == "P2"
    [warning] = alerts.ingest(session, hook, [trigger("disk", "warning")], now=T0 + MIN)
    assert warning.incident == "INC-1"
    assert incidents.get(session, "INC-1").severity == "P2"  # a warning does not upgrade
    alerts.ingest(session, hook, [trigger("down", "critical")], now=T0 + 2 * MIN)
    assert incidents.get(session, "INC-1").severity == "P1"
    assert kinds(session, "INC-1")[-1] == (
        "severity_changed",
        "Severity upgraded from P2 to P1: a critical alert arrived: down is down",
    )
    assert [(a.dedup_key, a.sev, a.route) for a in alerts.list_(session)] == [
        ("down", "P1", "incident"),
        ("disk", "P3", "attach"),
        ("latency", "P2", "incident"),
    ]
    assert [r.getMessage() for r in caplog.records] == []


@pytest.mark.parametrize(
    ("severity", "level"),
    [
        pytest.param("critical", "P1", id="critical"),
        pytest.param("error", "P2", id="error"),
        pytest.param("bogus", "P2", id="unknown-is-error"),
    ],
)
def test_a_critical_or_error_alert_opens_at_its_rank_on_another_scale(
    session: Session,
    hook: Integration,
    caplog: pytest.LogCaptureFixture,
    severity: str,
    level: str,
) -> None:
    severities.replace_all(session, p_scale(5))
    caplog.set_level(logging.WARNING, logger="tocsin")
    [result] = alerts.ingest(session, hook, [trigger("x", severity)], now=T0)
    assert incidents.get(session, result.incident or "").severity == level
    assert [r.getMessage() for r in caplog.records] == []


def test_a_two_level_scale_lends_its_lower_level_to_warnings(
    session: Session, hook: Integration
) -> None:
    severities.replace_all(session, p_scale(2))
    alerts.ingest(session, hook, [trigger("latency", "error")], now=T0)
    [warning] = alerts.ingest(session, hook, [trigger("disk", "warning")], now=T0 + MIN)
    assert warning.incident == "INC-1"
    assert alerts.get(session, warning.alert_id or 0).sev == "P2"


def test_warnings_attach_to_the_open_incident_and_critical_upgrades_it(
    session: Session, hook: Integration
) -> None:
    alerts.ingest(session, hook, [trigger("latency", "error")], now=T0)
    [warning] = alerts.ingest(session, hook, [trigger("disk", "warning")], now=T0 + MIN)
    assert warning.incident == "INC-1"
    alerts.ingest(session, hook, [trigger("down", "critical")], now=T0 + 2 * MIN)
    assert incidents.get(session, "INC-1").severity == "SEV-1"
    assert kinds(session, "INC-1")[-1] == (
        "severity_changed",
        "Severity upgraded from SEV-2 to SEV-1: a critical alert arrived: down is down",
    )
    assert len(incidents.list_(session)) == 1


def test_service_rules_and_ic_policy(session: Session, people: People) -> None:
    service = services.get_by_slug(session, "api-gateway")
    services.update(
        session,
        service,
        alert_rules=[
            {"severity": "P4", "sev": "SEV-4", "action": "incident"},
            {"severity": "warning", "sev": "SEV-2", "action": "incident"},
            {"action": "alert"},
        ],
        incident_commander="user:carol",
    )
    hook, _ = integrations.create(session, service="api-gateway", type="opsgenie", now=T0)
    p4 = AlertEvent(AlertAction.TRIGGER, "a", summary="minor", severity="info", raw_severity="P4")
    [result] = alerts.ingest(session, hook, [p4], now=T0)
    incident = incidents.get(session, result.incident or "")
    assert incident.severity == "SEV-4"
    assert incidents.commander_of(incident).handle == "carol"  # type: ignore[union-attr]
    # A commander picked by the policy has not answered the page: nothing is acknowledged.
    assert incident.acknowledged_at is None
    assert "acknowledged" not in [kind for kind, _ in kinds(session, incident_ref(incident.number))]
    [other] = alerts.ingest(session, hook, [trigger("b", "critical")], now=T0)
    assert alerts.get(session, other.alert_id or 0).route == "alert"  # no rule for critical
    with pytest.raises(InvalidInput) as caught:
        services.update(
            session,
            service,
            alert_rules=[{"sev": "SEV-9", "action": "page"}],
            incident_commander="team:x",
        )
    assert caught.value.problems == [
        "alert_rules[0].action: unknown action 'page'; valid: incident, attach, alert",
        "incident_commander: 'team:x' must be user:HANDLE or schedule:NAME",
    ]


def test_maintenance_records_but_pages_nobody(session: Session, hook: Integration) -> None:
    window = alerts.add_maintenance(
        session,
        service="api-gateway",
        start=T0,
        end=T0 + 60 * MIN,
        reason="db upgrade",
        actor="alice",
        now=T0,
    )
    [during] = alerts.ingest(session, hook, [trigger("db")], now=T0 + MIN)
    assert (during.outcome, during.incident) == (Outcome.OPENED, None)
    assert alerts.get(session, during.alert_id or 0).suppressed
    assert incidents.list_(session) == []
    alerts.end_maintenance(session, window.id, now=T0 + 2 * MIN)
    [after] = alerts.ingest(session, hook, [trigger("other")], now=T0 + 3 * MIN)
    assert after.incident == "INC-1"
    timeline = alerts.service_timeline(session, "api-gateway")
    assert timeline[0].summary == (
        "Maintenance 2024-06-20 10:30 to 2024-06-20 11:30 UTC: db upgrade"
    )
    with pytest.raises(InvalidInput, match="must end after it starts"):
        alerts.add_maintenance(session, service="api-gateway", start=T0, end=T0, actor="a", now=T0)


def test_people_ack_and_resolve_alerts(session: Session, hook: Integration) -> None:
    [r] = alerts.ingest(session, hook, [trigger("db")], now=T0)
    alerts.acknowledge(session, r.alert_id or 0, actor="bob", now=T0 + MIN)
    with pytest.raises(Conflict, match="only a triggered alert can be acknowledged"):
        alerts.acknowledge(session, r.alert_id or 0, actor="bob", now=T0 + MIN)
    alerts.resolve(session, r.alert_id or 0, actor="bob", now=T0 + 2 * MIN)
    with pytest.raises(Conflict, match="already resolved"):
        alerts.resolve(session, r.alert_id or 0, actor="bob", now=T0)
    # Bob acknowledged the incident's only open alert: he has the incident, as in PagerDuty.
    assert kinds(session, "INC-1")[-4:] == [
        ("alert_acknowledged", "Alert acknowledged by bob: db is down"),
        ("acknowledged", "Acknowledged by bob"),
        ("alert_resolved", "Alert resolved: db is down"),
        (
            "alerts_resolved",
            "All alerts resolved; the incident stays open until a person resolves it",
        ),
    ]


def test_integration_keys_are_shown_once_and_stored_hashed(
    session: Session, people: People
) -> None:
    integration, key = integrations.create(
        session, service="api-gateway", type="pagerduty", name="pd", now=T0
    )
    assert len(key) == 32 and key not in integration.key_hash
    assert integrations.authenticate(session, key).id == integration.id
    with pytest.raises(Unauthenticated, match="unknown integration key"):
        integrations.authenticate(session, "0" * 32)
    with pytest.raises(InvalidInput, match="belongs to a pagerduty integration, not opsgenie"):
        integrations.authenticate(session, key, expect=IntegrationType.OPSGENIE)
    with pytest.raises(Conflict, match="already has an integration named 'pd'"):
        integrations.create(session, service="api-gateway", type="generic", name="pd", now=T0)
    with pytest.raises(InvalidInput) as caught:
        integrations.create(session, service="api-gateway", type="smoke-signal", now=T0)
    assert "valid: alertmanager, pagerduty, opsgenie, generic, heartbeat" in str(caught.value)
    with pytest.raises(InvalidInput, match="a heartbeat needs an interval"):
        integrations.create(session, service="api-gateway", type="heartbeat", now=T0)


def test_heartbeats_open_an_alert_when_missed_and_resolve_on_the_next_ping(
    session: Session, people: People
) -> None:
    beat, _ = integrations.create(
        session, service="api-gateway", type="heartbeat", name="backup", interval=5 * MIN, now=T0
    )
    assert heartbeats.next_due(session) == T0 + 5 * MIN
    heartbeats.ping(session, beat, now=T0 + 4 * MIN)
    assert heartbeats.missed(session, now=T0 + 8 * MIN) == []
    [missed] = heartbeats.missed(session, now=T0 + 9 * MIN)
    assert missed.outcome is Outcome.OPENED
    alert = alerts.get(session, missed.alert_id or 0)
    assert alert.summary == (
        "Heartbeat backup of api-gateway missed: no ping since 2024-06-20 10:34:00 UTC "
        "(expected every 5 min)"
    )
    assert alert.route == "incident" and missed.incident == "INC-1"
    assert heartbeats.missed(session, now=T0 + 20 * MIN) == []  # fired once
    [back] = heartbeats.ping(session, beat, now=T0 + 21 * MIN)
    assert back.outcome is Outcome.RESOLVED
    assert heartbeats.next_due(session) == T0 + 26 * MIN


def test_a_rule_naming_a_removed_severity_still_pages_at_the_top(
    session: Session, people: People
) -> None:
    from tocsin.core.severity import DEFAULT_SEVERITIES
    from tocsin.store import severities

    service = services.get_by_slug(session, "api-gateway")
    services.update(session, service, alert_rules=[{"sev": "SEV-4", "action": "incident"}])
    # The scale changes after the rule was written: SEV-4 is gone.
    severities.replace_all(session, [s for s in DEFAULT_SEVERITIES if s.name != "SEV-4"])
    hook, _ = integrations.create(session, service="api-gateway", type="generic", now=T0)
    [result] = alerts.ingest(session, hook, [trigger("disk", "warning")], now=T0)
    assert result.incident is not None  # the alert opened an incident instead of failing
    assert incidents.get(session, result.incident).severity == "SEV-1"
    assert alerts.get(session, result.alert_id or 0).severity == AlertSeverity.WARNING
