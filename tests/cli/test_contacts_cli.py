"""Contact methods and notification rules in the config file."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from tests.cli.conftest import Cli
from tocsin.store import contacts, users
from tocsin.store.db import make_engine

CONFIG = """\
users:
  - handle: alice
    time_zone: Europe/Berlin
    contact_methods:
      - {name: hook, type: webhook, url: "http://127.0.0.1:9999/page", secret: s3cret}
      - {name: mail, type: email, address: alice@example.com}
    notification_rules:
      - {contact_method: hook, after: 0m}
      - {contact_method: mail, after: 2m}
  - handle: bob
    contact_methods:
      - {name: chat, type: slack, url: "https://hooks.slack.example/T1/B2/x"}
"""


def rules(cli: Cli, handle: str) -> list[tuple[str, str, int]]:
    engine = make_engine(cli.db_url)
    with Session(engine) as session:
        found = [
            (m.name, m.type, after)
            for m, after in contacts.rules_of(session, users.get_by_handle(session, handle))
        ]
    engine.dispose()
    return found


def test_contact_methods_and_rules_apply_idempotently(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "tocsin.yaml"
    config.write_text(CONFIG)
    changes = cli.ok("apply", "-f", str(config)).stdout.splitlines()
    assert changes == [
        "create user alice",
        "create contact method alice/hook (webhook)",
        "create contact method alice/mail (email)",
        "update notification rules of alice",
        "create user bob",
        "create contact method bob/chat (slack)",
        "update notification rules of bob",
    ]
    assert rules(cli, "alice") == [("hook", "webhook", 0), ("mail", "email", 120)]
    assert rules(cli, "bob") == [("chat", "slack", 0)]  # no rules: every method at once
    assert cli.ok("apply", "-f", str(config)).stdout == ""
    config.write_text(CONFIG.replace("after: 2m", "after: 5m"))
    assert cli.ok("apply", "-f", str(config)).stdout == "update notification rules of alice\n"
    assert rules(cli, "alice")[1] == ("mail", "email", 300)


def test_bad_contact_methods_name_file_line_and_path(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "tocsin.yaml"
    config.write_text(
        CONFIG.replace('type: webhook, url: "http://127.0.0.1:9999/page"', "type: pager")
        .replace("address: alice@example.com", "address: alice")
        .replace("{contact_method: mail, after: 2m}", "{contact_method: sms, after: soon}")
    )
    result = cli("apply", "-f", str(config))
    assert result.code == 2
    assert result.stderr.splitlines() == [
        f"error: {config}:5: users[0].contact_methods[0].type: unknown contact method type "
        "'pager'; valid: email, slack, webhook, sms, voice, teams, telegram, ntfy, webpush,"
        " console",
        f"error: {config}:6: users[0].contact_methods[1].address: an email method needs an email "
        "address (got 'alice')",
        f"error: {config}:9: users[0].notification_rules[1].contact_method: unknown contact "
        "method 'sms'; valid: hook, mail",
        f"error: {config}:9: users[0].notification_rules[1].after: 'soon' is not a duration; "
        "write it like 30s, 15m, 1h, 1h30m or 2d",
    ]
    assert cli.ok("user", "list", "--json").json() == []


def test_user_contact_add_test_list_remove(cli: Cli) -> None:
    cli.ok("user", "add", "alice")
    refused = cli("user", "contact", "add", "alice", "phone", "--type", "sms", "--to", "0151")
    assert refused.code == 2
    assert refused.stderr.splitlines() == [
        "error: number: an sms method needs a phone number in E.164 form, + and 8 to 15 digits"
        " like +4915112345678 (got '0151')"
    ]
    cli.ok("user", "contact", "add", "alice", "phone", "--type", "voice", "--to", "+4915112345678")
    cli.ok("user", "contact", "add", "alice", "desk", "--type", "console", "--after", "5m")
    listed = cli.ok("user", "contact", "list", "alice", "--json").json()
    assert [(m["name"], m["type"], m["after"]) for m in listed] == [
        ("desk", "console", ["5m"]),
        ("phone", "voice", ["0m"]),
    ]
    assert rules(cli, "alice") == [("phone", "voice", 0), ("desk", "console", 300)]
    # Nothing sends it here (no server runs): said in one line, not a hang or a traceback.
    waited = cli("user", "contact", "test", "alice", "desk", "--wait", "0.2")
    assert waited.code == 1
    assert "still pending after 0.2 s: is `tocsin serve`" in waited.stderr
    cli.ok("user", "contact", "remove", "alice", "phone")
    gone = cli("user", "contact", "remove", "alice", "phone")
    assert gone.stderr.strip() == "error: alice has no contact method named 'phone'"
    assert rules(cli, "alice") == [("desk", "console", 300)]
    linked = cli.ok("user", "contact", "link", "alice", "telegram")
    assert "/start " in linked.stdout
