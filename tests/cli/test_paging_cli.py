"""Escalation policies from the config file, the CLI and the API; unacknowledge; ack timeouts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.cli.conftest import Cli

CONFIG = """\
users:
  - handle: alice
    contact_methods: [{name: console, type: console}]
  - handle: erin
    stakeholder: true
    contact_methods: [{name: mail, type: email, address: erin@example.com}]
schedules:
  - name: db-primary
    time_zone: UTC
    layers: [{name: a, rotation: 1 week, start: 2024-01-01T00:00, participants: [alice]}]
escalation_policies:
  - name: db-oncall
    repeat: 1
    levels:
      - {targets: ["schedule:db-primary"], delay: 15m}
      - {targets: ["user:erin"]}
services:
  - {slug: database, escalation_policy: db-oncall, ack_timeout: 30m}
"""


def test_policies_from_the_file(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "tocsin.yaml"
    config.write_text(CONFIG)
    changes = cli.ok("apply", "-f", str(config)).stdout.splitlines()
    assert "create escalation policy db-oncall" in changes
    assert cli.ok("apply", "-f", str(config)).stdout == ""
    assert cli.ok("policy", "list", "--json").json() == [
        {
            "name": "db-oncall",
            "team": None,
            "repeat": 1,
            "levels": [
                {"targets": ["schedule:db-primary"], "delay": "15m"},
                {"targets": ["user:erin"]},
            ],
        }
    ]
    shown = cli.ok("policy", "show", "db-oncall").stdout
    assert "schedule:db-primary" in shown and "15m" in shown
    assert cli("policy", "show", "nope").stderr == "error: unknown escalation policy 'nope'\n"


def test_bad_policies_name_every_problem(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "tocsin.yaml"
    config.write_text(
        CONFIG.replace('schedule:db-primary"], delay: 15m', 'schedule:db-backup"], delay: soon')
        .replace("user:erin", "group:dba")
        .replace("escalation_policy: db-oncall", "escalation_policy: db-pager")
        .replace("ack_timeout: 30m", "ack_timeout: later")
    )
    result = cli("apply", "-f", str(config))
    assert result.code == 2
    lines = result.stderr.splitlines()
    assert any(
        "escalation_policies[0].levels[0].delay" in line and "'soon'" in line for line in lines
    )
    assert any(
        "escalation_policies[0].levels[1].targets[0]" in line and "group:dba" in line
        for line in lines
    )
    assert any(
        "services[0].escalation_policy: unknown escalation policy 'db-pager'" in line
        for line in lines
    )
    assert any("services[0].ack_timeout: 'later' is not a duration" in line for line in lines)
    assert cli.ok("policy", "list", "--json").json() == []


def test_unacknowledge_and_the_ack_timeout_restart_escalation(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "tocsin.yaml"
    config.write_text(CONFIG)
    cli.ok("apply", "-f", str(config))
    cli.ok("incident", "declare", "Primary down", "-s", "SEV-1", "-S", "database")
    sent = cli.ok("incident", "notifications", "INC-1", "--json").json()
    assert [(n["user"], n["kind"], n["status"]) for n in sent] == [
        ("alice", "page", "pending"),
        ("erin", "stakeholder", "pending"),
    ]
    cli.ok("incident", "ack", "INC-1")
    assert cli.ok("incident", "notifications", "INC-1", "--json").json()[0]["status"] == (
        "cancelled"
    )
    cli.ok("incident", "unack", "INC-1")
    again = cli.ok("incident", "notifications", "INC-1", "--json").json()
    assert [(n["user"], n["status"]) for n in again if n["kind"] == "page"] == [
        ("alice", "cancelled"),
        ("alice", "pending"),
    ]
    refused = cli("incident", "unack", "INC-1")
    assert refused.code == 4
    assert refused.stderr == "error: INC-1 has no acknowledged escalation to restart\n"
    cli.ok("incident", "ack", "INC-1")
    # the service's ack timeout: still open 30 minutes after the ack, it pages again
    from sqlalchemy.orm import Session

    from tocsin.engine import escalations
    from tocsin.store.db import make_engine

    engine = make_engine(cli.db_url)
    now = cli.clock.now()
    with Session(engine) as session, session.begin():
        assert escalations.update_all(session, now=now + timedelta(minutes=29)) == 0
        escalations.update_all(session, now=now + timedelta(minutes=30))
    engine.dispose()
    shown = cli.ok("incident", "show", "INC-1").stdout
    assert "Acknowledgement timed out; escalation restarts" in shown
    pages = [
        n
        for n in cli.ok("incident", "notifications", "INC-1", "--json").json()
        if n["kind"] == "page"
    ]
    assert [n["status"] for n in pages] == ["cancelled", "cancelled", "pending"]


def test_page_someone_about_an_incident_now(cli: Cli) -> None:
    cli.ok("user", "add", "bob")
    cli.ok("incident", "declare", "Replica lag", "-s", "SEV-2")
    cli.ok("incident", "page", "INC-1", "user:bob")
    shown = cli.ok("incident", "show", "INC-1", "--json").json()
    assert "Paging bob (asked by alice): no contact method" in [
        e["message"] for e in shown["timeline"]
    ]
    refused = cli("incident", "page", "INC-1", "schedule:primary")
    assert refused.code != 0
    assert refused.stderr.strip() == "error: nobody is on call in 'primary' now"
