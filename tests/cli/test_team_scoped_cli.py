"""A team token at the CLI: `tocsin apply` changes that team's objects only, and says which it
refused; --prune deletes nothing of another team."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.conftest import Cli
from tests.services.test_team_roles_matrix import SETUP

TEAM_FILE = """
users:
  - {handle: eve, name: Eve}
services:
  - {slug: pay-api, team: pay, description: Payments, escalation_policy: pay-policy}
  - {slug: pay-web, team: pay}
  - {slug: ops-api, team: ops, description: Taken over}
  - {slug: stolen, team: ops}
"""


def _token(cli: Cli, *args: str) -> str:
    made = cli.ok("token", "create", *args).stdout
    found = re.search(r"tsn_\S+", made)
    assert found is not None, made
    return found.group(0)


def _setup(cli: Cli, tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(SETUP)
    cli.ok("apply", "-f", str(base))
    cli.ok("incident", "declare", "Payments down", "-s", "SEV-2", "-S", "pay-api")
    cli.ok("incident", "declare", "Ops down", "-s", "SEV-2", "-S", "ops-api")


def test_apply_with_a_team_token_changes_only_the_teams_objects(cli: Cli, tmp_path: Path) -> None:
    _setup(cli, tmp_path)
    token = _token(cli, "--user", "tia", "--name", "pay-ci", "--team", "pay")
    path = tmp_path / "pay.yaml"
    path.write_text(TEAM_FILE)

    result = cli("--token", token, "apply", "-f", str(path))
    assert result.code == 5, result.stderr
    assert result.stdout.splitlines() == [
        "update service pay-api (description)",
        "create service pay-web",
    ], result.stderr
    refused = [line for line in result.stderr.splitlines() if line.startswith("refused: ")]
    assert refused == [
        f"refused: {path}: users: @tia may not change user 'eve': only administrators change users",
        f"refused: {path}: services: @tia may not change service 'ops-api' (team ops): the token"
        " is scoped to team pay",
        f"refused: {path}: services: @tia may not change service 'stolen' (team ops): the token"
        " is scoped to team pay",
    ]
    assert "Applied" in result.stderr and "3 refused" in result.stderr
    services = {s["slug"]: s for s in cli.ok("service", "list", "--json").json()}
    assert services["ops-api"]["description"] == ""
    table = cli.ok("service", "list").stdout
    assert re.search(r"│ ops-api\s+│ ops-api\s+│ -\s+│ ops\s+│", table), table
    assert "stolen" not in services and "eve" not in cli.ok("user", "list").stdout
    # The audit log names the person and the token.
    entry = cli.ok("audit", "list", "--object", "service:pay-web", "--json").json()["entries"][0]
    assert (entry["who"], entry["via"]) == ("tia", "apply")
    assert entry["detail"].endswith("token 'pay-ci'")


def test_prune_with_a_team_token_deletes_only_the_teams_rows(cli: Cli, tmp_path: Path) -> None:
    _setup(cli, tmp_path)
    token = _token(cli, "--user", "ada", "--name", "pay-ci", "--team", "pay")
    path = tmp_path / "pay.yaml"
    path.write_text("services:\n  - {slug: pay-web, team: pay}\n")
    result = cli("--token", token, "apply", "--prune", "-f", str(path))
    # pay-api is the team's, but an incident names it: prune refuses, and applies nothing.
    assert result.code == 2
    assert "--prune cannot delete service 'pay-api'" in result.stderr
    assert "ops-api" not in result.stderr  # not the team's: not even considered
    cli.ok("incident", "declare", "Web down", "-s", "SEV-3")
    path.write_text(
        "services:\n  - {slug: pay-api, team: pay, escalation_policy: pay-policy}\n"
        "escalation_policies:\n  - {name: pay-policy, team: pay, levels: [{targets: [user:tia]}]}\n"
    )
    cli.ok("--token", token, "apply", "-f", str(path))
    path.write_text(path.read_text().replace("{slug: pay-api,", "{slug: pay-api, name: Pay,"))
    pruned = cli("--token", token, "apply", "--prune", "-f", str(path))
    assert pruned.code == 0, pruned.stderr
    # The team's other rows would go; the other team's stay: ops-api, ops-policy.
    assert pruned.stdout.splitlines() == ["update service pay-api (name)"]
    slugs = {s["slug"] for s in cli.ok("service", "list", "--json").json()}
    assert slugs == {"pay-api", "ops-api"}
    names = {p["name"] for p in cli.ok("policy", "list", "--json").json()}
    assert names == {"pay-policy", "ops-policy"}


def test_a_team_token_cannot_be_made_for_someone_outside_the_team_nor_administer(
    cli: Cli, tmp_path: Path
) -> None:
    _setup(cli, tmp_path)
    outsider = cli("token", "create", "--user", "rex", "--team", "pay")
    assert outsider.code == 2
    assert outsider.stderr == "error: @rex is not in team 'pay'\n"
    admin = cli("token", "create", "--user", "ada", "--team", "pay", "--scope", "admin")
    assert admin.code == 2
    assert "beyond what a token of team 'pay' for @ada allows (at most: " in admin.stderr
    # A viewer who is in a team may have a token that writes; one in no team may not.
    cli.ok("token", "create", "--user", "tom", "--scope", "write")
    assert cli("token", "create", "--user", "viv", "--scope", "write").code == 2
    # Acting with a team token outside the team is refused, with the reason.
    token = _token(cli, "--user", "ada", "--name", "pay-ci", "--team", "pay")
    note = cli("--token", token, "incident", "note", "INC-2", "from pay")
    assert note.code == 5
    assert note.stderr.startswith(
        "error: @ada may not respond to incident 'INC-2' (team ops): the token is scoped"
        " to team pay"
    )
    cli.ok("--token", token, "incident", "note", "INC-1", "from pay")


def test_a_team_admin_routes_alerts_only_into_services_they_manage(
    cli: Cli, tmp_path: Path
) -> None:
    _setup(cli, tmp_path)
    token = _token(cli, "--user", "tia", "--name", "pay-ci", "--team", "pay")
    path = tmp_path / "pay.yaml"
    routes = (
        "services:\n"
        "  - slug: pay-api\n"
        "    team: pay\n"
        "    escalation_policy: pay-policy\n"
        "    routes:\n"
        "      - {{match: '{{env=\"dev\"}}', drop: true}}\n"
        "      - {{match: '{{team=\"x\"}}', service: {target}}}\n"
    )
    path.write_text(routes.format(target="ops-api"))
    into_ops = cli("--token", token, "apply", "-f", str(path))
    assert into_ops.code == 5
    assert into_ops.stderr == (
        "error: @tia may not change routing rule 'pay-api to ops-api' (team ops): the token is"
        " scoped to team pay\n"
    )
    assert cli.ok("service", "show", "pay-api", "--json").json()["routes"] == []
    # Into a service of the team's own: applied.
    path.write_text(routes.format(target="pay-web") + "  - {slug: pay-web, team: pay}\n")
    cli.ok("--token", token, "apply", "-f", str(path))
    shown = cli.ok("service", "show", "pay-api", "--json").json()["routes"]
    assert [r.get("service") for r in shown] == [None, "pay-web"]


def test_one_file_for_every_team_applies_quietly_where_it_changes_nothing_out_of_reach(
    cli: Cli, tmp_path: Path
) -> None:
    _setup(cli, tmp_path)
    token = _token(cli, "--user", "tia", "--name", "pay-ci", "--team", "pay")
    path = tmp_path / "all.yaml"
    path.write_text(
        SETUP.replace(
            "pay-rota\n    team: pay\n", "pay-rota\n    team: pay\n    description: Pay\n"
        )
    )
    result = cli("--token", token, "apply", "-f", str(path))
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == ["update schedule pay-rota (description)"]
    assert "refused" not in result.stderr
    # The same file changing the other team's schedule too: that part is refused, and said.
    path.write_text(
        path.read_text().replace(
            "ops-rota\n    team: ops\n", "ops-rota\n    team: ops\n    description: Ops\n"
        )
    )
    again = cli("--token", token, "apply", "-f", str(path))
    assert again.code == 5
    assert [line for line in again.stderr.splitlines() if line.startswith("refused")] == [
        f"refused: {path}: schedules: @tia may not change schedule 'ops-rota' (team ops): the"
        " token is scoped to team pay"
    ]


def test_a_dry_run_refuses_what_the_apply_would(cli: Cli, tmp_path: Path) -> None:
    _setup(cli, tmp_path)
    token = _token(cli, "--user", "tia", "--name", "pay-ci", "--team", "pay")
    path = tmp_path / "pay.yaml"
    path.write_text(
        "services:\n"
        "  - slug: pay-api\n"
        "    team: pay\n"
        "    routes: [{match: '{team=\"x\"}', service: ops-api}]\n"
    )
    dry = cli("--token", token, "apply", "--dry-run", "-f", str(path))
    real = cli("--token", token, "apply", "-f", str(path))
    assert dry.code == real.code == 5
    assert dry.stderr == real.stderr
    assert "may not change routing rule 'pay-api to ops-api'" in dry.stderr


def test_a_token_that_only_reads_changes_nothing_at_the_cli(cli: Cli, tmp_path: Path) -> None:
    _setup(cli, tmp_path)
    token = _token(cli, "--user", "ada", "--name", "audit", "--scope", "read")
    listed = cli.ok("--token", token, "incident", "list")
    assert "Payments down" in listed.stdout
    note = cli("--token", token, "incident", "note", "INC-1", "x")
    assert note.code == 5
    assert "the token only reads (its scopes: read)" in note.stderr
    made = cli("--token", token, "token", "create", "--user", "ada", "--name", "more")
    assert made.code == 5
    assert len(cli.ok("token", "list", "--json").json()) == 1
