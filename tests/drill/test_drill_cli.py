"""`tocsin drill` end to end: each shipped scenario runs to a score card and a postmortem draft.

The drills run on the CLI's FixedClock (2024-06-20 10:30 UTC, a Thursday: the EU layer of the
follow-the-sun schedules is on call, clara as primary and dirk as secondary) with --speed 0.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli.conftest import Cli
from tests.conftest import T0
from tocsin.clock import FixedClock
from tocsin.store.db import make_engine, make_sessionmaker
from tocsin.store.models import Incident

CONFIG = str(Path(__file__).with_name("three-tier.yaml"))


@pytest.fixture
def cli(tmp_path: Path, sqlite_template: Path) -> Cli:
    path = tmp_path / "tocsin.db"
    shutil.copy(sqlite_template, path)
    return Cli(f"sqlite:///{path}", FixedClock(T0))


def drill(cli: Cli, tmp_path: Path, *args: str, input: str | None = None) -> tuple[str, str]:
    out = tmp_path / "postmortem.md"
    result = cli(
        "drill", *args, "-c", CONFIG, "--speed", "0", "--postmortem-out", str(out), input=input
    )
    assert result.code == 0, result.stderr
    assert f"Wrote the postmortem draft to {out}" in result.stderr
    return result.stdout, out.read_text(encoding="utf-8")


def score(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Score card: "))
    end = lines.index("Went well:")
    return lines[start:end]


def test_database_failure_escalates_to_the_secondary(cli: Cli, tmp_path: Path) -> None:
    stdout, postmortem = drill(cli, tmp_path, "database-failure")
    assert score(stdout) == [
        "Score card: database-failure (SEV-1, INC-1): 2 of 6 targets met",
        "Time to acknowledge           18m      target 5m     missed",
        "Time to assign an IC          20m      target 5m     missed",
        "Time to first public update   21m      target 15m    missed",
        "Time to mitigate              25m      target 25m    met",
        "Time to resolve               40m      target 45m    met",
        "Longest gap between updates   21m      target 15m    missed",
    ]
    # the primary is paged at once and ignores it; the policy pages the secondary at +15m
    assert "+0s     Paging clara (seed level 1: schedule:primary) via phone" in stdout
    assert "+2m     clara does not answer the page" in stdout
    assert "+15m    Paging dirk (seed level 2: schedule:secondary) via phone" in stdout
    assert "+18m    Acknowledged by dirk" in stdout
    assert "+15m    Reminder: public status update overdue (SEV-1: every 15 minutes)" in stdout
    assert "  - Escalation reached level 2 (dirk) at +15m" in stdout
    assert "  - The level-1 page went unanswered; the policy escalated" in stdout
    assert postmortem.startswith(
        "# Postmortem: INC-1 PostgresPrimaryDown: Primary database is not accepting connections"
    )
    assert "- 10:48 UTC - Acknowledged by dirk" in postmortem
    assert "- Time to resolution: 40 minutes" in postmortem
    assert "## What Went Wrong\n- Acknowledged after 18m; SEV-1's target is 5m\n" in postmortem
    assert "The primary's disk controller failed" in postmortem


def test_api_latency(cli: Cli, tmp_path: Path) -> None:
    stdout, postmortem = drill(cli, tmp_path, "api-latency")
    assert score(stdout) == [
        "Score card: api-latency (SEV-2, INC-1): 6 of 6 targets met",
        "Time to acknowledge           4m       target 15m    met",
        "Time to assign an IC          6m       target 15m    met",
        "Time to first public update   10m      target 30m    met",
        "Time to mitigate              22m      target 30m    met",
        "Time to resolve               40m      target 1h     met",
        "Longest gap between updates   28m      target 30m    met",
    ]
    assert "+8m     Responder added: Bob Nguyen (Backend)" in stdout
    assert "Paging dirk" not in stdout  # acknowledged: no escalation
    assert "## Root Cause\nThe connection pool was sized for normal traffic" in postmortem


def test_bad_deploy_is_the_seeds_story(cli: Cli, tmp_path: Path) -> None:
    stdout, postmortem = drill(cli, tmp_path, "bad-deploy")
    assert score(stdout) == [
        "Score card: bad-deploy (SEV-1, INC-1): 6 of 6 targets met",
        "Time to acknowledge           1m       target 5m     met",
        "Time to assign an IC          1m       target 5m     met",
        "Time to first public update   3m       target 15m    met",
        "Time to mitigate              8m       target 10m    met",
        "Time to resolve               12m      target 15m    met",
        "Longest gap between updates   9m       target 15m    met",
    ]
    assert "Went wrong:\n  - (nothing)" in stdout
    # the seed's RESOLUTION POSTMORTEM: 12 minutes, rolled back to v2.3.0
    assert "- Time to resolution: 12 minutes" in postmortem
    assert "- 10:42 UTC - [RESOLVED] Rollback complete, traffic restored" in postmortem
    assert "removed the proxy_pass directive" in postmortem


def test_interactive_scores_the_players_moves(cli: Cli, tmp_path: Path) -> None:
    # database-failure's first IC move is due at +20m: wait twice (2 min), take command as
    # dirk; at +21m post a public update; wait at +25m then mitigate; then resolve.
    moves = "\n".join(
        [
            "wait",
            "wait",
            "assign",
            "dirk",
            "update",
            "public",
            "We are investigating.",
            "wait",
            "mitigate",
            "resolve",
            "",
        ]
    )
    stdout, postmortem = drill(cli, tmp_path, "database-failure", "--interactive", input=moves)
    assert "You are the IC: your move." in stdout
    assert score(stdout)[1:] == [
        "Time to acknowledge           18m      target 5m     missed",
        "Time to assign an IC          22m      target 5m     missed",
        "Time to first public update   22m      target 15m    missed",
        "Time to mitigate              26m      target 25m    missed",
        "Time to resolve               30m      target 45m    met",
        "Longest gap between updates   22m      target 15m    missed",
    ]
    assert "  - You waited 3 times while the clock ran" in stdout
    assert "  - You took command before anything else: one person coordinates" in stdout
    assert "+22m    IC assigned: Dirk Jansen" in stdout
    assert "Public update (investigating): We are investigating." in postmortem


def test_a_bad_scenario_file_lists_every_problem(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: broken\n"
        "title: Broken\n"
        "service: database\n"
        "severity: SEV-1\n"
        "steps:\n"
        "  - at: soon\n"
        "    alert: {labels: {severity: critical}}\n"
        "  - at: +5m\n"
        "    acknowledge: level:two\n",
        encoding="utf-8",
    )
    result = cli("drill", str(bad), "-c", CONFIG, "--speed", "0")
    assert result.code == 2
    assert result.stderr.splitlines() == [
        f"error: {bad}:6: steps[0].at: 'soon' is not an offset; write it like +0m, +15m, "
        "+1h30m or +90s",
        f"error: {bad}:7: steps[0].alert.labels.alertname: required: every Alertmanager alert "
        "has one",
        f"error: {bad}:9: steps[1].acknowledge: must be a paged responder: level:N or user:HANDLE",
    ]
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["no-such-drill", "-c", CONFIG],
            "error: unknown drill scenario 'no-such-drill'; shipped: api-latency, bad-deploy, "
            "database-failure (or give the path of a scenario .yaml file)",
            id="unknown-scenario",
        ),
        pytest.param(
            ["bad-deploy", "-c", "/nonexistent/tocsin.yaml"],
            "error: cannot read /nonexistent/tocsin.yaml: No such file or directory",
            id="missing-config",
        ),
        pytest.param(
            ["bad-deploy", "--record", "-c", CONFIG],
            "error: --record drills against the database as it is configured; leave out -c",
            id="record-with-config",
        ),
    ],
)
def test_bad_input_is_one_line(cli: Cli, args: list[str], message: str) -> None:
    result = cli("drill", *args, "--speed", "0")
    assert result.code == 2
    assert result.stderr.splitlines() == [message]


def test_without_a_config_file_it_says_how_to_give_one(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("drill", "bad-deploy", "--speed", "0")
    assert result.code == 2
    assert result.stderr.splitlines() == [
        "error: no configuration to drill against: pass -c tocsin.yaml, or run where "
        "./tocsin.yaml is"
    ]
    shutil.copy(CONFIG, tmp_path / "tocsin.yaml")
    result = cli("drill", "bad-deploy", "--speed", "0")
    assert result.code == 0, result.stderr
    assert (tmp_path / "drill-bad-deploy-postmortem.md").is_file()


def test_list_shows_the_shipped_scenarios(cli: Cli) -> None:
    result = cli("drill", "--list")
    assert result.code == 0
    for name in ("database-failure", "api-latency", "bad-deploy"):
        assert name in result.stdout


def test_record_keeps_the_incident_as_a_drill_outside_the_metrics(cli: Cli, tmp_path: Path) -> None:
    cli.ok("apply", "-f", CONFIG)
    result = cli(
        "drill",
        "bad-deploy",
        "--record",
        "--speed",
        "0",
        "--postmortem-out",
        str(tmp_path / "pm.md"),
    )
    assert result.code == 0, result.stderr
    assert "(INC-1, kept as a drill)" in result.stderr
    engine = make_engine(cli.db_url)
    with make_sessionmaker(engine)() as session:
        [incident] = session.query(Incident).all()
        assert (incident.is_drill, incident.status) == (True, "resolved")
    engine.dispose()
    report = cli.ok("report", "--since", "all", "--json").json()
    assert report["overall"]["count"] == 0
    # a real incident next to it is counted
    cli.ok("incident", "declare", "Real one", "--severity", "SEV-2", "--service", "api")
    report = cli.ok("report", "--since", "all", "--json").json()
    assert report["overall"]["count"] == 1


def test_pages_to_every_kind_of_method_are_recorded_not_sent(cli: Cli, tmp_path: Path) -> None:
    # No provider is configured at all: a page that went anywhere would fail, and say so.
    keys = '{"p256dh": "B' + "A" * 86 + '", "auth": "' + "A" * 22 + '"}'
    methods = (
        "[{name: call, type: voice, number: '+4915112345678'},"
        " {name: text, type: sms, number: '+4915112345678'},"
        " {name: tg, type: telegram, chat_id: '1001'},"
        " {name: push, type: ntfy, url: 'https://ntfy.example/oncall-clara'},"
        f" {{name: laptop, type: webpush, url: 'https://push.example/x', secret: '{keys}'}},"
        " {name: teams, type: teams, url: 'https://teams.example/hook'}]"
    )
    text = (
        Path(CONFIG)
        .read_text(encoding="utf-8")
        .replace(
            "time_zone: Europe/Berlin, contact_methods: [{name: phone, type: console}]}",
            f"time_zone: Europe/Berlin, contact_methods: {methods}}}",
            1,
        )
    )
    config = tmp_path / "tocsin.yaml"
    config.write_text(text, encoding="utf-8")
    out = tmp_path / "postmortem.md"
    result = cli(
        "drill",
        "database-failure",
        "-c",
        str(config),
        "--speed",
        "0",
        "--postmortem-out",
        str(out),
    )
    assert result.code == 0, result.stderr
    assert (
        "+0s     Paging clara (seed level 1: schedule:primary) via call, laptop, push, teams,"
        " text, tg" in result.stdout
    )
    for method in ("call", "laptop", "push", "teams", "text", "tg"):
        assert f"+0s     Notified clara via {method}\n" in result.stdout
    assert "Could not notify" not in result.stdout
