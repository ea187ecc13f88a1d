"""`tocsin integration|alert|maintenance` and the alert keys of `tocsin apply`."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Cli
from tests.conftest import T0
from tocsin.core.alerts import AlertAction, AlertEvent
from tocsin.services import alerts
from tocsin.store import integrations
from tocsin.store.db import make_engine, make_sessionmaker

CONFIG = """\
users:
  - {handle: alice, name: Alice}
schedules:
  - name: ic
    time_zone: UTC
    layers:
      - {name: all, rotation: 1 week, start: 2024-01-01T00:00, participants: [alice]}
services:
  - slug: database
    incident_commander: schedule:ic
    alert_rules:
      - {severity: warning, sev: SEV-2, action: incident}
      - {action: alert}
    integrations:
      - {type: alertmanager}
      - {type: heartbeat, name: nightly-backup, interval: 26h}
"""


def fire(db_url: str, summary: str, severity: str = "warning") -> None:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        integration = integrations.list_(session, service="database")[0]
        event = AlertEvent(
            AlertAction.TRIGGER, summary, summary=summary, severity=severity, raw_severity=severity
        )
        alerts.ingest(session, integration, [event], now=T0)
    engine.dispose()


def test_apply_creates_integrations_and_shows_their_keys_once(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "tocsin.yaml"
    config.write_text(CONFIG)
    first = cli.ok("apply", "-f", str(config)).stdout.splitlines()
    assert first[:3] == ["create user alice", "create schedule ic", "create service database"]
    assert first[3].startswith("create integration database/alertmanager (alertmanager) key=")
    assert first[4].startswith("create integration database/nightly-backup (heartbeat) key=")
    key = first[3].rsplit("key=", 1)[1]
    assert len(key) == 32
    second = cli.ok("apply", "-f", str(config))
    assert second.stdout == "" and key not in second.stderr
    listed = cli.ok("integration", "list", "--json").json()
    assert [(i["name"], i["heartbeat_interval_seconds"]) for i in listed] == [
        ("alertmanager", None),
        ("nightly-backup", 93600),
    ]
    assert key not in cli.ok("integration", "list").stdout
    fire(cli.db_url, "replica lag 40s")
    [alert] = cli.ok("alert", "list", "--json").json()
    assert (alert["sev"], alert["incident"], alert["route"]) == ("SEV-2", "INC-1", "incident")
    incident = cli.ok("incident", "show", "INC-1", "--json").json()
    assert incident["commander"] == "alice"  # the on-call of schedule ic


def test_apply_rejects_bad_alert_config(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "tocsin.yaml"
    config.write_text(
        CONFIG.replace("schedule:ic", "schedule:nope")
        .replace("sev: SEV-2", "sev: SEV-9")
        .replace("type: alertmanager", "type: nagios")
        .replace("interval: 26h", "interval: often")
    )
    result = cli("apply", "-f", str(config))
    assert result.code == 2
    lines = result.stderr.splitlines()
    assert (
        f"error: {config}:12: services[0].alert_rules[0].sev: unknown severity 'SEV-9'; "
        "valid: SEV-1, SEV-2, SEV-3, SEV-4" in lines
    )
    assert f"error: {config}:10: services[0].incident_commander: unknown schedule 'nope'" in lines
    assert any("integrations[0].type: unknown integration type 'nagios'" in line for line in lines)
    assert any("integrations[1].interval: 'often' is not a duration" in line for line in lines)
    assert cli.ok("service", "list", "--json").json() == []


def test_alert_commands(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "tocsin.yaml"
    config.write_text(CONFIG)
    cli.ok("apply", "-f", str(config))
    fire(cli.db_url, "disk 91%", "info")
    [alert] = cli.ok("alert", "list", "--open", "--json").json()
    shown = cli.ok("alert", "show", str(alert["id"])).stdout
    assert "Summary: disk 91%" in shown and "info -> alert only" in shown
    cli.ok("alert", "ack", str(alert["id"]))
    again = cli("alert", "ack", str(alert["id"]))
    assert again.code == 4
    assert "only a triggered alert can be acknowledged" in again.stderr
    cli.ok("alert", "resolve", str(alert["id"]))
    assert cli.ok("alert", "list", "--open", "--json").json() == []
    assert cli.ok("alert", "list", "--status", "resolved", "--json").json()[0]["count"] == 1
    bad = cli("alert", "list", "--status", "sleeping")
    assert bad.stderr == (
        "error: unknown alert status 'sleeping'; valid: triggered, acknowledged, resolved\n"
    )
    assert cli("alert", "show", "999").stderr == "error: unknown alert 999\n"


def test_maintenance_commands(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "tocsin.yaml"
    config.write_text(CONFIG)
    cli.ok("apply", "-f", str(config))
    window = cli.ok(
        "maintenance", "add", "database", "--to", "2h", "--reason", "failover test", "--json"
    ).json()
    assert (window["start"], window["end"]) == ("2024-06-20T10:30:00Z", "2024-06-20T12:30:00Z")
    fire(cli.db_url, "replica lag 40s")
    [alert] = cli.ok("alert", "list", "--json").json()
    assert alert["suppressed"] and alert["incident"] is None
    assert "(maintenance)" in cli.ok("alert", "list").stdout
    cli.ok("maintenance", "end", str(window["id"]))
    assert cli.ok("maintenance", "list", "--json").json() == []
    assert len(cli.ok("maintenance", "list", "--all", "--json").json()) == 1
    over = cli(
        "maintenance", "add", "database", "--from", "2024-06-20T09:00Z", "--to", "2024-06-20T10:00Z"
    )
    assert over.stderr == "error: maintenance for 'database' would already be over\n"


def test_integration_add_prints_the_key_and_where_to_use_it(cli: Cli, tmp_path: Path) -> None:
    cli.ok("service", "add", "web")
    added = cli.ok("integration", "add", "web", "--type", "alertmanager")
    key = added.stdout.splitlines()[0]
    assert len(key) == 32
    assert f"/hooks/alertmanager/{key}" in added.stdout
    created = cli.ok("integration", "add", "web", "--type", "generic", "--json").json()
    cli.ok("integration", "remove", str(created["id"]))
    assert [i["type"] for i in cli.ok("integration", "list", "--json").json()] == ["alertmanager"]
    bad = cli("integration", "add", "web", "--type", "heartbeat")
    assert bad.stderr == "error: a heartbeat needs an interval of at least 1 minute (like 5m)\n"


def test_alert_show_gives_the_senders_own_severity_word(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "tocsin.yaml"
    config.write_text(CONFIG)
    cli.ok("apply", "-f", str(config))
    engine = make_engine(cli.db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        integration = integrations.list_(session, service="database")[0]
        event = AlertEvent(
            AlertAction.TRIGGER, "ntp", summary="clock drift", severity="info", raw_severity="P5"
        )
        alerts.ingest(session, integration, [event], now=T0)
    engine.dispose()
    [alert] = cli.ok("alert", "list", "--open", "--json").json()
    assert alert["raw_severity"] == "P5"
    assert "Severity: info (P5) -> alert only" in cli.ok("alert", "show", str(alert["id"])).stdout


def test_a_held_alert_says_why_it_pages_nobody(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "tocsin.yaml"
    held = "    open_after: {count: 2, within: 5m}\n    alert_rules:"
    config.write_text(CONFIG.replace("    alert_rules:", held))
    cli.ok("apply", "-f", str(config))
    fire(cli.db_url, "replica lag 40s")
    [alert] = cli.ok("alert", "list", "--json").json()
    assert (alert["route"], alert["incident"]) == ("held", None)
    shown = cli.ok("alert", "show", str(alert["id"])).stdout
    assert "held (its group opens no incident until open_after is reached)" in shown
    fire(cli.db_url, "replica lag 50s")
    assert [a["incident"] for a in cli.ok("alert", "list", "--json").json()] == ["INC-1"] * 2
