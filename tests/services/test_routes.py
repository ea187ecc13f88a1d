"""Label routes: one integration's alerts split by their labels, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.conftest import T0
from tocsin import config
from tocsin.core.alerts import AlertAction, AlertEvent, AlertSeverity, Outcome, RouteAction
from tocsin.errors import InvalidInput
from tocsin.services import alerts, config_export, incidents
from tocsin.services import config_apply as applier
from tocsin.store import integrations
from tocsin.store.models import Alert, Escalation, EscalationPolicy, Integration

CONFIG = """
users:
  - {handle: alice}
services:
  - slug: platform
    routes:
      - {match: '{env=~"dev|test"}', drop: true}
      - {match: '{team="db"}', service: database}
      - {match: 'alertname="Watchdog"', severity: SEV-4, continue: true}
      - {match: ['alertname=~"Watch.*"'], service: meta}
  - {slug: database}
  - {slug: meta}
"""


@pytest.fixture
def hook(session: Session) -> Integration:
    applier.apply(session, config.parse(CONFIG, "tocsin.yaml"), now=T0)
    integration, _ = integrations.create(session, service="platform", type="alertmanager", now=T0)
    return integration


def firing(key: str, severity: str = "critical", **labels: str) -> AlertEvent:
    return AlertEvent(
        AlertAction.TRIGGER,
        key,
        summary=f"{key} firing",
        severity=AlertSeverity(severity),
        raw_severity=severity,
        details={"labels": {"alertname": key, "severity": severity, **labels}, "annotations": {}},
    )


def placed(session: Session, key: str) -> tuple[str, str, str | None, str | None]:
    """Return the alert's service, route, severity and incident."""
    alert = session.query(Alert).filter_by(dedup_key=key).one()
    incident = incidents.get(session, alert.incident_id) if alert.incident_id else None
    slug = next(s.service.slug for s in incident.services) if incident else None
    return (
        alert.service.slug,
        alert.route,
        incident.severity if incident else alert.sev,
        slug,
    )


def test_labels_send_one_integrations_alerts_to_their_services(
    session: Session, hook: Integration
) -> None:
    results = alerts.ingest(
        session,
        hook,
        [
            firing("PrimaryDown", team="db"),
            firing("DiskFull", team="db", env="dev"),  # dropped before the team route
            firing("Watchdog", "info"),
            firing("HighLatency", "warning"),  # no route: the platform's own rules
            firing("CheckoutErrors"),
        ],
        now=T0,
    )
    assert [r.outcome for r in results] == [Outcome.OPENED] * 5
    assert placed(session, "PrimaryDown") == ("database", "incident", "SEV-1", "database")
    assert placed(session, "DiskFull") == ("platform", RouteAction.ALERT.value, None, None)
    # the first route set the severity, the continued one the service
    assert placed(session, "Watchdog") == ("meta", "incident", "SEV-4", "meta")
    # a warning attaches only to an open incident, and the platform has none yet
    assert placed(session, "HighLatency") == ("platform", "attach", "SEV-3", None)
    assert placed(session, "CheckoutErrors") == ("platform", "incident", "SEV-1", "platform")
    assert {i.title for i in incidents.list_(session)} == {
        "PrimaryDown firing",
        "Watchdog firing",
        "CheckoutErrors firing",
    }


def test_a_routed_alert_joins_its_services_open_incident(
    session: Session, hook: Integration
) -> None:
    incidents.declare(
        session, title="DB slow", severity="SEV-2", services=["database"], actor="alice", now=T0
    )
    [result] = alerts.ingest(session, hook, [firing("ReplicaLag", "warning", team="db")], now=T0)
    assert result.incident == "INC-1"
    assert [(e.kind, e.actor) for e in incidents.get(session, "INC-1").events][-1] == (
        "alert_attached",
        "alertmanager:alertmanager",
    )


def test_routes_round_trip_through_export(session: Session, hook: Integration) -> None:
    exported = config_export.export(session)
    [platform] = [s for s in exported["services"] if s["slug"] == "platform"]
    assert platform["routes"] == [
        {"match": ['env=~"dev|test"'], "drop": True},
        {"match": ['team="db"'], "service": "database"},
        {"match": ['alertname="Watchdog"'], "severity": "SEV-4", "continue": True},
        {"match": ['alertname=~"Watch.*"'], "service": "meta"},
    ]
    again = config.parse(config.dump(exported), "tocsin.yaml")
    assert applier.apply(session, again, now=T0).changes == []


def test_every_bad_route_is_named_and_nothing_is_applied(session: Session) -> None:
    bad = """
services:
  - slug: platform
    routes:
      - {match: '{team="db", severity, instance=~"web-["}', service: databse}
      - {match: 'env=prod', severity: SEV-9}
      - {match: 'env=dev', drop: true, service: platform}
"""
    with pytest.raises(InvalidInput) as caught:
        applier.apply(session, config.parse(bad, "tocsin.yaml"), now=T0)
    problems = caught.value.problems
    assert problems == [
        "tocsin.yaml:5: services[0].routes[0].match: 'severity' is not a matcher: write"
        " NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX",
        'tocsin.yaml:5: services[0].routes[0].match: instance=~"web-[": bad regular'
        " expression: unterminated character set at position 4",
        "tocsin.yaml:5: services[0].routes[0].service: unknown service 'databse'",
        "tocsin.yaml:6: services[0].routes[1].severity: unknown severity 'SEV-9'; valid:"
        " SEV-1, SEV-2, SEV-3, SEV-4",
        "tocsin.yaml:7: services[0].routes[2]: a dropped alert goes nowhere: drop takes no"
        " service, severity or policy",
    ]
    assert session.query(Integration).count() == 0
    assert config_export.export(session).get("services", []) == []


def test_a_route_names_the_policy_of_the_incidents_it_opens(session: Session) -> None:
    text = """
users:
  - {handle: alice}
  - {handle: bob}
escalation_policies:
  - {name: platform-oncall, levels: [{targets: ["user:alice"]}]}
  - {name: db-oncall, levels: [{targets: ["user:bob"]}]}
services:
  - slug: platform
    escalation_policy: platform-oncall
    routes:
      - {match: '{team="db"}', policy: db-oncall}
"""
    applier.apply(session, config.parse(text, "tocsin.yaml"), now=T0)
    hook, _ = integrations.create(session, service="platform", type="alertmanager", now=T0)
    alerts.ingest(session, hook, [firing("PrimaryDown", team="db")], now=T0)
    # Without grouping a service has one open incident: resolve it before the next one opens.
    incidents.resolve(session, "INC-1", message="failed over", actor="alice", now=T0)
    alerts.ingest(session, hook, [firing("CheckoutErrors")], now=T0)
    policies = {
        incidents.get(session, row.incident_id).title: session.get(
            EscalationPolicy, row.policy_id
        ).name
        for row in session.query(Escalation)
    }
    # the route's policy for the incident it opened; the service's for the one it did not route
    assert policies == {
        "PrimaryDown firing": "db-oncall",
        "CheckoutErrors firing": "platform-oncall",
    }
    paged = [e.message for e in incidents.get(session, "INC-1").events if e.kind == "notified"]
    assert paged[0].startswith("Paging bob (db-oncall level 1")
    bad = text.replace("policy: db-oncall", "policy: nobody-oncall")
    with pytest.raises(InvalidInput, match=r"routes\[0\]\.policy: unknown escalation policy"):
        applier.apply(session, config.parse(bad, "tocsin.yaml"), now=T0)


def test_prune_keeps_a_policy_that_a_stored_route_names(session: Session) -> None:
    text = """
users:
  - {handle: bob}
escalation_policies:
  - {name: db-oncall, levels: [{targets: ["user:bob"]}]}
services:
  - slug: platform
    routes: [{match: 'team=db', policy: db-oncall}]
"""
    applier.apply(session, config.parse(text, "tocsin.yaml"), now=T0)
    only_policies = 'escalation_policies:\n  - {name: other, levels: [{targets: ["user:bob"]}]}\n'
    with pytest.raises(InvalidInput) as caught:
        applier.apply(session, config.parse(only_policies, "tocsin.yaml"), now=T0, prune=True)
    assert caught.value.problems == [
        "tocsin.yaml:1: escalation_policies: --prune cannot delete escalation policy "
        "'db-oncall': service platform, which the file does not describe, still names it"
    ]
