"""examples/three-tier, the seed's challenge: it applies, its runbooks and schedules check out,
the README's numbers and its curl line are true, and `make run` brings it up."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.cli.conftest import Cli
from tests.conftest import T0
from tocsin import config
from tocsin.clock import FixedClock
from tocsin.core import runbook
from tocsin.server import create_app
from tocsin.services import postmortems
from tocsin.settings import Settings
from tocsin.store.db import make_engine, make_sessionmaker

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "three-tier"
CONFIG = str(EXAMPLE / "tocsin.yaml")
TEMPLATES = EXAMPLE / "templates"
README = (EXAMPLE / "README.md").read_text(encoding="utf-8")
TOP_README = (ROOT / "README.md").read_text(encoding="utf-8")
KEY_LINE = re.compile(r"^create integration (\S+) \((\w+)\) key=([0-9a-f]{32})$", re.MULTILINE)

SCENARIOS = {
    "web": ["all-502-errors", "tls-certificate-expiring", "slow-page-loads"],
    "api": ["5xx-errors-after-a-deploy", "high-latency", "pods-crash-looping"],
    "database": ["primary-down", "too-many-connections", "disk-full"],
}
INTEGRATIONS = [
    ("web/alertmanager", "alertmanager"),
    ("api/alertmanager", "alertmanager"),
    ("database/alertmanager", "alertmanager"),
    ("database/nightly-backup", "heartbeat"),
]
BLAMELESS_LINE = "_Blameless: this describes what the system and the process allowed"


@pytest.fixture
def cli(db_url: str) -> Cli:
    return Cli(db_url, FixedClock(T0))


def keys(output: str) -> dict[str, str]:
    """Return {integration: key} for every key line `tocsin apply` printed."""
    return {name: key for name, _type, key in KEY_LINE.findall(output)}


# --- applying ------------------------------------------------------------------------------------


def test_the_example_applies_once_and_then_changes_nothing(cli: Cli) -> None:
    first = cli.ok("apply", "-f", CONFIG)
    assert [(name, kind) for name, kind, _ in KEY_LINE.findall(first.stdout)] == INTEGRATIONS
    assert len(set(keys(first.stdout).values())) == 4
    for line in (
        "create user erin",
        "create schedule primary",
        "create schedule secondary",
        "create escalation policy follow-the-sun",
        "create service web",
        "create service api",
        "create service database",
    ):
        assert line in first.stdout.splitlines()
    assert f"Applied {CONFIG}:" in first.stderr

    second = cli.ok("apply", "-f", CONFIG)
    assert second.stdout == ""
    assert second.stderr == f"{CONFIG}: no changes\n"


def test_the_example_round_trips_through_export(cli: Cli, tmp_path: Path) -> None:
    secrets = keys(cli.ok("apply", "-f", CONFIG).stdout).values()
    # The team's own copy of the folder: export over its tocsin.yaml, beside the runbooks.
    folder = tmp_path / "three-tier"
    shutil.copytree(EXAMPLE, folder)
    exported = folder / "tocsin.yaml"
    cli.ok("export", "-o", str(exported))
    text = exported.read_text(encoding="utf-8")
    for name in ("web", "api", "database", "primary", "secondary", "follow-the-sun", "website"):
        assert f": {name}" in text, name
    assert len(secrets) == 4
    assert not [key for key in secrets if key in text]  # integration keys are never written
    dry = cli.ok("apply", "-f", str(exported), "--dry-run")
    assert dry.stdout == ""
    again = cli.ok("apply", "-f", str(exported))
    assert again.stdout == ""
    assert again.stderr == f"{exported}: no changes\n"
    second = tmp_path / "second.yaml"
    cli.ok("export", "-o", str(second))
    assert second.read_text(encoding="utf-8") == text


def test_the_escalation_policy_is_the_seeds(cli: Cli) -> None:
    cli.ok("apply", "-f", CONFIG)
    assert cli.ok("policy", "show", "follow-the-sun", "--json").json() == {
        "name": "follow-the-sun",
        "team": None,
        "repeat": 0,
        "levels": [
            {"targets": ["schedule:primary"], "delay": "15m"},
            {"targets": ["schedule:secondary"], "delay": "15m"},
            {"targets": ["user:erin"]},
        ],
    }


@pytest.mark.parametrize("service", ["web", "api", "database"])
def test_every_service_defines_sev_1_to_4(cli: Cli, service: str) -> None:
    cli.ok("apply", "-f", CONFIG)
    shown = cli.ok("service", "show", service, "--json").json()
    definitions = shown["severity_definitions"]
    assert list(definitions) == ["SEV-1", "SEV-2", "SEV-3", "SEV-4"]
    for level in definitions.values():
        assert level["definition"].strip() and level["example"].strip()


def test_every_service_names_its_runbook_policy_commander_team_and_alertmanager() -> None:
    services = {s.slug: s for s in config.load(CONFIG).spec.services}
    assert list(services) == ["web", "api", "database"]
    for slug, service in services.items():
        assert service.runbook == f"runbooks/{slug}.md"
        assert service.escalation_policy == "follow-the-sun"
        assert service.incident_commander == "schedule:secondary"
        assert service.owner
        assert service.integrations[0].type == "alertmanager"
    assert [(s.team, s.component) for s in services.values()] == [
        ("platform", "website"),
        ("platform", "api"),
        ("data", "data"),
    ]


def test_the_database_sev_1_is_primary_down(cli: Cli) -> None:
    cli.ok("apply", "-f", CONFIG)
    sev1 = cli.ok("service", "show", "database", "--json").json()["severity_definitions"]["SEV-1"]
    assert sev1 == {
        "definition": "Primary down; no writes anywhere",
        "example": "Database primary down",
    }


# --- runbooks ------------------------------------------------------------------------------------


def test_runbook_check_passes_for_all_three(cli: Cli) -> None:
    result = cli("runbook", "check", "-c", CONFIG)
    assert (result.code, result.stderr) == (0, "")
    assert result.stdout == "3 runbook(s): every service has one, in the seed's structure\n"


@pytest.mark.parametrize("service", ["web", "api", "database"])
def test_each_runbook_has_its_top_three_scenarios_with_commands(service: str) -> None:
    path = EXAMPLE / "runbooks" / f"{service}.md"
    book = runbook.parse(path.read_text(encoding="utf-8"))
    assert runbook.check(book, path=str(path), service=service) == []
    assert [s.slug for s in book.scenarios] == SCENARIOS[service]
    for scenario in book.scenarios:
        assert [step.number for step in scenario.steps] == list(range(1, len(scenario.steps) + 1))
        commands = [c for step in scenario.steps for c in step.commands]
        assert len(commands) >= 3, f"{service}#{scenario.slug} shows {commands}"


def test_nine_scenarios_in_all_and_the_seeds_nginx_story_is_one() -> None:
    books = {s: runbook.parse((EXAMPLE / "runbooks" / f"{s}.md").read_text()) for s in SCENARIOS}
    assert sum(len(b.scenarios) for b in books.values()) == 9
    story = runbook.scenario(books["web"], "all-502-errors")
    text = (EXAMPLE / "runbooks" / "web.md").read_text()
    assert "removed the\n`proxy_pass` directive" in text
    commands = [c for step in story.steps for c in step.commands]
    assert "kubectl -n web rollout undo deployment/web" in commands
    assert any("proxy_pass" in c and "nginx -T" in c for c in commands)


# --- schedules -----------------------------------------------------------------------------------

CHECK_PASSES = (
    "primary: covered around the clock for the next 90 days\n"
    "secondary: covered around the clock for the next 90 days\n"
)


def test_schedule_check_passes_as_the_readme_says(cli: Cli) -> None:
    result = cli("schedule", "check", "-c", CONFIG)
    assert (result.code, result.stdout, result.stderr) == (0, CHECK_PASSES, "")
    assert f"$ tocsin schedule check -c examples/three-tier/tocsin.yaml\n{CHECK_PASSES}" in README


def without_backstops(tmp_path: Path) -> str:
    """Return a copy of the example with the two backstop layers taken out."""
    text = (EXAMPLE / "tocsin.yaml").read_text(encoding="utf-8")
    stripped, removed = re.subn(r"      - name: backstop\b.*\n(?:        .*\n)+", "", text)
    assert removed == 2
    copy = tmp_path / "tocsin.yaml"
    copy.write_text(stripped, encoding="utf-8")
    (tmp_path / "runbooks").symlink_to(EXAMPLE / "runbooks")
    return str(copy)


def test_the_three_business_days_alone_leave_the_gap_hours_the_readme_states(
    tmp_path: Path, db_url: str
) -> None:
    config = without_backstops(tmp_path)

    def check(at: datetime, days: int) -> str:
        result = Cli(db_url, FixedClock(at))("schedule", "check", "-c", config, "--days", str(days))
        assert result.code == 1
        return result.stdout

    winter = check(datetime(2025, 1, 6, tzinfo=UTC), 1)
    assert "primary: 1 uncovered window(s) in the next 1 days, 2h00 in all" in winter
    assert "Mon 2025-01-06 22:00 UTC │ Tue 2025-01-07 00:00 UTC │ 2h00" in winter
    summer = check(datetime(2025, 7, 7, tzinfo=UTC), 1)
    assert "secondary: 1 uncovered window(s) in the next 1 days, 3h00 in all" in summer
    assert "Mon 2025-07-07 21:00 UTC │ Tue 2025-07-08 00:00 UTC │ 3h00" in summer
    # The US moves its clocks on 9 March 2025 (Europe not until the 30th): the gap grows then.
    spring = check(datetime(2025, 3, 8, tzinfo=UTC), 2)
    assert "Sat 2025-03-08 22:00 UTC │ Sun 2025-03-09 00:00 UTC │ 2h00" in spring
    assert "Sun 2025-03-09 21:00 UTC │ Mon 2025-03-10 00:00 UTC │ 3h00" in spring
    year = check(datetime(2025, 1, 1, tzinfo=UTC), 365)
    total = "365 uncovered window(s) in the next 365 days, 968h00 in all"
    assert f"primary: {total}" in year and f"secondary: {total}" in year
    assert f"`primary: {total}`" in README
    assert "**22:00-24:00 UTC (17:00-19:00 in New York, 07:00-09:00 in Tokyo), 2 hours" in README
    assert "**21:00-24:00 UTC (17:00-20:00 in New York, 06:00-09:00 in Tokyo), 3 hours" in README


def test_the_backstops_keep_shifts_in_one_piece(cli: Cli) -> None:
    def on_call(at: str) -> dict[str, list[str]]:
        found = cli.ok("oncall", "-c", CONFIG, "--at", at, "--json").json()
        return {row["schedule"]: row["users"] for row in found}

    # Winter: Bob is the US primary 09:00-19:00 New York time; Kenta the APAC secondary from
    # 07:00 Tokyo time (22:00 UTC the day before).
    assert on_call("2025-01-06T21:59Z")["primary"] == ["bob"]
    assert on_call("2025-01-06T23:59Z")["primary"] == ["bob"]
    assert on_call("2025-01-07T00:00Z")["primary"] == ["kenta"]
    assert on_call("2025-01-06T22:00Z")["secondary"] == ["hana"]
    assert on_call("2025-01-07T00:00Z")["secondary"] == ["hana"]
    shown = cli.ok(
        "schedule",
        "show",
        "primary",
        "-c",
        CONFIG,
        "--from",
        "2025-01-06T00:00",
        "--to",
        "2025-01-07T00:00",
        "--json",
    ).json()
    assert [(s["start"][11:16], s["end"][11:16], s["users"]) for s in shown] == [
        ("00:00", "08:00", ["kenta"]),
        ("08:00", "14:00", ["dmitri"]),
        ("14:00", "00:00", ["bob"]),
    ]
    assert "Kenta 00:00-08:00 UTC, Dmitri 08:00-14:00, Bob\n14:00-24:00" in README


# --- the README's alert --------------------------------------------------------------------------


def readme_curl() -> tuple[str, dict[str, object]]:
    """Return the path and the JSON body of the top-level README's test alert."""
    lines = [
        line for line in TOP_README.splitlines() if line.startswith("curl ") and "/hooks/" in line
    ]
    assert len(lines) == 1, lines
    assert f"\n{lines[0]}\n" in README  # the example's README fires the same alert
    words = shlex.split(lines[0].replace("$KEY", "KEY"))
    url = next(w for w in words if w.startswith("http://"))
    body = json.loads(words[words.index("-d") + 1])
    return url.removeprefix("http://127.0.0.1:8080"), body


def test_the_readme_curl_opens_a_sev_1_on_the_database_and_pages_the_primary(
    cli: Cli, db_url: str
) -> None:
    key = keys(cli.ok("apply", "-f", CONFIG).stdout)["database/alertmanager"]
    path, body = readme_curl()
    assert path == "/hooks/alertmanager/KEY"
    app = create_app(Settings(database_url=db_url), clock=FixedClock(T0), run_engine=False)
    with TestClient(app) as client:
        answer = client.post(path.replace("KEY", key), json=body)
    app.state.engine.dispose()
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"] == [
        {"fingerprint": "db-primary-down", "outcome": "opened", "incident": "INC-1"}
    ]
    shown = cli.ok("incident", "show", "INC-1").stdout
    assert "Severity: SEV-1\n" in shown and "Service: database\n" in shown
    assert "Runbook database#primary-down: Issue: Primary down" in shown
    # 10:30 UTC on a June Thursday is Berlin's day: Carol is primary that week, Dmitri
    # secondary and so the commander; naming him does not stop the page to Carol.
    assert "IC: Dmitri Volkov (@dmitri)\n" in shown
    assert "Acknowledged:" not in shown
    sent = cli.ok("incident", "notifications", "INC-1", "--json").json()
    assert ("carol", "console", "page") in {
        (n["user"], n["contact_method"], n["kind"]) for n in sent
    }


# --- the postmortem template ---------------------------------------------------------------------


def resolved_database_incident(cli: Cli) -> None:
    cli.ok("apply", "-f", CONFIG)
    cli.ok("incident", "declare", "Database primary down", "-s", "SEV-1", "-S", "database")
    cli.clock.advance(minutes=12)
    cli.ok("incident", "resolve", "INC-1", "Failed over to db-2", "--root-cause", "Disk full")


def test_the_example_template_overrides_the_shipped_one(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolved_database_incident(cli)
    monkeypatch.setenv("TOCSIN_TEMPLATE_DIR", str(TEMPLATES))
    drafted = cli.ok("postmortem", "draft", "INC-1").stdout
    assert drafted.startswith("# Postmortem: INC-1 Database primary down\n\n" + BLAMELESS_LINE)
    assert "- Services affected: database\n- Time to detection: " in drafted
    assert "## Runbook\n- [ ] The runbook of database has the steps" in drafted
    assert "(`tocsin postmortem runbook-updated INC-1` once it does)\n" in drafted
    # The template is blameless itself: the check finds nothing to warn about.
    assert cli("postmortem", "check", "INC-1").code == 0


def test_without_the_folder_the_shipped_template_drafts(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolved_database_incident(cli)
    monkeypatch.delenv("TOCSIN_TEMPLATE_DIR", raising=False)
    drafted = cli.ok("postmortem", "draft", "INC-1").stdout
    assert drafted.startswith("# Postmortem: INC-1 Database primary down\n\n## Incident Summary\n")
    assert BLAMELESS_LINE not in drafted


def test_the_store_takes_the_folder_from_settings_before_the_environment(
    cli: Cli, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolved_database_incident(cli)
    own = tmp_path / "own"
    own.mkdir()
    (own / "postmortem.md.j2").write_text("{{ ref }} on {{ services }}: {{ duration }}\n")
    monkeypatch.setenv("TOCSIN_TEMPLATE_DIR", str(TEMPLATES))
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        drafted = postmortems.draft(session, "INC-1", actor="alice", now=T0, template_dir=own)
        assert drafted.body == "INC-1 on database: 12 minutes\n"
    engine.dispose()


def test_a_broken_template_is_named_with_the_file_and_line(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolved_database_incident(cli)
    template = tmp_path / "postmortem.md.j2"
    monkeypatch.setenv("TOCSIN_TEMPLATE_DIR", str(tmp_path))
    template.write_text("# {{ ref }}\n\n{% for line in %}\n")
    result = cli("postmortem", "draft", "INC-1")
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr.startswith(
        f"error: {template}:3: cannot render the postmortem template: Expected an expression, "
    )
    template.write_text("# {{ ref }}\n\n{{ commander }}\n")
    result = cli("postmortem", "draft", "INC-1")
    assert result.stderr == (
        f"error: {template}: cannot render the postmortem template: 'commander' is undefined\n"
    )
    assert cli("postmortem", "show", "INC-1").code == 3  # nothing was stored


# --- make run -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_make_run_migrates_applies_the_example_and_serves(tmp_path: Path) -> None:
    """Run the Makefile's own `run` recipe, with a `tocsin` that logs and does not serve."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    log = tmp_path / "calls.log"
    real = Path(sys.executable).parent / "tocsin"
    fake = venv / "bin" / "tocsin"
    fake.write_text(
        "#!/bin/sh\n"
        'echo "TOCSIN_TEMPLATE_DIR=$TOCSIN_TEMPLATE_DIR TOCSIN_BASE_URL=$TOCSIN_BASE_URL'
        f' tocsin $*" >> {shlex.quote(str(log))}\n'
        '[ "$1" = serve ] && exit 0\n'
        f'exec {shlex.quote(str(real))} "$@"\n'
    )
    fake.chmod(0o755)
    (venv / ".installed").touch()  # newer than pyproject.toml: make installs nothing
    db = tmp_path / "tocsin.db"
    env = {**os.environ, "TOCSIN_DATABASE_URL": f"sqlite:///{db}", "COLUMNS": "132"}
    env.pop("TOCSIN_TEMPLATE_DIR", None)
    env.pop("TOCSIN_BASE_URL", None)

    def make_run() -> tuple[str, str]:
        done = subprocess.run(
            ["make", "-s", "run", f"VENV={venv}", "PORT=8099"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout, done.stderr

    first, said = make_run()
    assert "Applied examples/three-tier/tocsin.yaml: " in said
    templates = (
        f"TOCSIN_TEMPLATE_DIR={ROOT}/examples/three-tier/templates"
        " TOCSIN_BASE_URL=http://127.0.0.1:8099"
    )
    assert log.read_text().splitlines() == [
        f"{templates} tocsin db upgrade",
        f"{templates} tocsin init",
        f"{templates} tocsin apply -f examples/three-tier/tocsin.yaml",
        f"{templates} tocsin serve --host 127.0.0.1 --port 8099",
    ]
    assert re.search(r"^tsn_\S+$", first, re.MULTILINE), first  # the admin's token, once
    assert [(name, kind) for name, kind, _ in KEY_LINE.findall(first)] == INTEGRATIONS
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT count(*) FROM services").fetchone() == (3,)

    second, said = make_run()
    assert "Tocsin already has users; nothing to do." in said
    assert "examples/three-tier/tocsin.yaml: no changes" in said
    assert KEY_LINE.findall(second) == []
    assert "tsn_" not in second
    assert len(log.read_text().splitlines()) == 8
