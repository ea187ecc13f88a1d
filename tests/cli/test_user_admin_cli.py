"""`tocsin user update|disable|enable`: the same rules as the web's user administration, on
SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.cli.conftest import Cli
from tocsin.server import create_app
from tocsin.settings import Settings


def test_update_disable_and_enable_from_the_cli(cli: Cli) -> None:
    cli.ok("db", "upgrade")
    cli.ok("user", "add", "root", "--role", "admin")
    cli.ok("user", "add", "dora", "--name", "Dora")
    token = cli.ok("token", "create", "--user", "dora", "--name", "laptop", "--json").json()
    bearer = {"Authorization": f"Bearer {token['token']}"}

    updated = cli.ok("user", "update", "dora", "--role", "viewer", "--tz", "Asia/Tokyo")
    assert "Updated @dora: time_zone, role" in updated.stderr
    again = cli.ok("user", "update", "dora", "--role", "viewer")
    assert "nothing changed" in again.stderr
    bad = cli("user", "update", "dora", "--role", "boss", "--email", "nope", "--team", "x")
    assert bad.code != 0
    assert "unknown role 'boss'" in bad.stderr and "email 'nope'" in bad.stderr
    assert "Traceback" not in bad.stderr

    app = create_app(Settings(database_url=cli.db_url), clock=cli.clock, run_engine=False)
    with TestClient(app) as client:
        assert client.get("/api/v1/incidents", headers=bearer).status_code == 200
        assert "Disabled @dora" in cli.ok("user", "disable", "dora").stderr
        refused = client.get("/api/v1/incidents", headers=bearer)
        assert refused.status_code == 401
        assert "belongs to a disabled user" in refused.json()["detail"]
        listed = {u["handle"]: u for u in cli.ok("user", "list", "--json").json()}
        assert listed["dora"]["disabled"] is True and listed["root"]["disabled"] is False
        cli.ok("user", "enable", "dora")
        assert client.get("/api/v1/incidents", headers=bearer).status_code == 200
    app.state.engine.dispose()

    # The last enabled administrator stays one, and stays enabled.
    for args in (("update", "root", "--role", "responder"), ("disable", "root")):
        kept = cli("user", *args)
        assert kept.code != 0
        assert "@root is the last enabled administrator" in kept.stderr
    cli.ok("user", "update", "dora", "--role", "admin")
    cli.ok("user", "disable", "root")  # someone else administers now

    assert "nothing changed" in cli.ok("user", "update", "dora", "--forget-sso").stderr

    entries = cli.ok("audit", "list", "--object", "user:dora", "--json").json()["entries"]
    assert [list(e["changes"]) for e in entries][:4] == [
        ["role"],
        ["disabled_at"],
        ["disabled_at"],
        ["time_zone", "role"],
    ]
