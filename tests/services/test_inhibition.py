"""Inhibit rules: while a source alert fires, the alerts it quiets are recorded and page nobody."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.conftest import T0
from tocsin import config
from tocsin.core.alerts import AlertAction, AlertEvent, AlertSeverity
from tocsin.errors import InvalidInput
from tocsin.schemas import ServiceOut
from tocsin.services import alerts, config_export, incidents
from tocsin.services import config_apply as applier
from tocsin.store import integrations, services
from tocsin.store.models import Alert, AlertInhibitKey, Integration

CONFIG = """
services:
  - slug: database
    inhibit_rules:
      - source: '{alertname="NodeDown"}'
        target: ['severity=~"critical|warning"', 'alertname!="NodeDown"']
        equal: [instance]
"""


@pytest.fixture
def hook(session: Session) -> Integration:
    applier.apply(session, config.parse(CONFIG, "tocsin.yaml"), now=T0)
    integration, _ = integrations.create(session, service="database", type="alertmanager", now=T0)
    return integration


def event(
    name: str, instance: str, severity: str = "critical", action: str = "trigger"
) -> AlertEvent:
    return AlertEvent(
        AlertAction(action),
        f"{name}@{instance}",
        summary=f"{name} on {instance}",
        severity=AlertSeverity(severity),
        raw_severity=severity,
        details={"labels": {"alertname": name, "instance": instance, "severity": severity}},
    )


def test_a_firing_source_quiets_its_targets_with_equal_labels(
    session: Session, hook: Integration
) -> None:
    # One webhook group: the node and what its loss causes arrive together.
    alerts.ingest(
        session,
        hook,
        [event("NodeDown", "db-1", "warning"), event("DiskUnreachable", "db-1")],
        now=T0,
    )
    # The NodeDown warning only attaches (there is no incident), and the critical alert that
    # would have declared one is quieted by it: nobody is paged.
    assert incidents.list_(session) == []
    assert session.query(Alert).count() == 2
    # another instance is not quieted
    [other] = alerts.ingest(session, hook, [event("DiskUnreachable", "db-2")], now=T0)
    assert other.incident == "INC-1"
    # once INC-1 is open, a quieted alert attaches to it, says why, and changes nothing
    [quiet] = alerts.ingest(session, hook, [event("ReplicaLag", "db-1")], now=T0)
    assert quiet.incident == "INC-1"
    last = incidents.get(session, "INC-1").events[-1]
    assert last.message == (
        "Alert triggered: ReplicaLag on db-1 [critical] via alertmanager (alertmanager); "
        "inhibited by NodeDown on db-1, it pages nobody"
    )
    assert last.data["inhibited_by"] == "NodeDown on db-1"


def test_a_resolved_source_quiets_nothing(session: Session, hook: Integration) -> None:
    alerts.ingest(session, hook, [event("NodeDown", "db-1", "warning")], now=T0)
    assert session.query(AlertInhibitKey).count() == 1
    alerts.ingest(session, hook, [event("NodeDown", "db-1", "warning", "resolve")], now=T0)
    assert session.query(AlertInhibitKey).count() == 0  # a resolved source keeps no keys
    [loud] = alerts.ingest(session, hook, [event("DiskUnreachable", "db-1")], now=T0)
    assert loud.incident == "INC-1"
    # resolved earlier in the same batch counts as well
    alerts.ingest(session, hook, [event("NodeDown", "db-3", "warning")], now=T0)
    results = alerts.ingest(
        session,
        hook,
        [event("NodeDown", "db-3", "warning", "resolve"), event("DiskUnreachable", "db-3")],
        now=T0,
    )
    assert results[1].incident == "INC-1"
    assert "inhibited" not in incidents.get(session, "INC-1").events[-1].message


def api_shape(session: Session) -> dict[str, object]:
    return ServiceOut.of(services.get_by_slug(session, "database")).model_dump(by_alias=True)


def test_inhibit_rules_round_trip_and_bad_ones_are_named(
    session: Session, hook: Integration
) -> None:
    [database] = config_export.export(session)["services"]
    assert database["inhibit_rules"] == [
        {
            "source": ['alertname="NodeDown"'],
            "target": ['severity=~"critical|warning"', 'alertname!="NodeDown"'],
            "equal": ["instance"],
        }
    ]
    assert api_shape(session)["inhibit_rules"] == database["inhibit_rules"]
    again = config.parse(config.dump(config_export.export(session)), "tocsin.yaml")
    assert applier.apply(session, again, now=T0).changes == []
    bad = CONFIG.replace("'{alertname=\"NodeDown\"}'", "'{alertname=~\"Node(\"}'").replace(
        "[instance]", "[instance, 9lives]"
    )
    with pytest.raises(InvalidInput) as caught:
        applier.apply(session, config.parse(bad, "tocsin.yaml"), now=T0)
    assert [p.split(": ", 2)[1] for p in caught.value.problems] == [
        "services[0].inhibit_rules[0].source",
        "services[0].inhibit_rules[0].equal",
    ]
    assert "bad regular expression" in caught.value.problems[0]
    assert "'9lives' is not a label name" in caught.value.problems[1]


def test_a_rule_added_later_quiets_behind_an_alert_already_firing(session: Session) -> None:
    without = "services:\n  - slug: database\n"
    applier.apply(session, config.parse(without, "tocsin.yaml"), now=T0)
    hook, _ = integrations.create(session, service="database", type="alertmanager", now=T0)
    alerts.ingest(session, hook, [event("NodeDown", "db-1", "warning")], now=T0)
    assert session.query(AlertInhibitKey).count() == 0
    applier.apply(session, config.parse(CONFIG, "tocsin.yaml"), now=T0)
    [quiet] = alerts.ingest(session, hook, [event("DiskUnreachable", "db-1")], now=T0)
    assert quiet.incident is None  # quieted by the NodeDown that fired before the rule
    assert incidents.list_(session) == []
    applier.apply(session, config.parse(without, "tocsin.yaml"), now=T0)
    [loud] = alerts.ingest(session, hook, [event("DiskUnreachable", "db-2")], now=T0)
    assert loud.incident == "INC-1"
    assert session.query(AlertInhibitKey).count() == 0


def test_an_upgrade_files_the_alerts_already_firing(db_url: str) -> None:
    """Alerts quieting others before the inhibit-key table existed keep quieting them."""
    from alembic import command

    from tocsin.store.db import _alembic_config, make_engine, make_sessionmaker, upgrade

    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    with sessions() as session, session.begin():
        applier.apply(session, config.parse(CONFIG, "tocsin.yaml"), now=T0)
        hook, _ = integrations.create(session, service="database", type="alertmanager", now=T0)
        alerts.ingest(session, hook, [event("NodeDown", "db-1", "warning")], now=T0)
    command.downgrade(_alembic_config(engine), "0016")  # before the table
    upgrade(engine)
    with sessions() as session, session.begin():
        assert session.query(AlertInhibitKey).count() == 1
        hook = integrations.list_(session, service="database")[0]
        [quiet] = alerts.ingest(session, hook, [event("DiskUnreachable", "db-1")], now=T0)
        assert quiet.incident is None
    engine.dispose()


def test_two_rules_alike_are_refused_and_a_source_that_flaps_in_one_batch_still_quiets(
    session: Session, hook: Integration
) -> None:
    twice = CONFIG + (
        "      - source: 'alertname=\"NodeDown\"'\n"
        "        target: ['severity=~\"critical|warning\"', 'alertname!=\"NodeDown\"']\n"
        "        equal: [instance]\n"
    )
    with pytest.raises(InvalidInput) as caught:
        applier.apply(session, config.parse(twice, "tocsin.yaml"), now=T0)
    assert caught.value.problems == [
        "tocsin.yaml:8: services[0].inhibit_rules[1]: the same rule as inhibit_rules[0];"
        " write it once"
    ]
    node = event("NodeDown", "db-1", "warning")
    gone = event("NodeDown", "db-1", "warning", "resolve")
    alerts.ingest(session, hook, [node, gone, node], now=T0)
    [firing] = session.query(Alert).filter_by(status="triggered").all()
    assert [k.alert_id for k in session.query(AlertInhibitKey)] == [firing.id]
    [quiet] = alerts.ingest(session, hook, [event("DiskUnreachable", "db-1")], now=T0)
    assert quiet.incident is None
