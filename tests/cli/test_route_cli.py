"""`tocsin route test`: which route an alert matches, from the file alone, storing nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Cli
from tests.conftest import T0
from tests.services.test_routes import CONFIG
from tocsin.clock import FixedClock


@pytest.fixture
def offline(tmp_path: Path) -> Cli:
    """A CLI whose database was never created: the command must not need one."""
    (tmp_path / "tocsin.yaml").write_text(CONFIG)
    return Cli(f"sqlite:///{tmp_path / 'never-created.db'}", FixedClock(T0))


def test_each_route_answers_with_service_severity_and_action(offline: Cli, tmp_path: Path) -> None:
    config = str(tmp_path / "tocsin.yaml")
    db = offline.ok("route", "test", "-c", config, "--labels", "team=db,severity=critical")
    assert db.stdout.splitlines() == [
        'route     routes[1] {team="db"}',
        "service   database",
        "severity  SEV-1",
        "action    incident",
        "group     {} (no group_by: the service's open incident)",
    ]
    # no route set a severity: the database's own rules, here the defaults, place it
    warning = offline.ok("route", "test", "-c", config, "--labels", "team=db,severity=warning")
    assert warning.stdout.splitlines()[1:] == [
        "service   database",
        "severity  SEV-3",
        "action    attach",
        "group     {} (no group_by: the service's open incident)",
    ]
    dropped = offline.ok("route", "test", "-c", config, "--labels", 'team=db,env="test"')
    assert dropped.stdout.splitlines() == [
        'route     routes[0] {env=~"dev|test"}',
        "service   platform",
        "action    dropped: recorded, never paged",
    ]
    watchdog = offline.ok(
        "route", "test", "-c", config, "--labels", "alertname=Watchdog", "--json"
    ).json()
    assert {k: watchdog[k] for k in ("service", "severity", "action", "dropped")} == {
        "service": "meta",
        "severity": "SEV-4",
        "action": "incident",
        "dropped": False,
    }
    assert [r["index"] for r in watchdog["routes"]] == [2, 3]
    unrouted = offline.ok("route", "test", "-c", config, "--labels", "severity=warning")
    assert unrouted.stdout.splitlines() == [
        "route     none (the alert stays with platform)",
        "service   platform",
        "severity  SEV-3",  # the default rules
        "action    attach",
        "group     {} (no group_by: the service's open incident)",
    ]
    assert not (tmp_path / "never-created.db").exists()


def test_a_senders_request_body_is_routed_by_its_labels(offline: Cli, tmp_path: Path) -> None:
    body = {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "fingerprint": "f1",
                "labels": {"alertname": "PrimaryDown", "team": "db", "severity": "critical"},
                "annotations": {"summary": "primary down"},
            }
        ],
    }
    (tmp_path / "am.json").write_text(json.dumps(body))
    pd = {
        "routing_key": "k",
        "event_action": "trigger",
        "payload": {
            "summary": "s",
            "source": "h",
            "severity": "critical",
            "custom_details": {"env": "dev"},
        },
    }
    (tmp_path / "pd.json").write_text(json.dumps(pd))
    config = str(tmp_path / "tocsin.yaml")
    am = offline.ok("route", "test", "-c", config, "--event", str(tmp_path / "am.json"))
    assert am.stdout.splitlines()[1] == "service   database"
    pager = offline.ok("route", "test", "-c", config, "--event", str(tmp_path / "pd.json"))
    assert pager.stdout.splitlines()[-1] == "action    dropped: recorded, never paged"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--labels", "team=db", "--event", "x.json"], "give the alert as --labels or as --event"),
        ([], "give the alert as --labels or as --event"),
        (["--labels", "team=~db"], '--labels: team=~"db" is not NAME=VALUE'),
        (["--labels", "team"], "--labels: 'team' is not a matcher"),
        (["--labels", "a=b", "--service", "nope"], "has no service 'nope'"),
        (["--event", "missing.json"], "--event: cannot read missing.json"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    offline: Cli, tmp_path: Path, args: list[str], message: str
) -> None:
    result = offline("route", "test", "-c", str(tmp_path / "tocsin.yaml"), *args)
    assert result.code == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_route_shows_the_policy_it_names(tmp_path: Path) -> None:
    (tmp_path / "tocsin.yaml").write_text(
        "escalation_policies:\n"
        '  - {name: db-oncall, levels: [{targets: ["user:bob"]}]}\n'
        "services:\n"
        "  - slug: platform\n"
        "    routes: [{match: 'team=db', policy: db-oncall}]\n"
    )
    cli = Cli(f"sqlite:///{tmp_path / 'never-created.db'}", FixedClock(T0))
    shown = cli.ok("route", "test", "-c", str(tmp_path / "tocsin.yaml"), "--labels", "team=db")
    assert shown.stdout.splitlines()[-2] == "policy    db-oncall (for an incident it opens)"


def test_the_group_key_is_the_routed_services_group(tmp_path: Path) -> None:
    (tmp_path / "tocsin.yaml").write_text(
        "services:\n"
        "  - slug: platform\n"
        "    routes: [{match: 'team=db', service: database}]\n"
        "  - slug: database\n"
        "    group_by: [cluster, alertname]\n"
    )
    cli = Cli(f"sqlite:///{tmp_path / 'never-created.db'}", FixedClock(T0))
    config = str(tmp_path / "tocsin.yaml")
    shown = cli.ok("route", "test", "-c", config, "--labels", "team=db,cluster=eu,alertname=Up")
    assert shown.stdout.splitlines()[-1] == (
        'group     {cluster="eu",alertname="Up"} (one incident per group, by cluster, alertname)'
    )
    found = cli.ok("route", "test", "-c", config, "--labels", "team=db", "--json").json()
    assert found["group"] == '{cluster="",alertname=""}'
