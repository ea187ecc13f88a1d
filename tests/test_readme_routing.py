"""The README's routing example, applied and driven by one Alertmanager group, on both databases."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from tests.conftest import T0
from tocsin import config
from tocsin.core.incident import incident_ref
from tocsin.ingest import alertmanager
from tocsin.services import alerts, incidents
from tocsin.services import config_apply as applier
from tocsin.store import integrations
from tocsin.store.models import Alert, Escalation, EscalationPolicy

README = Path(__file__).resolve().parents[1] / "README.md"


def example() -> str:
    section = README.read_text().split("### Label routes", 1)[1]
    found = re.search(r"A worked example.*?```yaml\n(.*?)```", section, re.DOTALL)
    assert found, "the README's routing section lost its worked example"
    return found.group(1)


def firing(name: str, **labels: str) -> dict[str, object]:
    return {
        "status": "firing",
        "fingerprint": f"{name}-{labels.get('instance', '')}-{labels.get('env', '')}",
        "labels": {"alertname": name, "severity": "critical", **labels},
        "annotations": {"summary": f"{name} {labels.get('instance', '')}".strip()},
    }


def test_the_readme_routing_example_pages_as_it_says(session: Session) -> None:
    applier.apply(session, config.parse(example(), "README.md"), now=T0)
    [receiver] = integrations.list_(session, service="platform")
    group = {
        "version": "4",
        "status": "firing",
        "alerts": [
            firing("NodeDown", team="db", instance="db-1", cluster="eu"),
            firing("DiskFull", team="db", instance="db-1", cluster="eu"),
            firing("HighLatency", instance="web-1"),
            firing("DiskFull", team="db", instance="db-9", env="dev"),
            firing("Watchdog", severity="info"),
        ],
    }
    alerts.ingest(session, receiver, alertmanager.parse(group), now=T0)

    opened = {
        (i.title, next(s.service.slug for s in i.services), i.severity)
        for i in incidents.list_(session)
    }
    assert opened == {
        ("NodeDown db-1", "database", "SEV-1"),
        ("HighLatency web-1", "platform", "SEV-1"),
        ("Watchdog", "meta", "SEV-4"),
    }
    policies = {
        incidents.get(session, e.incident_id).title: session.get(EscalationPolicy, e.policy_id).name
        for e in session.query(Escalation)
    }
    assert policies == {
        "NodeDown db-1": "db-oncall",
        "HighLatency web-1": "platform-oncall",
    }
    database = next(i for i in incidents.list_(session) if i.title.startswith("NodeDown"))
    paged = [e.message for e in database.events if e.kind == "notified"]
    assert [m.split(" (")[0] for m in paged if m.startswith("Paging")] == ["Paging bob"]
    inhibited = [e.message for e in database.events if "inhibited by" in e.message]
    assert inhibited == [
        "Alert triggered: DiskFull db-1 [critical] via alertmanager (alertmanager); "
        "inhibited by NodeDown db-1, it pages nobody"
    ]
    platform = next(i for i in incidents.list_(session) if i.title.startswith("HighLatency"))
    assert any(e.message.startswith("Paging alice") for e in platform.events)
    dropped = session.query(Alert).filter_by(dedup_key="DiskFull-db-9-dev").one()
    assert (dropped.route, dropped.incident_id, dropped.service.slug) == ("alert", None, "platform")

    later = {
        "version": "4",
        "status": "firing",
        "alerts": [
            firing("ReplicaLag", team="db", instance="db-2", cluster="eu"),
            firing("NodeDown", team="db", instance="db-7", cluster="us"),
        ],
    }
    results = alerts.ingest(
        session, receiver, alertmanager.parse(later), now=T0 + timedelta(minutes=10)
    )
    assert [r.incident for r in results] == [
        incident_ref(database.number),
        incident_ref(database.number + 3),
    ]
    us = incidents.get(session, results[1].incident or "")
    assert (us.title, us.services[0].group_key) == ("NodeDown db-7", '{cluster="us"}')
    assert any(e.message.startswith("Paging bob") for e in us.events)
