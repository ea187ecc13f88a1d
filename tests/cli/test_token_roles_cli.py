"""`tocsin token create` refuses scopes beyond the user's role."""

from __future__ import annotations

from tests.cli.conftest import Cli


def test_token_create_refuses_scopes_beyond_the_role(cli: Cli) -> None:
    cli.ok("user", "add", "vera", "--role", "viewer")
    refused = cli("token", "create", "--user", "vera", "--scope", "read", "--scope", "write")
    assert refused.code == 2
    assert "scope write is beyond what @vera's role 'viewer' allows" in refused.stderr
    assert "at most: calendar, read, metrics" in refused.stderr
    assert cli.ok("token", "list", "--json").json() == []

    made = cli.ok("token", "create", "--user", "vera", "--json").json()
    assert made["scopes"] == ["read"]
    scraper = cli.ok("token", "create", "--user", "vera", "--scope", "metrics", "--json").json()
    assert scraper["scopes"] == ["metrics"]


def test_token_create_gives_an_admin_what_is_asked(cli: Cli) -> None:
    cli.ok("user", "add", "ada", "--role", "admin")
    made = cli.ok("token", "create", "--user", "ada", "--scope", "admin", "--json").json()
    assert made["scopes"] == ["admin"]
    assert cli.ok("token", "create", "--user", "ada", "--json").json()["scopes"] == [
        "read",
        "write",
    ]
