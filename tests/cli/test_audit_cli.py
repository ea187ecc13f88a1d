"""The audit log as an operator reads it: `tocsin audit list` after changes from the CLI and
from `tocsin apply`, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

from tests.cli.conftest import Cli

CONFIG = Path(__file__).parent / "config_as_code"


def entries(cli: Cli, *filters: str) -> list[dict[str, Any]]:
    """Return every entry the filters match, newest first, following the cursors."""
    found: list[dict[str, Any]] = []
    cursor: list[str] = []
    while True:
        answer = cli.ok("audit", "list", "--json", "--limit", "7", *filters, *cursor).json()
        found += answer["entries"]
        if answer["next_cursor"] is None:
            return found
        cursor = ["--cursor", answer["next_cursor"]]


def copy_config(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG, target)
    return target / "tocsin.yaml"


def test_apply_records_every_kind_it_writes_as_the_file_and_its_hash(
    cli: Cli, tmp_path: Path
) -> None:
    cli.ok("db", "upgrade")
    path = copy_config(tmp_path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    cli.ok("apply", "-f", str(path))

    found = entries(cli)
    assert {e["object_type"] for e in found} == {
        "user",
        "contact method",
        "notification rule",
        "team",
        "team member",
        "status component",
        "severity",
        "schedule",
        "schedule layer",
        "override",
        "escalation policy",
        "webhook",
        "service",
        "integration",
    }
    assert {(e["who"], e["via"], e["detail"]) for e in found} == {
        ("alice", "apply", f"{path} sha256:{digest}")
    }
    # Everything is new but the severity scale, which a new database starts with.
    assert {e["action"] for e in found if e["object_type"] != "severity"} == {"created"}
    assert {(e["action"], e["object_key"]) for e in found if e["object_type"] == "severity"} == {
        ("changed", "SEV-1"),
        ("changed", "SEV-2"),
        ("changed", "SEV-3"),
        ("changed", "SEV-4"),
    }
    by_key = {(e["object_type"], e["object_key"]): e["changes"] for e in found}
    assert by_key[("user", "alice")]["role"] == [None, "admin"]
    # References read as names, not ids.
    assert by_key[("team member", "platform/@bob")] == {
        "team": [None, "platform"],
        "user": [None, "bob"],
        "position": [None, 1],
        "role": [None, "responder"],
    }
    assert by_key[("service", "web")]["escalation_policy"] == [None, "web-oncall"]
    # Secrets say only that they were set.
    assert by_key[("webhook", "chatops")]["secret"] == [None, "(secret)"]
    assert by_key[("contact method", "@alice/hook")]["secret"] == [None, "(secret)"]
    assert by_key[("integration", "web/alertmanager")]["key_hash"] == [None, "(secret)"]
    # An incoming-webhook URL carries its token in its path: scheme and host only.
    assert by_key[("webhook", "chatops")]["url"] == [None, "https://chat.example.com/..."]
    assert by_key[("contact method", "@alice/hook")]["target"] == [
        None,
        "https://hooks.example.com/...",
    ]
    listed = cli.ok("audit", "list", "--json", "--limit", "1000").stdout
    assert "s3cret" not in listed

    # The same file again changes nothing, and says so in the log too: the severity scale,
    # rewritten whole, is not recorded as deleted and created again.
    cli.ok("apply", "-f", str(path))
    assert len(entries(cli)) == len(found)

    # A changed file: what changed, field by field; what the file no longer lists, deleted.
    text = path.read_text()
    # The file would demote its only administrator: refused, and nothing recorded.
    demoting = text.replace("    role: admin\n", "    role: responder\n", 1)
    path.write_text(demoting)
    refused = cli("apply", "-f", str(path))
    assert refused.code != 0 and "would leave no enabled administrator" in refused.stderr
    assert len(entries(cli)) == len(found)
    text = text.replace("name: Alice Adams", "name: Alice A. Adams", 1)
    text = text.replace("members: [alice, bob]", "members: [alice]")
    text = text.replace(
        "{name: SEV-3, definition: Minor issue,", "{name: SEV-3, definition: Minor,"
    )
    path.write_text(text)
    cli.ok("apply", "-f", str(path), "--dry-run", "--prune")
    assert len(entries(cli)) == len(found), "a dry run records nothing"
    cli.ok("apply", "-f", str(path), "--prune")
    new = entries(cli)[: len(entries(cli)) - len(found)]
    assert {(e["action"], e["object_type"], e["object_key"]) for e in new} == {
        ("changed", "user", "alice"),
        ("deleted", "team member", "platform/@bob"),
        ("changed", "severity", "SEV-3"),
    }
    changes = {e["object_key"]: e["changes"] for e in new}
    assert changes["alice"] == {"name": ["Alice Adams", "Alice A. Adams"]}
    assert changes["SEV-3"] == {"definition": ["Minor issue", "Minor"]}
    assert changes["platform/@bob"]["user"] == ["bob", None]
    assert all(e["detail"].endswith(hashlib.sha256(text.encode()).hexdigest()) for e in new)


def test_cli_changes_name_who_made_them_and_hide_every_secret(cli: Cli) -> None:
    cli.ok("db", "upgrade")
    cli.ok("user", "add", "dave", "--name", "Dave", "--role", "admin")
    cli.actor = "dave"
    made = cli.ok("token", "create", "--user", "dave", "--name", "deploy", "--json").json()
    cli.ok("token", "revoke", str(made["id"]))
    generated = cli.ok("user", "password", "dave", "--generate").stdout.strip().splitlines()[-1]
    cli.ok("service", "add", "checkout", "--name", "Checkout")
    window = cli.ok(
        "maintenance", "add", "checkout", "--from", "2024-06-21T10:00Z", "--to", "2h", "--json"
    ).json()
    cli.ok("maintenance", "end", str(window["id"]))

    found = entries(cli)
    summary = [(e["who"], e["action"], e["object_type"], e["object_key"]) for e in found]
    assert summary[::-1] == [
        ("alice", "created", "user", "dave"),
        ("dave", "created", "token", "@dave/deploy"),
        ("dave", "changed", "token", "@dave/deploy"),
        ("dave", "changed", "user", "dave"),
        ("dave", "created", "service", "checkout"),
        ("dave", "created", "maintenance window", "checkout/2024-06-21 10:00Z"),
        # Ended before it began: the window is gone.
        ("dave", "deleted", "maintenance window", "checkout/2024-06-21 10:00Z"),
    ]
    assert {e["via"] for e in found} == {"cli"}
    by = {(e["action"], e["object_type"]): e["changes"] for e in found}
    assert by[("changed", "user")] == {"password_hash": [None, "(secret)"]}
    assert by[("changed", "token")]["revoked_at"][0] is None
    assert by[("created", "token")]["secret_hash"] == [None, "(secret)"]
    assert by[("deleted", "maintenance window")]["end"] == ["2024-06-21T12:00:00+00:00", None]
    listed = cli.ok("audit", "list", "--json", "--limit", "1000").stdout
    assert made["token"] not in listed and generated not in listed

    # Filters: by person, by kind, by object and what belongs to it.
    assert [e["object_key"] for e in entries(cli, "--who", "alice")] == ["dave"]
    assert [e["object_type"] for e in entries(cli, "--object", "token")] == ["token", "token"]
    assert len(entries(cli, "--object", "checkout")) == 3  # the service and its window
    assert len(entries(cli, "--object", "service:checkout")) == 1
    assert entries(cli, "--since", "2020-01-01", "--until", "2020-02-01") == []
    table = cli.ok("audit", "list", "--object", "user:dave").stdout
    assert "password_hash: - -> (secret)" in table


def test_bad_filters_are_refused_each_by_name_with_no_traceback(cli: Cli) -> None:
    cli.ok("db", "upgrade")
    refused = cli("audit", "list", "--since", "banana", "--object", "gadget:x")
    assert refused.code != 0
    assert "since: 'banana' is not a time" in refused.stderr
    assert "object: unknown kind 'gadget'" in refused.stderr
    assert "Traceback" not in refused.stderr + refused.stdout
    backwards = cli("audit", "list", "--since", "2024-06-02", "--until", "2024-06-01")
    assert backwards.code != 0 and "until must be after since" in backwards.stderr
    forged = cli("audit", "list", "--cursor", "not-a-cursor")
    assert forged.code != 0 and "is not a cursor of this list" in forged.stderr
    assert "No audit entries match." in cli.ok("audit", "list", "--who", "nobody").stdout
