"""What an audit entry shows of a change: the fields that changed, secrets and webhook tokens
never."""

from __future__ import annotations

from datetime import UTC, datetime

from tocsin.core.audit import SECRET, describe, diff, origin, short_detail


def test_only_changed_fields_are_shown_and_values_are_plain_json() -> None:
    at = datetime(2024, 6, 20, 10, 30, tzinfo=UTC)
    assert diff(
        {"name": "A", "role": "viewer", "at": None}, {"name": "A", "role": "admin", "at": at}
    ) == {
        "role": ["viewer", "admin"],
        "at": [None, "2024-06-20T10:30:00+00:00"],
    }
    assert diff({}, {"name": "new"}) == {"name": [None, "new"]}
    assert diff({"name": "old"}, {}) == {"name": ["old", None]}


def test_secrets_say_only_that_they_were_set_or_changed() -> None:
    assert diff(
        {"password_hash": None}, {"password_hash": "$argon2id$x"}, secrets=["password_hash"]
    ) == {"password_hash": [None, SECRET]}
    assert diff({"secret": "a"}, {"secret": "b"}, secrets=["secret"]) == {
        "secret": [SECRET, SECRET]
    }
    assert diff({"secret": "a"}, {"secret": ""}, secrets=["secret"]) == {"secret": [SECRET, None]}


def test_webhook_urls_show_scheme_and_host_only() -> None:
    assert origin("https://hooks.slack.com/services/T0/B0/XYZ") == "https://hooks.slack.com/..."
    assert origin("https://user:pw@example.com/x") == "https://example.com/..."
    assert origin("alice@example.com") == "alice@example.com"  # not a URL: as it is
    assert origin("https://example.com") == "https://example.com"
    rotated = diff(
        {"url": "https://hooks.slack.com/services/T0/B0/old"},
        {"url": "https://hooks.slack.com/services/T0/B0/new"},
        urls=["url"],
    )
    assert rotated == {"url": [SECRET, SECRET]}
    moved = diff({"url": "https://a.example/x"}, {"url": "https://b.example/y"}, urls=["url"])
    assert moved == {"url": ["https://a.example/...", "https://b.example/..."]}
    assert diff({"target": "+4915112345678"}, {"target": "+4915199999999"}, urls=["target"]) == {
        "target": ["+4915112345678", "+4915199999999"]
    }


def test_tables_get_one_short_line() -> None:
    assert describe("changed", {"role": ["viewer", "admin"], "name": ["A", "B"]}) == (
        "role: viewer -> admin; name: A -> B"
    )
    assert describe("created", {"handle": [None, "x"], "name": [None, "X"]}) == "handle, name"
    digest = "a" * 64
    assert short_detail(f"tocsin.yaml sha256:{digest}") == f"tocsin.yaml sha256:{'a' * 12}"
