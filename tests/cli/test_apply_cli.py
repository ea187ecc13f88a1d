"""`tocsin apply --dry-run / --prune` and `tocsin export`: the plan people read, and round trips."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.cli.conftest import Cli
from tests.conftest import T0
from tocsin.clock import FixedClock

HERE = Path(__file__).resolve().parent
RICH = HERE / "config_as_code"
FOLLOW_THE_SUN = HERE.parents[1] / "examples" / "follow-the-sun" / "tocsin.yaml"

# What the rich file creates on an empty database, in the order the applier works.
RICH_PLAN = [
    "update severity SEV-1",
    "update severity SEV-2",
    "update severity SEV-3",
    "update severity SEV-4",
    "create user alice",
    "create contact method alice/mail (email)",
    "create contact method alice/hook (webhook)",
    "update notification rules of alice",
    "create user bob",
    "create contact method bob/chat (slack)",
    "update notification rules of bob",
    "create user carol",
    "create component website",
    "create component api",
    "create team platform",
    "create team data",
    "create schedule primary",
    "create schedule secondary",
    "create escalation policy web-oncall",
    "create service web",
    "create integration web/alertmanager (alertmanager)",
    "create integration web/nightly-backup (heartbeat)",
    "create service api",
    "create integration api/pd (pagerduty)",
]


def rich_copy(tmp_path: Path) -> Path:
    """Return a writable copy of the rich config, runbooks beside it."""
    shutil.copytree(RICH, tmp_path / "config")
    return tmp_path / "config" / "tocsin.yaml"


def fresh_cli(tmp_path: Path, name: str) -> Cli:
    """Return a CLI on a second, empty SQLite database."""
    other = Cli(f"sqlite:///{tmp_path / name}", FixedClock(T0))
    other.ok("db", "upgrade")
    return other


def test_dry_run_prints_the_plan_and_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    config = rich_copy(tmp_path)
    empty = cli.ok("export").stdout
    dry = cli.ok("apply", "-f", str(config), "--dry-run")
    assert dry.stdout.splitlines() == RICH_PLAN
    assert "key=" not in dry.stdout + dry.stderr
    assert dry.stderr == f"Dry run of {config}: 24 change(s), none made\n"
    assert cli.ok("export").stdout == empty
    assert cli.ok("user", "list", "--json").json() == []
    assert cli.ok("integration", "list", "--json").json() == []

    real = cli.ok("apply", "-f", str(config))
    lines = real.stdout.splitlines()
    assert [line.split(" key=")[0] for line in lines] == RICH_PLAN
    keys = [line.split(" key=")[1] for line in lines if " key=" in line]
    assert [len(key) for key in keys] == [32, 32, 32]
    assert real.stderr == f"Applied {config}: 24 change(s)\n"

    for args in (["apply", "-f", str(config)], ["apply", "-f", str(config), "--dry-run"]):
        again = cli.ok(*args)
        assert (again.stdout, again.stderr) == ("", f"{config}: no changes\n")
    exported = cli.ok("export", "--include-secrets").stdout
    assert not any(key in exported for key in keys)


def test_dry_run_of_an_edit_names_the_fields_and_keeps_the_database(
    cli: Cli, tmp_path: Path
) -> None:
    config = rich_copy(tmp_path)
    cli.ok("apply", "-f", str(config))
    before = cli.ok("export").stdout
    text = config.read_text()
    edited = (
        text.replace("    team: platform\n    component: website\n", "    component: api\n")
        .replace("members: [alice, bob]", "members: [bob, alice]")
        .replace("ack_timeout: 30m", "ack_timeout: 1h")
        .replace("{type: pagerduty, name: pd}", "{type: opsgenie, name: pd}")
        .replace("  - slug: api\n    name: Public API\n", "")
        .replace("  - slug: website\n", "  - slug: api\n    name: Public API\n  - slug: website\n")
    )
    config.write_text(edited)
    plan = [
        "update component api (position)",
        "update component website (position)",
        "update team platform (members)",
        "update service web (team, component, ack_timeout)",
        "update integration api/pd (type)",
    ]
    dry = cli.ok("apply", "-f", str(config), "--dry-run")
    assert dry.stdout.splitlines() == plan
    assert cli.ok("export").stdout == before
    assert cli.ok("apply", "-f", str(config)).stdout.splitlines() == plan
    after = cli.ok("export").stdout
    assert "components:\n- {slug: api, name: Public API}\n- {slug: website," in after
    assert "- slug: platform\n  name: Platform\n  members: [bob, alice]\n" in after
    assert cli.ok("apply", "-f", str(config)).stdout == ""


def test_bad_teams_and_components_are_all_named_and_nothing_is_applied(
    cli: Cli, tmp_path: Path
) -> None:
    config = tmp_path / "tocsin.yaml"
    config.write_text(
        "users:\n"
        "  - {handle: alice}\n"
        "teams:\n"
        "  - slug: platform\n"
        "    members: [alice, zed, alice]\n"
        "  - {slug: Platform Team}\n"
        "  - {slug: platform}\n"
        "components:\n"
        "  - {slug: website}\n"
        "  - {slug: website, name: Web site}\n"
        "services:\n"
        "  - slug: web\n"
        "    team: platfrom\n"
        "    component: websit\n"
    )
    result = cli("apply", "-f", str(config), "--dry-run")
    assert result.code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {config}:3: teams: 'platform' is listed 2 times",
        f"error: {config}:8: components: 'website' is listed 2 times",
        f"error: {config}:5: teams[0].members[1]: unknown user 'zed'",
        f"error: {config}:5: teams[0].members[2]: 'alice' is listed twice",
        f"error: {config}:6: teams[1].slug: 'Platform Team' is not a valid slug",
        f"error: {config}:13: services[0].team: unknown team 'platfrom'",
        f"error: {config}:14: services[0].component: unknown component 'websit'",
    ]
    assert cli("apply", "-f", str(config)).stderr == result.stderr
    assert cli.ok("user", "list", "--json").json() == []


def test_prune_deletes_exactly_what_the_file_leaves_out(cli: Cli, tmp_path: Path) -> None:
    config = rich_copy(tmp_path)
    cli.ok("apply", "-f", str(config))
    extra = tmp_path / "extra.yaml"
    extra.write_text(
        "users: [{handle: zed}, {handle: dan}]\n"
        "teams: [{slug: retired, members: [zed]}]\n"
        "components: [{slug: docs}]\n"
        "schedules:\n"
        "  - {name: old-rota, time_zone: UTC, layers: [{name: a, rotation: 1 day,"
        " start: 2024-01-01T00:00, participants: [zed]}]}\n"
        "escalation_policies: [{name: old-policy, levels: [{targets: ['user:zed']}]}]\n"
        "services: [{slug: legacy, escalation_policy: old-policy}]\n"
    )
    cli.ok("apply", "-f", str(extra))
    cli.ok("integration", "add", "web", "--type", "generic", "--name", "by-hand")
    cli.ok("override", "add", "primary", "--user", "bob", "--from", "2024-07-01T09:00", "--to",
           "2024-07-02T09:00")  # fmt: skip
    cli.ok("override", "add", "secondary", "--user", "bob", "--from", "2024-07-01T09:00", "--to",
           "2024-07-02T09:00")  # fmt: skip
    cli.ok("token", "create", "--user", "dan", "--scope", "read")

    assert cli.ok("apply", "-f", str(config)).stdout == ""  # without --prune nothing goes
    plan = [
        "delete override primary/bob (2024-07-01T07:00Z..2024-07-02T07:00Z)",
        "delete integration web/by-hand (generic)",
        "delete service legacy",
        "delete escalation policy old-policy",
        "delete schedule old-rota",
        "delete team retired",
        "delete component docs",
        "delete user zed",
    ]
    warning = (
        "warning: kept user dan, who is not in the file: still referred to by their API tokens\n"
    )
    dry = cli.ok("apply", "-f", str(config), "--prune", "--dry-run")
    assert dry.stdout.splitlines() == plan
    assert dry.stderr == warning + f"Dry run of {config}: 8 change(s), none made\n"
    assert "legacy" in cli.ok("export").stdout

    pruned = cli.ok("apply", "-f", str(config), "--prune")
    assert pruned.stdout.splitlines() == plan
    assert pruned.stderr == warning + f"Applied {config}: 8 change(s)\n"
    again = cli.ok("apply", "-f", str(config), "--prune")
    assert (again.stdout, again.stderr) == ("", warning + f"{config}: no changes\n")
    assert [u["handle"] for u in cli.ok("user", "list", "--json").json()] == [
        "alice",
        "bob",
        "carol",
        "dan",
    ]
    # The schedule without `overrides:` in the file keeps the one added by hand.
    assert len(cli.ok("override", "list", "secondary", "--json").json()) == 1
    assert cli.ok("override", "list", "primary", "--json").json()[0]["user"] == "carol"


def test_prune_refuses_to_delete_a_service_that_incidents_name(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "tocsin.yaml"
    config.write_text("users: [{handle: alice}]\nservices:\n  - slug: web\n  - slug: db\n")
    cli.ok("apply", "-f", str(config))
    cli.ok("incident", "declare", "Disk full", "-s", "SEV-2", "-S", "db")
    config.write_text("users: [{handle: alice}, {handle: bob}]\nservices:\n  - slug: web\n")
    result = cli("apply", "-f", str(config), "--prune")
    assert result.code == 2
    assert result.stderr == (
        f"error: {config}:2: services: --prune cannot delete service 'db': incidents name it "
        "(INC-1); keep it in the file\n"
    )
    assert [u["handle"] for u in cli.ok("user", "list", "--json").json()] == ["alice"]
    assert cli.ok("apply", "-f", str(config)).stdout == "create user bob\n"


def test_prune_leaves_sections_the_file_does_not_write(cli: Cli, tmp_path: Path) -> None:
    config = rich_copy(tmp_path)
    cli.ok("apply", "-f", str(config))
    only_users = tmp_path / "users.yaml"
    only_users.write_text("users: [{handle: alice, name: Alice Adams}, {handle: bob}]\n")
    result = cli.ok("apply", "-f", str(only_users), "--prune")
    # Teams, schedules, policies and services are not in this file, so they stay, and carol
    # with them since they name her.
    assert result.stdout.splitlines() == [
        "update user alice (time_zone, role)",
        "update user bob (name)",
    ]
    assert result.stderr.splitlines()[0] == (
        "warning: kept user carol, who is not in the file: still referred to by schedule "
        "primary, schedule secondary, escalation policy web-oncall, team data"
    )
    cli.ok("apply", "-f", str(config))  # put alice back as she was
    assert cli.ok("apply", "-f", str(only_users), "--prune").stdout.splitlines() == [
        "update user alice (time_zone, role)",
        "update user bob (name)",
    ]
