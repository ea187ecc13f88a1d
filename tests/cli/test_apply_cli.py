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
    "create webhook chatops",
    "create schedule primary",
    "create schedule secondary",
    "create team platform",
    "create team data",
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


def refused(cli: Cli, config: Path) -> list[str]:
    """Return the problems a dry run and a real apply of `config` both refuse it with, once
    checked that neither printed a plan nor created anything."""
    result = cli("apply", "-f", str(config), "--dry-run")
    assert result.code == 2
    assert result.stdout == ""
    assert cli("apply", "-f", str(config)).stderr == result.stderr
    assert cli.ok("user", "list", "--json").json() == []
    return result.stderr.splitlines()


def test_dry_run_prints_the_plan_and_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    config = rich_copy(tmp_path)
    empty = cli.ok("export").stdout
    dry = cli.ok("apply", "-f", str(config), "--dry-run")
    assert dry.stdout.splitlines() == RICH_PLAN
    assert "key=" not in dry.stdout + dry.stderr
    assert dry.stderr == f"Dry run of {config}: 25 change(s), none made\n"
    assert cli.ok("export").stdout == empty
    assert cli.ok("user", "list", "--json").json() == []
    assert cli.ok("integration", "list", "--json").json() == []

    real = cli.ok("apply", "-f", str(config))
    lines = real.stdout.splitlines()
    assert [line.split(" key=")[0] for line in lines] == RICH_PLAN
    keys = [line.split(" key=")[1] for line in lines if " key=" in line]
    assert [len(key) for key in keys] == [32, 32, 32]
    assert real.stderr == f"Applied {config}: 25 change(s)\n"

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
        .replace("ack_timeout: 30m", "ack_timeout: 1h\n    auto_resolve: true")
        .replace("{type: pagerduty, name: pd}", "{type: opsgenie, name: pd}")
        .replace("  - slug: api\n    name: Public API\n", "")
        .replace("  - slug: website\n", "  - slug: api\n    name: Public API\n  - slug: website\n")
    )
    config.write_text(edited)
    plan = [
        "update component api (position)",
        "update component website (position)",
        "update team platform (members)",
        "update service web (team, component, ack_timeout, auto_resolve)",
        "update integration api/pd (type)",
    ]
    dry = cli.ok("apply", "-f", str(config), "--dry-run")
    assert dry.stdout.splitlines() == plan
    assert cli.ok("export").stdout == before
    assert cli.ok("apply", "-f", str(config)).stdout.splitlines() == plan
    after = cli.ok("export").stdout
    assert "components:\n  - {slug: api, name: Public API}\n  - {slug: website," in after
    assert "  - slug: platform\n    name: Platform\n    members: [bob, alice]\n" in after
    assert "    ack_timeout: 1h\n    auto_resolve: true\n" in after
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
    assert refused(cli, config) == [
        f"error: {config}:3: teams: 'platform' is listed 2 times",
        f"error: {config}:8: components: 'website' is listed 2 times",
        f"error: {config}:5: teams[0].members[1]: unknown user 'zed'",
        f"error: {config}:5: teams[0].members[2]: 'alice' is listed twice",
        f"error: {config}:6: teams[1].slug: 'Platform Team' is not a valid slug",
        f"error: {config}:13: services[0].team: unknown team 'platfrom'",
        f"error: {config}:14: services[0].component: unknown component 'websit'",
    ]


def test_bad_team_and_webhook_targets_are_all_named_and_nothing_is_applied(
    cli: Cli, tmp_path: Path
) -> None:
    config = tmp_path / "tocsin.yaml"
    config.write_text(
        "users:\n"
        "  - {handle: alice}\n"
        "teams:\n"
        "  - {slug: dba, members: [alice], schedule: dba-rota}\n"
        "webhooks:\n"
        "  - {name: chatops, url: 'ftp://chat.example.com/hook', secret: s3cret}\n"
        "  - {name: ticket, url: 'https://tickets.example.com/new'}\n"
        "  - {name: Pager Bot, url: 'https://x.example.com', secret: '', timeout: 2m}\n"
        "escalation_policies:\n"
        "  - name: db-oncall\n"
        "    levels:\n"
        "      - targets: ['team:dba', 'team:dbas']\n"
        "        delay: 5m\n"
        "      - targets: ['webhook:chatops', 'webhook:tickets', 'user:alice']\n"
    )
    assert refused(cli, config) == [
        f"error: {config}:4: teams[0].schedule: unknown schedule 'dba-rota'",
        f"error: {config}:6: webhooks[0].url: the webhook URL must be an absolute http:// or "
        "https:// URL, got 'ftp://chat.example.com/hook'",
        f"error: {config}:7: webhooks[1].secret: a new webhook needs the secret its receiver "
        "checks signatures with",
        f"error: {config}:8: webhooks[2].name: 'Pager Bot' is not a valid name: lowercase "
        "letters, digits and dashes",
        f"error: {config}:8: webhooks[2].secret: must not be empty",
        f"error: {config}:8: webhooks[2].timeout: '2m' must be from 1s to 30s",
        f"error: {config}:12: escalation_policies[0].levels[0].targets[1]: unknown team 'dbas'",
        f"error: {config}:14: escalation_policies[0].levels[1].targets[1]: unknown webhook "
        "'tickets'",
    ]


def test_prune_keeps_a_team_and_a_webhook_a_policy_outside_the_file_names(
    cli: Cli, tmp_path: Path
) -> None:
    config = rich_copy(tmp_path)
    cli.ok("apply", "-f", str(config))
    only = tmp_path / "only.yaml"
    only.write_text(
        "teams: [{slug: platform, name: Platform, members: [alice, bob]}]\nwebhooks: []\n"
    )
    result = cli("apply", "-f", str(only), "--prune")
    assert result.code == 2
    assert result.stderr.splitlines() == [
        f"error: {only}:1: teams: --prune cannot delete team 'data': escalation policy "
        "web-oncall, which the file does not describe, still names it",
        f"error: {only}:2: webhooks: --prune cannot delete webhook 'chatops': escalation policy "
        "web-oncall, which the file does not describe, still names it",
    ]


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
        "delete team retired",
        "delete schedule old-rota",
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
    only_users.write_text(
        "users: [{handle: alice, name: Alice Adams, role: admin}, {handle: bob}]\n"
    )
    result = cli.ok("apply", "-f", str(only_users), "--prune")
    # Teams, schedules, policies and services are not in this file, so they stay, and carol
    # with them since they name her.
    assert result.stdout.splitlines() == [
        "update user alice (time_zone)",
        "update user bob (name)",
    ]
    assert result.stderr.splitlines()[0] == (
        "warning: kept user carol, who is not in the file: still referred to by schedule "
        "primary, schedule secondary, escalation policy web-oncall, team data"
    )
    cli.ok("apply", "-f", str(config))  # put alice back as she was
    assert cli.ok("apply", "-f", str(only_users), "--prune").stdout.splitlines() == [
        "update user alice (time_zone)",
        "update user bob (name)",
    ]
    # Without `role: admin` the file would leave nobody to administer Tocsin: refused whole.
    only_users.write_text("users: [{handle: alice, name: Alice Adams}, {handle: bob}]\n")
    refused = cli("apply", "-f", str(only_users))
    assert refused.code != 0
    assert "would leave no enabled administrator (@alice would lose the role)" in refused.stderr


FOLLOW_THE_SUN_EXPORT = """\
# Written by `tocsin export`; apply it with `tocsin apply -f`.
users:
  - {handle: ana, name: Ana Souza, time_zone: America/New_York}
  - {handle: ben, name: Ben Carter, time_zone: America/New_York}
  - {handle: clara, name: Clara Weber, time_zone: Europe/Berlin}
  - {handle: dirk, name: Dirk Jansen, time_zone: Europe/Berlin}
  - {handle: emi, name: Emi Tanaka, time_zone: Asia/Tokyo}
  - {handle: kenji, name: Kenji Mori, time_zone: Asia/Tokyo}

severities:
  - name: SEV-1
    definition: Complete outage, all users affected
    response_time: 5m
    example: Database primary down
    update_cadence: 15m
    notify_executives: true
  - name: SEV-2
    definition: Major feature degraded, partial outage
    response_time: 15m
    example: API latency > 5s
    update_cadence: 30m
  - name: SEV-3
    definition: Minor issue, workaround available
    response_time: 1h
    example: UI display bug
    update_cadence: 2h
  - name: SEV-4
    definition: Cosmetic, no user impact
    response_time: next business day
    example: Documentation error

schedules:
  - name: follow-the-sun
    time_zone: UTC
    description: US, EU and APAC each cover their own business day.
    layers:
      - name: apac
        time_zone: Asia/Tokyo
        rotation: 1 week
        start: 2021-01-04T09:00
        participants: [emi, kenji]
        restrictions:
          - {from: "09:00", to: "17:00"}
      - name: eu
        time_zone: Europe/Berlin
        rotation: 1 week
        start: 2021-01-04T09:00
        participants: [clara, dirk]
        restrictions:
          - {from: "09:00", to: "17:00"}
      - name: us
        time_zone: America/New_York
        rotation: 1 week
        start: 2021-01-04T09:00
        participants: [ana, ben]
        restrictions:
          - {from: "09:00", to: "17:00"}
"""


def test_export_of_follow_the_sun_applies_back_with_no_changes(cli: Cli, tmp_path: Path) -> None:
    cli.ok("apply", "-f", str(FOLLOW_THE_SUN))
    exported = cli.ok("export")
    assert (exported.stdout, exported.stderr) == (FOLLOW_THE_SUN_EXPORT, "")
    again = tmp_path / "tocsin.yaml"
    again.write_text(exported.stdout)
    result = cli.ok("apply", "-f", str(again))
    assert (result.stdout, result.stderr) == ("", f"{again}: no changes\n")
    assert cli.ok("export").stdout == FOLLOW_THE_SUN_EXPORT


def test_export_round_trips_every_section_and_keeps_secrets_out_unless_asked(
    cli: Cli, tmp_path: Path
) -> None:
    config = rich_copy(tmp_path)
    cli.ok("apply", "-f", str(config))
    exported = config.with_name("exported.yaml")  # beside the runbooks it names
    written = cli.ok("export", "-o", str(exported))
    assert written.stdout == ""
    assert written.stderr == f"Wrote {exported}\n"
    text = exported.read_text()
    assert text.startswith(
        "# Written by `tocsin export`; apply it with `tocsin apply -f`.\n"
        "# Runbook paths are as they were applied: relative to the folder of the file that "
        "named them.\n"
        "# This file contains secrets (webhook signing secrets, Slack URLs): keep it out of "
        "public places.\n"
        "users:\n"
    )
    assert "s3cret-alice" not in text  # apply keeps the stored secret when the file has none
    assert "url: https://hooks.slack.com/services/T0/B0/bob\n" in text
    assert (
        "    runbook: runbooks/web.md\n"
        "    runbook_rules:\n"
        "      - match: {alertname: Http502}\n"
        "        scenario: all-502-errors\n"
        "    integrations:\n"
        "      - {type: alertmanager}\n"
        "      - {type: heartbeat, name: nightly-backup, interval: 26h}\n"
    ) in text
    assert "    team: platform\n    component: website\n" in text
    result = cli.ok("apply", "-f", str(exported))
    assert (result.stdout, result.stderr) == ("", f"{exported}: no changes\n")
    assert cli.ok("export").stdout == text
    assert "      - {name: hook, type: webhook, url: 'https://hooks.example.com/alice'}\n" in text
    assert "  - slug: data\n    members: [carol]\n    schedule: secondary\n" in text
    assert (
        "webhooks:\n  - {name: chatops, url: 'https://chat.example.com/tocsin', timeout: 10s}\n"
    ) in text
    assert "s3cret-chatops" not in text
    assert "      - targets: ['user:carol', 'team:data', 'webhook:chatops']\n" in text
    secret = cli.ok("export", "--include-secrets").stdout
    assert (
        "      - name: hook\n"
        "        type: webhook\n"
        "        url: https://hooks.example.com/alice\n"
        "        secret: s3cret-alice\n"
    ) in secret
    assert "    secret: s3cret-chatops\n" in secret


def test_an_export_with_its_secrets_rebuilds_a_fresh_database(cli: Cli, tmp_path: Path) -> None:
    config = rich_copy(tmp_path)
    cli.ok("apply", "-f", str(config))
    exported = config.with_name("exported.yaml")
    cli.ok("export", "--include-secrets", "-o", str(exported))
    fresh = fresh_cli(tmp_path, "fresh.db")
    rebuilt = fresh.ok("apply", "-f", str(exported)).stdout.splitlines()
    assert len([line for line in rebuilt if " key=" in line]) == 3  # new keys for a new home
    assert fresh.ok("export", "--include-secrets").stdout == exported.read_text()


def test_export_elsewhere_warns_that_the_runbook_is_not_beside_it(cli: Cli, tmp_path: Path) -> None:
    cli.ok("apply", "-f", str(rich_copy(tmp_path)))
    elsewhere = tmp_path / "elsewhere.yaml"
    result = cli.ok("export", "-o", str(elsewhere))
    assert result.stderr == (
        f"warning: {elsewhere}: services[1].runbook: no runbooks/web.md beside this file; "
        "copy the runbook there before applying it\n"
        f"Wrote {elsewhere}\n"
    )
    refused = cli("apply", "-f", str(elsewhere))
    assert refused.code == 2
    assert refused.stderr.endswith("services[1].runbook: no runbook file at 'runbooks/web.md'\n")
    missing_dir = cli("export", "-o", str(tmp_path / "nope" / "x.yaml"))
    assert (missing_dir.code, missing_dir.stderr) == (
        2,
        f"error: cannot write {tmp_path / 'nope' / 'x.yaml'}: No such file or directory\n",
    )
