"""`tocsin runbook check|show` on good and broken runbooks."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Cli

GOOD = """\
# Runbook: api-gateway
## Symptoms
- 502 Bad Gateway
## Initial Checks
1. Check upstream service health
## Common Fixes
### Issue: All 502 errors
1. Identify last deployment: `kubectl rollout history deployment/api-gateway`
2. Rollback: `kubectl rollout undo deployment/api-gateway`
## Escalation
- Private: Slack #incident-api-gateway
"""


def write(tmp_path: Path, runbook: str) -> Path:
    (tmp_path / "runbooks").mkdir(exist_ok=True)
    (tmp_path / "runbooks" / "api-gateway.md").write_text(runbook)
    config = tmp_path / "tocsin.yaml"
    config.write_text(
        "services:\n  - {slug: api-gateway, runbook: runbooks/api-gateway.md}\n  - {slug: web}\n"
    )
    return config


def test_check_finds_the_missing_runbook_and_passes_good_ones(cli: Cli, tmp_path: Path) -> None:
    config = write(tmp_path, GOOD)
    result = cli("runbook", "check", "-c", str(config))
    assert result.code == 1
    assert result.stdout == (
        f"{config}:3: services[1]: service 'web' has no runbook "
        "(every service must have a runbook)\n"
    )
    config.write_text("services:\n  - {slug: api-gateway, runbook: runbooks/api-gateway.md}\n")
    ok = cli("runbook", "check", "-c", str(config))
    assert ok.code == 0, ok.stdout
    assert "every service has one" in ok.stdout


def test_check_reports_broken_runbooks_with_file_and_line(cli: Cli, tmp_path: Path) -> None:
    broken = GOOD.replace("## Escalation\n- Private: Slack #incident-api-gateway\n", "").replace(
        "1. Identify last deployment: `kubectl rollout history deployment/api-gateway`\n"
        "2. Rollback: `kubectl rollout undo deployment/api-gateway`\n",
        "",
    )
    config = write(tmp_path, broken)
    config.write_text("services:\n  - {slug: api-gateway, runbook: runbooks/api-gateway.md}\n")
    result = cli("runbook", "check", "-c", str(config))
    assert result.code == 1
    path = tmp_path / "runbooks" / "api-gateway.md"
    lines = result.stdout.splitlines()
    assert f"{path}:1: missing section '## Escalation'" in lines
    assert any(line.startswith(f"{path}:7: ") and "step" in line for line in lines), lines


def test_stored_runbooks_and_scenarios(cli: Cli, tmp_path: Path) -> None:
    config = write(tmp_path, GOOD)
    config.write_text("services:\n  - {slug: api-gateway, runbook: runbooks/api-gateway.md}\n")
    assert "create service api-gateway" in cli.ok("apply", "-f", str(config)).stdout
    assert cli.ok("runbook", "check").code == 0
    steps = cli.ok(
        "runbook", "show", "api-gateway", "--scenario", "all-502-errors", "--json"
    ).json()
    assert [s["commands"] for s in steps["steps"]] == [
        ["kubectl rollout history deployment/api-gateway"],
        ["kubectl rollout undo deployment/api-gateway"],
    ]
    (tmp_path / "runbooks" / "api-gateway.md").write_text(GOOD.replace("502 Bad", "503 Bad"))
    assert cli.ok("apply", "-f", str(config)).stdout == "update service api-gateway (runbook)\n"
    missing = tmp_path / "other.yaml"
    missing.write_text("services:\n  - {slug: x, runbook: nope.md}\n")
    result = cli("apply", "-f", str(missing))
    assert (
        result.stderr == f"error: {missing}:2: services[0].runbook: no runbook file at 'nope.md'\n"
    )


def test_an_alert_names_a_scenario_and_the_incident_shows_its_steps(
    cli: Cli, tmp_path: Path
) -> None:
    from sqlalchemy.orm import Session

    from tocsin.core.alerts import AlertAction, AlertEvent
    from tocsin.services import alerts
    from tocsin.store import integrations
    from tocsin.store.db import make_engine

    config = write(tmp_path, GOOD)
    config.write_text("services:\n  - {slug: api-gateway, runbook: runbooks/api-gateway.md}\n")
    cli.ok("apply", "-f", str(config))
    engine = make_engine(cli.db_url)
    with Session(engine) as session, session.begin():
        integration, _ = integrations.create(
            session, service="api-gateway", type="alertmanager", now=cli.clock.now()
        )
        event = AlertEvent(
            AlertAction.TRIGGER,
            "fp",
            summary="All requests returning 502",
            severity="critical",
            raw_severity="critical",
            details={
                "labels": {"alertname": "Gateway5xx"},
                "annotations": {"runbook": "api-gateway#all-502-errors"},
            },
        )
        alerts.ingest(session, integration, [event], now=cli.clock.now())
    engine.dispose()
    shown = cli.ok("incident", "show", "INC-1").stdout
    assert shown.endswith(
        "Runbook api-gateway#all-502-errors: Issue: All 502 errors\n"
        " 1. Identify last deployment: `kubectl rollout history deployment/api-gateway`\n"
        " 2. Rollback: `kubectl rollout undo deployment/api-gateway`\n"
    )
    assert cli.ok("alert", "list", "--json").json()[0]["summary"] == "All requests returning 502"


def test_a_service_rule_points_matching_alerts_at_a_scenario(cli: Cli, tmp_path: Path) -> None:
    from sqlalchemy.orm import Session

    from tocsin.core.alerts import AlertAction, AlertEvent
    from tocsin.services import alerts
    from tocsin.store import integrations
    from tocsin.store.db import make_engine

    config = write(tmp_path, GOOD)
    config.write_text(
        "services:\n"
        "  - slug: api-gateway\n"
        "    runbook: runbooks/api-gateway.md\n"
        "    runbook_rules:\n"
        "      - {match: {alertname: Gateway5xx}, scenario: all-502-errors}\n"
    )
    cli.ok("apply", "-f", str(config))
    engine = make_engine(cli.db_url)
    with Session(engine) as session, session.begin():
        integration, _ = integrations.create(
            session, service="api-gateway", type="alertmanager", now=cli.clock.now()
        )
        alerts.ingest(
            session,
            integration,
            [
                AlertEvent(
                    AlertAction.TRIGGER,
                    "a",
                    summary="5xx",
                    severity="critical",
                    raw_severity="critical",
                    details={"labels": {"alertname": "Gateway5xx"}},
                ),
                AlertEvent(
                    AlertAction.TRIGGER,
                    "b",
                    summary="cpu",
                    severity="info",
                    raw_severity="info",
                    details={"labels": {"alertname": "HighCPU"}},
                ),
            ],
            now=cli.clock.now(),
        )
        found = {a.dedup_key: a.runbook for a in alerts.list_(session)}
    engine.dispose()
    assert found == {"a": "api-gateway#all-502-errors", "b": None}
    assert (
        "Runbook api-gateway#all-502-errors: Issue: All 502 errors"
        in cli.ok("incident", "show", "INC-1").stdout
    )
    config.write_text(config.read_text().replace("scenario: all-502-errors", "scenario: dns"))
    bad = cli("apply", "-f", str(config))
    assert bad.stderr == (
        f"error: {config}:5: services[0].runbook_rules[0].scenario: the runbook has no "
        "scenario 'dns'; it has: all-502-errors\n"
    )
