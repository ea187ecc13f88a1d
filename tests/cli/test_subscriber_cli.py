"""`tocsin subscriber ...`: add a webhook, list with masked addresses, remove."""

from __future__ import annotations

from tests.cli.conftest import Cli


def test_add_list_and_remove_a_webhook(cli: Cli) -> None:
    added = cli.ok("subscriber", "add-webhook", "https://hooks.example.com/status", "--json").json()
    assert len(added["secret"]) == 64
    assert added["components"] == []
    plain = cli.ok("subscriber", "add-webhook", "http://10.0.0.5:8080/in")
    assert "not shown again" in plain.stderr and len(plain.stdout.strip()) == 64
    listed = cli.ok("subscriber", "list")
    assert "0 confirmed email, 0 awaiting confirmation, 2 webhooks" in listed.stdout
    assert "https://hooks.example.com/***" in listed.stdout
    assert "/status" not in listed.stdout.replace("/***", "")
    cli.ok("subscriber", "remove", str(added["id"]))
    assert cli.ok("subscriber", "list", "--json").json()["webhooks"] == 1


def test_bad_input_is_one_line_and_changes_nothing(cli: Cli) -> None:
    bad = cli("subscriber", "add-webhook", "mailto:x@example.com", "--component", "nope")
    assert bad.code == 2
    assert "http:// or https://" in bad.stderr and "no status component nope" in bad.stderr
    assert "Traceback" not in bad.stderr
    gone = cli("subscriber", "remove", "99")
    assert gone.code == 3 and "no status-page subscriber 99" in gone.stderr
    assert cli.ok("subscriber", "list", "--json").json()["subscribers"] == []
