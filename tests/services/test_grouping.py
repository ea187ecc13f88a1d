"""Grouping and flap suppression: which alerts share an incident, and when a group opens one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import T0
from tocsin import config
from tocsin.core.alerts import AlertAction, AlertEvent, AlertSeverity
from tocsin.errors import InvalidInput
from tocsin.schemas import ServiceOut
from tocsin.services import alerts, config_export, incidents
from tocsin.services import config_apply as applier
from tocsin.services.ingest import HELD
from tocsin.store import integrations, services
from tocsin.store.models import Alert, IncidentService, Integration

GROUPED = """
services:
  - slug: database
    group_by: [cluster, alertname]
    group_window: 10m
"""


def hook_for(session: Session, text: str) -> Integration:
    applier.apply(session, config.parse(text, "tocsin.yaml"), now=T0)
    integration, _ = integrations.create(session, service="database", type="alertmanager", now=T0)
    return integration


def event(name: str, cluster: str, instance: str = "1", action: str = "trigger") -> AlertEvent:
    labels = {"alertname": name, "cluster": cluster, "instance": instance, "severity": "critical"}
    return AlertEvent(
        AlertAction(action),
        f"{name}/{cluster}/{instance}",
        summary=f"{name} in {cluster} on {instance}",
        severity=AlertSeverity.CRITICAL,
        raw_severity="critical",
        details={"labels": labels},
    )


# (minute, alertname, cluster, instance) -> the incident the alert lands in
Step = tuple[int, str, str, str, str]


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        pytest.param(
            GROUPED,
            [
                (0, "Down", "eu", "1", "INC-1"),
                (1, "Down", "eu", "2", "INC-1"),
                (2, "Down", "us", "1", "INC-2"),
                (3, "Lag", "eu", "1", "INC-3"),
            ],
            id="equal group labels share an incident, others open their own",
        ),
        pytest.param(
            GROUPED,
            [
                (0, "Down", "eu", "1", "INC-1"),
                (8, "Down", "eu", "2", "INC-1"),
                (16, "Down", "eu", "3", "INC-1"),
                (24, "Down", "eu", "4", "INC-1"),
                (35, "Down", "eu", "5", "INC-2"),
                (36, "Down", "eu", "6", "INC-2"),
            ],
            id="the window rolls with each alert that joins; past it, a new incident",
        ),
        pytest.param(
            GROUPED.replace("    group_window: 10m\n", ""),
            [
                (0, "Down", "eu", "1", "INC-1"),
                (300, "Down", "eu", "2", "INC-1"),
                (301, "Down", "us", "1", "INC-2"),
            ],
            id="without a window the open incident takes its group's alerts",
        ),
        pytest.param(
            "services:\n  - slug: database\n",
            [
                (0, "Down", "eu", "1", "INC-1"),
                (1, "Down", "us", "1", "INC-1"),
                (300, "Lag", "ap", "1", "INC-1"),
            ],
            id="without group_by one open incident per service, as before",
        ),
        pytest.param(
            "services:\n  - slug: database\n    group_window: 10m\n",
            [
                (0, "Down", "eu", "1", "INC-1"),
                (5, "Lag", "us", "1", "INC-1"),
                (16, "Down", "ap", "1", "INC-2"),
            ],
            id="a window without group_by: the service is one group",
        ),
    ],
)
def test_grouping(session: Session, text: str, steps: list[Step]) -> None:
    hook = hook_for(session, text)
    for minute, name, cluster, instance, expected in steps:
        now = T0 + timedelta(minutes=minute)
        [result] = alerts.ingest(session, hook, [event(name, cluster, instance)], now=now)
        assert (minute, result.incident) == (minute, expected)


def test_one_batch_splits_by_group_and_the_incident_says_its_group(session: Session) -> None:
    hook = hook_for(session, GROUPED)
    results = alerts.ingest(
        session,
        hook,
        [event("Down", "eu", "1"), event("Down", "us", "1"), event("Down", "eu", "2")],
        now=T0,
    )
    assert [r.incident for r in results] == ["INC-1", "INC-2", "INC-1"]
    first = incidents.get(session, "INC-1")
    assert first.events[0].message == (
        "Incident declared: Down in eu on 1 (SEV-1 on database, alert group "
        '{cluster="eu",alertname="Down"})'
    )
    links = session.scalars(select(IncidentService.group_key).order_by(IncidentService.incident_id))
    assert list(links) == ['{cluster="eu",alertname="Down"}', '{cluster="us",alertname="Down"}']


def test_a_resolved_incident_takes_no_more_alerts_of_its_group(session: Session) -> None:
    hook = hook_for(session, GROUPED)
    alerts.ingest(session, hook, [event("Down", "eu")], now=T0)
    incidents.resolve(session, "INC-1", message="fixed", actor="alice", now=T0)
    [again] = alerts.ingest(session, hook, [event("Down", "eu", "2")], now=T0)
    assert again.incident == "INC-2"


FLAPPING = """
services:
  - slug: database
    group_by: [cluster]
    open_after: {count: 3, within: 5m}
    flap_window: 10m
"""


def test_a_group_opens_its_incident_at_the_count_with_every_held_alert(
    session: Session,
) -> None:
    hook = hook_for(session, FLAPPING)
    first = alerts.ingest(session, hook, [event("Down", "eu", "1")], now=T0)
    second = alerts.ingest(
        session, hook, [event("Down", "eu", "2"), event("Down", "us", "1")], now=T0
    )
    assert [r.incident for r in [*first, *second]] == [None, None, None]
    assert incidents.list_(session) == []
    held = session.scalars(select(Alert.route).order_by(Alert.id))
    assert list(held) == [HELD, HELD, HELD]
    [third] = alerts.ingest(session, hook, [event("Lag", "eu", "3")], now=T0 + timedelta(minutes=4))
    assert third.incident == "INC-1"
    incident = incidents.get(session, "INC-1")
    attached = [e.message for e in incident.events if e.kind == "alert_attached"]
    assert attached == [
        "Alert triggered: Down in eu on 1 [critical]; held until its group reached open_after",
        "Alert triggered: Down in eu on 2 [critical]; held until its group reached open_after",
        "Alert triggered: Lag in eu on 3 [critical] via alertmanager (alertmanager); 3rd alert"
        " of its group within 5m: open_after reached",
    ]
    rows = session.execute(select(Alert.dedup_key, Alert.route, Alert.incident_id)).all()
    assert sorted((key, route, bool(i)) for key, route, i in rows) == [
        ("Down/eu/1", "incident", True),
        ("Down/eu/2", "incident", True),
        ("Down/us/1", HELD, False),
        ("Lag/eu/3", "incident", True),
    ]
    # the other group is still counting
    [us] = alerts.ingest(session, hook, [event("Lag", "us", "2")], now=T0 + timedelta(minutes=4))
    assert us.incident is None


def test_alerts_spread_wider_than_the_time_open_nothing(session: Session) -> None:
    hook = hook_for(session, FLAPPING)
    for minute, instance in [(0, "1"), (3, "2"), (6, "3"), (9, "4")]:
        [result] = alerts.ingest(
            session, hook, [event("Down", "eu", instance)], now=T0 + timedelta(minutes=minute)
        )
        assert result.incident is None, minute
    [opened] = alerts.ingest(
        session, hook, [event("Down", "eu", "5")], now=T0 + timedelta(minutes=10)
    )
    assert opened.incident == "INC-1"


def flap(session: Session, hook: Integration, times: int) -> list[str | None]:
    seen = []
    for i in range(times):
        at = T0 + timedelta(minutes=i)
        [fired] = alerts.ingest(session, hook, [event("Down", "eu")], now=at)
        seen.append(fired.incident)
        if fired.incident is None:
            resolve = event("Down", "eu", action="resolve")
            alerts.ingest(session, hook, [resolve], now=at + timedelta(seconds=30))
    return seen


def test_one_flapping_alert_counts_once(session: Session) -> None:
    hook = hook_for(session, FLAPPING)
    assert flap(session, hook, 5) == [None] * 5
    assert incidents.list_(session) == []


def test_without_a_flap_window_each_firing_counts(session: Session) -> None:
    hook = hook_for(session, FLAPPING.replace("    flap_window: 10m\n", ""))
    assert flap(session, hook, 3) == [None, None, "INC-1"]


def test_grouping_round_trips_and_bad_settings_are_all_named(session: Session) -> None:
    hook_for(session, FLAPPING.replace("group_by: [cluster]", "group_by: [cluster, alertname]"))
    [database] = config_export.export(session)["services"]
    assert {k: database[k] for k in ("group_by", "open_after", "flap_window")} == {
        "group_by": ["cluster", "alertname"],
        "open_after": {"count": 3, "within": "5m"},
        "flap_window": "10m",
    }
    shape = ServiceOut.of(services.get_by_slug(session, "database")).model_dump()
    assert {k: shape[k] for k in ("group_by", "group_window", "open_after", "flap_window")} == {
        "group_by": ["cluster", "alertname"],
        "group_window": None,
        "open_after": {"count": 3, "within": "5m"},
        "flap_window": "10m",
    }
    again = config.parse(config.dump(config_export.export(session)), "tocsin.yaml")
    assert applier.apply(session, again, now=T0).changes == []
    bad = """
services:
  - slug: database
    group_by: [cluster, 9lives, cluster]
    group_window: soon
    open_after: {count: 0, within: 0m}
  - slug: web
    flap_window: 10m
"""
    with pytest.raises(InvalidInput) as caught:
        applier.apply(session, config.parse(bad, "tocsin.yaml"), now=T0)
    assert [p.split(": ", 2)[:2] for p in caught.value.problems] == [
        ["tocsin.yaml:4", "services[0].group_by[1]"],
        ["tocsin.yaml:4", "services[0].group_by"],
        ["tocsin.yaml:6", "services[0].open_after.count"],
        ["tocsin.yaml:5", "services[0].group_window"],
        ["tocsin.yaml:6", "services[0].open_after.within"],
        ["tocsin.yaml:8", "services[1].flap_window"],
    ]
    [database] = config_export.export(session)["services"]
    assert database["group_by"] == ["cluster", "alertname"]  # nothing changed


HELD_PAIR = """
services:
  - slug: database
    group_by: [cluster]
    open_after: {count: 2, within: 5m}
    flap_window: 10m
"""


def test_a_held_alert_resolved_in_the_batch_that_opens_joins_only_if_it_fires_again(
    session: Session,
) -> None:
    hook = hook_for(session, HELD_PAIR)
    alerts.ingest(session, hook, [event("Down", "eu", "1"), event("Down", "us", "1")], now=T0)
    later = T0 + timedelta(minutes=1)
    # eu/1 resolves and fires again, eu/2 reaches the count: eu/1 joins once, as the new alert
    out = alerts.ingest(
        session,
        hook,
        [
            event("Down", "eu", "1", action="resolve"),
            event("Down", "eu", "1"),
            event("Down", "eu", "2"),
        ],
        now=later,
    )
    assert out[2].incident == "INC-1"
    attached = [e for e in incidents.get(session, "INC-1").events if e.kind == "alert_attached"]
    assert len(attached) == 2
    # us/1 resolves in the batch where us/2 reaches the count: it no longer fires, so stays out
    out = alerts.ingest(
        session,
        hook,
        [event("Down", "us", "1", action="resolve"), event("Down", "us", "2")],
        now=later,
    )
    assert out[1].incident == "INC-2"
    rows = session.execute(
        select(Alert.dedup_key, Alert.status, Alert.route, Alert.incident_id).where(
            Alert.dedup_key == "Down/us/1"
        )
    ).all()
    assert [(r.status, r.route, r.incident_id) for r in rows] == [("resolved", HELD, None)]


def test_a_held_alert_more_severe_than_the_one_that_opens_raises_the_incident(
    session: Session,
) -> None:
    hook = hook_for(session, HELD_PAIR)
    critical = event("Down", "eu", "1")
    error = AlertEvent(
        AlertAction.TRIGGER,
        "Lag/eu/2",
        summary="Lag in eu on 2",
        severity=AlertSeverity.ERROR,
        raw_severity="error",
        details={"labels": {"alertname": "Lag", "cluster": "eu", "severity": "error"}},
    )
    alerts.ingest(session, hook, [critical], now=T0)
    [opened] = alerts.ingest(session, hook, [error], now=T0)
    incident = incidents.get(session, opened.incident or "")
    assert incident.severity == "SEV-1"
    assert any(
        "a held critical alert joined: Down in eu on 1" in e.message for e in incident.events
    )
