"""Users, services, severities and tokens over HTTP."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.conftest import T0
from tests.services.test_routes import CONFIG
from tocsin import config
from tocsin.services import config_apply as applier
from tocsin.store.db import make_engine, make_sessionmaker

V1 = "/api/v1"


def test_users_are_created_by_admins_only_and_validated(api: Api) -> None:
    created = api.client.post(
        f"{V1}/users",
        json={"handle": "dan", "name": "Dan", "time_zone": "Europe/Berlin"},
        headers=api.admin,
    )
    assert created.status_code == 201
    bad = api.client.post(
        f"{V1}/users",
        json={"handle": "Bad Handle", "email": "nope", "time_zone": "Mars/Olympus", "role": "god"},
        headers=api.admin,
    )
    assert bad.status_code == 400
    assert len(bad.json()["errors"]) == 4
    assert "unknown time zone 'Mars/Olympus'" in bad.text
    dup = api.client.post(f"{V1}/users", json={"handle": "dan"}, headers=api.admin)
    assert dup.status_code == 409
    handles = [u["handle"] for u in api.client.get(f"{V1}/users", headers=api.reader).json()]
    assert handles == ["alice", "bob", "carol", "dan", "root"]


def test_services_with_their_own_severity_wording(api: Api) -> None:
    created = api.client.post(
        f"{V1}/services",
        json={
            "slug": "database",
            "name": "Database",
            "owner": "carol",
            "severity_definitions": {"SEV-1": "Primary down", "SEV-2": {"definition": "Lag > 30s"}},
        },
        headers=api.admin,
    )
    assert created.status_code == 201, created.text
    assert created.json()["severity_definitions"] == {
        "SEV-1": {"definition": "Primary down"},
        "SEV-2": {"definition": "Lag > 30s"},
    }
    bad = api.client.post(
        f"{V1}/services",
        json={"slug": "-bad-", "owner": "zed", "severity_definitions": {"SEV-9": "x"}},
        headers=api.admin,
    )
    assert bad.status_code == 400
    assert len(bad.json()["errors"]) == 3
    patched = api.client.patch(
        f"{V1}/services/database", json={"owner": "alice"}, headers=api.admin
    )
    assert patched.json()["owner"] == "alice"
    assert api.client.get(f"{V1}/services/nope", headers=api.reader).status_code == 404


def test_a_service_shows_its_label_routes_and_auto_resolve(api: Api, db_url: str) -> None:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        routes = CONFIG.replace("  - {slug: meta}", "  - {slug: meta, auto_resolve: true}")
        applier.apply(session, config.parse(routes, "tocsin.yaml"), now=T0)
    engine.dispose()
    platform = api.client.get(f"{V1}/services/platform", headers=api.reader).json()
    assert platform["auto_resolve"] is False
    assert platform["routes"] == [
        {
            "match": ['env=~"dev|test"'],
            "service": None,
            "severity": None,
            "policy": None,
            "drop": True,
            "continue": False,
        },
        {
            "match": ['team="db"'],
            "service": "database",
            "severity": None,
            "policy": None,
            "drop": False,
            "continue": False,
        },
        {
            "match": ['alertname="Watchdog"'],
            "service": None,
            "severity": "SEV-4",
            "policy": None,
            "drop": False,
            "continue": True,
        },
        {
            "match": ['alertname=~"Watch.*"'],
            "service": "meta",
            "severity": None,
            "policy": None,
            "drop": False,
            "continue": False,
        },
    ]
    meta = api.client.get(f"{V1}/services/meta", headers=api.reader).json()
    assert (meta["routes"], meta["auto_resolve"], meta["inhibit_rules"]) == ([], True, [])


def test_severities_are_the_seed_table(api: Api) -> None:
    levels = api.client.get(f"{V1}/severities", headers=api.reader).json()
    assert [(s["name"], s["response_time"]) for s in levels] == [
        ("SEV-1", "5 min"),
        ("SEV-2", "15 min"),
        ("SEV-3", "1 hour"),
        ("SEV-4", "Next business day"),
    ]


def test_tokens_are_shown_once_and_can_be_revoked(api: Api) -> None:
    created = api.client.post(
        f"{V1}/tokens", json={"user": "carol", "name": "ci", "scopes": ["read"]}, headers=api.admin
    )
    assert created.status_code == 201
    secret = created.json()["token"]
    assert secret.startswith("tsn_")
    listed = api.client.get(f"{V1}/tokens", headers=api.admin).text
    assert secret not in listed
    carol = {"Authorization": f"Bearer {secret}"}
    assert api.client.get(f"{V1}/incidents", headers=carol).status_code == 200
    token_id = created.json()["id"]
    assert api.client.delete(f"{V1}/tokens/{token_id}", headers=api.admin).status_code == 204
    revoked = api.client.get(f"{V1}/incidents", headers=carol)
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["detail"]
    bad = api.client.post(
        f"{V1}/tokens", json={"user": "carol", "name": "x", "scopes": ["root"]}, headers=api.admin
    )
    assert bad.status_code == 400
    assert "valid scopes: calendar, read, write, admin" in bad.json()["detail"]


def test_a_policy_posted_over_http_may_name_teams_and_webhooks_that_exist(
    api: Api, db_url: str
) -> None:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        known = (
            "teams: [{slug: dba, members: [alice, bob]}]\n"
            "webhooks: [{name: chatops, url: 'https://chat.example.com/t', secret: s3cret}]\n"
        )
        applier.apply(session, config.parse(known, "tocsin.yaml"), now=T0)
    engine.dispose()
    levels = [{"targets": ["team:dba"], "delay": "5m"}, {"targets": ["webhook:chatops"]}]
    created = api.client.post(
        f"{V1}/escalation-policies", json={"name": "db", "levels": levels}, headers=api.admin
    )
    assert created.status_code == 201, created.text
    shown = api.client.get(f"{V1}/escalation-policies/db", headers=api.reader).json()
    assert [level["targets"] for level in shown["levels"]] == [["team:dba"], ["webhook:chatops"]]
    unknown = [{"targets": ["team:dbas", "webhook:chat"]}]
    bad = api.client.post(
        f"{V1}/escalation-policies", json={"name": "db", "levels": unknown}, headers=api.admin
    )
    assert bad.status_code == 400
    assert bad.json()["errors"] == [
        "levels[0].targets[0]: unknown team 'dbas'",
        "levels[0].targets[1]: unknown webhook 'chat'",
    ]


def test_admins_disable_enable_and_place_users_in_teams_over_http(api: Api, db_url: str) -> None:
    from tocsin.store import teams

    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        teams.create(session, slug="platform", name="Platform", members=[], now=T0)
    engine.dispose()
    moved = api.client.patch(
        "/api/v1/users/alice", json={"teams": ["platform"], "disabled": True}, headers=api.admin
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["disabled"] is True
    # Alice's own token stops working at once.
    refused = api.client.get("/api/v1/incidents", headers=api.writer)
    assert refused.status_code == 401 and "disabled user" in refused.json()["detail"]
    back = api.client.patch("/api/v1/users/alice", json={"disabled": False}, headers=api.admin)
    assert back.json()["disabled"] is False
    assert api.client.get("/api/v1/incidents", headers=api.writer).status_code == 200

    unknown = api.client.patch("/api/v1/users/alice", json={"teams": ["nope"]}, headers=api.admin)
    assert unknown.status_code == 400 and unknown.json()["errors"] == ["unknown team 'nope'"]
    last = api.client.patch("/api/v1/users/root", json={"role": "viewer"}, headers=api.admin)
    assert last.status_code == 400 and "last enabled administrator" in last.json()["detail"]
    itself = api.client.patch("/api/v1/users/root", json={"disabled": True}, headers=api.admin)
    assert itself.status_code == 400 and "cannot disable themselves" in itself.json()["detail"]
    assert (
        api.client.patch(
            "/api/v1/users/bob", json={"disabled": True}, headers=api.writer
        ).status_code
        == 403
    )
