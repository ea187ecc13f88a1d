"""The `tocsin` command: a whole incident from the terminal, and one clear line per mistake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Cli


def seed_cast(cli: Cli) -> None:
    for handle in ("alice", "bob", "carol"):
        cli.ok("user", "add", handle, "--name", handle.capitalize())
    cli.ok("service", "add", "api-gateway", "--owner", "alice")


def test_a_whole_sev1_from_the_command_line(cli: Cli) -> None:
    seed_cast(cli)
    declared = cli.ok(
        "incident",
        "declare",
        "All requests returning 502",
        "-s",
        "SEV-1",
        "-S",
        "api-gateway",
        "--impact",
        "100% of users affected",
        "--started-at",
        "2m ago",
        "--json",
    ).json()
    assert declared["ref"] == "INC-1"
    assert declared["milestones"]["started_at"] == "2024-06-20T10:28:00Z"
    cli.clock.advance(minutes=1)
    cli.ok("incident", "assign", "INC-1", "alice")
    cli.ok("incident", "add-responder", "INC-1", "bob", "--speciality", "Networking")
    cli.ok("incident", "add-responder", "INC-1", "carol", "-p", "Backend")
    notification = cli.ok("incident", "notification", "INC-1").stdout
    assert "IC: @alice\nResponders: @bob (networking), @carol (backend)\n" in notification
    cli.clock.advance(minutes=7)
    cli.ok("incident", "status", "INC-1", "mitigating", "Rolling back last deployment")
    cli.ok("incident", "update", "INC-1", "Rolling back", "--public", "--status", "identified")
    cli.clock.advance(minutes=4)
    cli.ok("incident", "resolve", "INC-1", "Rollback complete, traffic restored")
    shown = cli.ok("incident", "show", "INC-1").stdout
    assert shown.startswith(
        "=== Incident Summary ===\n"
        "Incident: INC-1\n"
        "Severity: SEV-1\n"
        "Service: api-gateway\n"
        "Description: All requests returning 502\n"
        "IC: Alice (@alice)\n"
        "Status: resolved\n"
    )
    assert "Started: 2024-06-20 10:28:00 UTC\nDetected: 2024-06-20 10:30:00 UTC\n" in shown
    assert "Resolved: 2024-06-20 10:42:00 UTC\n" in shown
    assert shown.endswith(
        " 2024-06-20 10:31:00 UTC  IC assigned: Alice\n"
        " 2024-06-20 10:31:00 UTC  Responder added: Bob (Networking)\n"
        " 2024-06-20 10:31:00 UTC  Responder added: Carol (Backend)\n"
        " 2024-06-20 10:38:00 UTC  Skipped triaging (went from detected to mitigating)\n"
        " 2024-06-20 10:38:00 UTC  [MITIGATING] Rolling back last deployment\n"
        " 2024-06-20 10:38:00 UTC  Public update (identified): Rolling back\n"
        " 2024-06-20 10:42:00 UTC  [RESOLVED] Rollback complete, traffic restored\n"
    )
    resolution = cli.ok("incident", "notification", "INC-1", "--resolution").stdout
    assert "Time to detection: 2 minutes\nTime to resolution: 12 minutes\n" in resolution


def test_every_read_and_create_command_speaks_json(cli: Cli) -> None:
    seed_cast(cli)
    assert cli.ok("user", "add", "dan", "--json").json()["handle"] == "dan"
    assert [u["handle"] for u in cli.ok("user", "list", "--json").json()][:2] == ["alice", "bob"]
    assert cli.ok("service", "add", "db", "--json").json()["slug"] == "db"
    assert len(cli.ok("service", "list", "--json").json()) == 2
    cli.ok("incident", "declare", "x", "-s", "SEV-2", "-S", "db")
    shown = cli.ok("service", "show", "db", "--json").json()
    assert [i["ref"] for i in shown["recent_incidents"]] == ["INC-1"]
    assert cli.ok("incident", "list", "--json").json()[0]["severity"] == "SEV-2"
    detail = cli.ok("incident", "show", "INC-1", "--json").json()
    assert detail["timeline"][0]["kind"] == "declared"
    token = cli.ok("token", "create", "--user", "bob", "--scope", "read", "--json").json()
    assert token["token"].startswith("tsn_") and token["scopes"] == ["read"]
    assert "tsn_" not in cli.ok("token", "list", "--json").stdout.replace(token["hint"], "")
    assert cli.ok("incident", "timeline", "INC-1", "--json").json()[0]["actor"] == "alice"


def test_tables_show_text_as_is(cli: Cli) -> None:
    seed_cast(cli)
    cli.ok("incident", "declare", "[bold]not markup[/bold]", "-s", "SEV-3")
    listed = cli.ok("incident", "list").stdout
    assert "[bold]not" in listed


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(
            ["incident", "status", "INC-1", "fixed"],
            2,
            "error: unknown status 'fixed'; valid statuses: detected, triaging, mitigating, "
            "resolved, postmortem, closed",
            id="unknown-status",
        ),
        pytest.param(
            ["incident", "severity", "INC-1", "SEV-9", "--reason", "x"],
            2,
            "error: unknown severity 'SEV-9'; valid severities: SEV-1, SEV-2, SEV-3, SEV-4",
            id="unknown-severity",
        ),
        pytest.param(
            ["incident", "assign", "INC-1", "bob"],
            4,
            "error: INC-1 already has a commander (@alice); there is exactly one IC at a time: "
            "hand over to @bob with --handover",
            id="second-commander",
        ),
        pytest.param(
            ["incident", "add-responder", "INC-1", "zed"],
            3,
            "error: unknown user 'zed'",
            id="unknown-user",
        ),
        pytest.param(
            ["incident", "show", "INC-404"], 3, "error: unknown incident INC-404", id="unknown-inc"
        ),
        pytest.param(
            ["incident", "declare", "x", "-s", "SEV-1", "--started-at", "yesterday-ish"],
            2,
            "error: 'yesterday-ish' is not a time; write it like 2024-06-20T10:30Z, "
            "2024-06-20T10:30+02:00 or '10m ago'",
            id="bad-time",
        ),
        pytest.param(
            ["incident", "update", "INC-1", "x", "--status", "identified"],
            2,
            "error: an internal update has no public status; make it public or leave the "
            "status out",
            id="internal-with-status",
        ),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    cli: Cli, args: list[str], code: int, message: str
) -> None:
    seed_cast(cli)
    cli.ok("incident", "declare", "x", "-s", "SEV-1", "--commander", "alice")
    before = cli.ok("incident", "show", "INC-1", "--json").stdout
    result = cli(*args)
    assert result.code == code
    assert result.stderr == message + "\n"
    assert cli.ok("incident", "show", "INC-1", "--json").stdout == before
    assert cli.ok("incident", "list", "--json").json()[0]["ref"] == "INC-1"


def test_reopening_a_closed_incident_is_refused(cli: Cli) -> None:
    seed_cast(cli)
    cli.ok("incident", "declare", "x", "-s", "SEV-1")
    cli.ok("incident", "status", "INC-1", "closed")
    result = cli("incident", "status", "INC-1", "mitigating")
    assert result.code == 4
    assert result.stderr == (
        "error: INC-1 is closed and cannot be reopened; declare a new incident instead\n"
    )


def test_several_problems_are_all_listed(cli: Cli) -> None:
    seed_cast(cli)
    result = cli("incident", "declare", " ", "-s", "SEV-9", "-S", "nope", "--commander", "zed")
    assert result.code == 2
    assert result.stderr.splitlines() == [
        "error: title must not be empty",
        "error: unknown severity 'SEV-9'; valid severities: SEV-1, SEV-2, SEV-3, SEV-4",
        "error: unknown service 'nope'",
        "error: commander: unknown user 'zed'",
    ]
    assert cli.ok("incident", "list", "--json").json() == []


def test_commander_taking_a_responder_role_is_warned(cli: Cli) -> None:
    seed_cast(cli)
    cli.ok("incident", "declare", "x", "-s", "SEV-1", "--commander", "alice")
    result = cli.ok("incident", "add-responder", "INC-1", "alice", "-p", "Backend")
    assert "warning: Alice is the incident commander; the IC coordinates and does not debug" in (
        result.stderr
    )


def test_apply_creates_then_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "tocsin.yaml"
    config.write_text(
        "users:\n"
        "  - {handle: alice, name: Alice, email: alice@example.com, time_zone: America/New_York}\n"
        "  - {handle: bob, name: Bob}\n"
        "services:\n"
        "  - slug: api-gateway\n"
        "    name: API Gateway\n"
        "    owner: alice\n"
        "    severity_definitions: {SEV-1: All requests failing}\n"
    )
    first = cli.ok("apply", "-f", str(config))
    assert first.stdout.splitlines() == [
        "create user alice",
        "create user bob",
        "create service api-gateway",
    ]
    second = cli.ok("apply", "-f", str(config))
    assert second.stdout == ""
    assert "no changes" in second.stderr
    config.write_text(config.read_text().replace("name: API Gateway", "name: Edge"))
    assert cli.ok("apply", "-f", str(config)).stdout == "update service api-gateway (name)\n"


def test_apply_reports_every_problem_with_file_and_line_and_applies_nothing(
    cli: Cli, tmp_path: Path
) -> None:
    config = tmp_path / "tocsin.yaml"
    config.write_text(
        "users:\n"
        "  - {handle: alice, time_zone: Mars/Olympus}\n"
        "  - {handle: bob, colour: red}\n"
        "services:\n"
        "  - slug: api\n"
        "  - slug: db\n"
        "    owner: zed\n"
    )
    result = cli("apply", "-f", str(config))
    assert result.code == 2
    assert result.stderr.splitlines() == [f"error: {config}:3: users[1].colour: unknown key"]
    config.write_text(config.read_text().replace(", colour: red", ""))
    result = cli("apply", "-f", str(config))
    assert result.stderr.splitlines() == [
        f"error: {config}:2: users[0].time_zone: unknown time zone 'Mars/Olympus' "
        "(use an IANA name like Europe/Berlin)",
        f"error: {config}:7: services[1].owner: unknown user 'zed'",
    ]
    assert cli.ok("user", "list", "--json").json() == []
    broken = tmp_path / "broken.yaml"
    broken.write_text("users: [\n")
    assert cli("apply", "-f", str(broken)).stderr.startswith(f"error: {broken}:2: not valid YAML")
    assert cli("apply", "-f", str(tmp_path / "missing.yaml")).stderr.startswith(
        "error: cannot read"
    )


def test_commands_refuse_an_unmigrated_database(tmp_path: Path) -> None:
    from tests.conftest import T0
    from tocsin.clock import FixedClock

    cli = Cli(f"sqlite:///{tmp_path / 'empty.db'}", FixedClock(T0))
    result = cli("incident", "list")
    assert result.code == 6
    assert "has no Tocsin schema; run `tocsin db upgrade`" in result.stderr
    cli.ok("db", "upgrade")
    assert cli.ok("incident", "list", "--json").json() == []


@pytest.mark.slow
def test_a_real_process_prints_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "TOCSIN_DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}"}
    tocsin = [sys.executable, "-m", "tocsin"]
    subprocess.run([*tocsin, "db", "upgrade"], env=env, check=True, capture_output=True)
    result = subprocess.run(
        [*tocsin, "incident", "declare", "x", "-s", "SEV-9"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "error: unknown severity 'SEV-9'; valid severities: SEV-1, SEV-2, SEV-3, SEV-4\n"
    )
    missing = subprocess.run(
        [*tocsin, "incident", "status", "INC-1", "done"], env=env, capture_output=True, text=True
    )
    assert (missing.returncode, missing.stderr) == (3, "error: unknown incident INC-1\n")
    init = subprocess.run(
        [*tocsin, "init", "--json"], env=env, capture_output=True, text=True, check=True
    )
    assert '"token": "tsn_' in init.stdout
    again = subprocess.run([*tocsin, "init"], env=env, capture_output=True, text=True, check=True)
    assert "already has users" in again.stderr


def test_apply_replaces_the_severity_scale(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "tocsin.yaml"
    config.write_text(
        "severities:\n"
        "  - {name: P1, definition: Down, response_time: 5m, update_cadence: 10m}\n"
        "  - {name: P2, definition: Degraded, response_time: 30m}\n"
        "  - {name: P3, definition: Cosmetic, response_time: next business day}\n"
    )
    changes = cli.ok("apply", "-f", str(config)).stdout.splitlines()
    assert changes[:4] == [f"delete severity SEV-{n}" for n in range(1, 5)]
    assert changes[4:] == ["create severity P1", "create severity P2", "create severity P3"]
    assert cli.ok("apply", "-f", str(config)).stdout == ""
    declared = cli("incident", "declare", "x", "-s", "SEV-1")
    assert declared.stderr == "error: unknown severity 'SEV-1'; valid severities: P1, P2, P3\n"
    assert cli.ok("incident", "declare", "x", "-s", "p1", "--json").json()["severity"] == "P1"
    config.write_text("severities:\n  - {name: P1, definition: Down, response_time: soon}\n")
    bad = cli("apply", "-f", str(config))
    assert bad.stderr == (
        f"error: {config}:2: severities[0].response_time: 'soon' is not a duration; "
        "write it like 30s, 15m, 1h, 1h30m or 2d\n"
    )


def test_human_tables_for_people(cli: Cli) -> None:
    seed_cast(cli)
    users = cli.ok("user", "list").stdout
    assert "alice" in users and "Time zone" in users
    service = cli.ok("service", "show", "api-gateway").stdout
    assert "SEV-1" in service and "5 min" in service and "Next business" in service
    assert "Owner: @alice" in service
    cli.ok("incident", "declare", "Checkout slow", "-s", "SEV-2", "-S", "api-gateway")
    cli.clock.advance(minutes=75)
    listed = cli.ok("incident", "list").stdout
    assert "INC-1" in listed and "1h15m" in listed
