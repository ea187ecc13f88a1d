"""A token never does more than its user's role allows, even after the role changes."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.conftest import T0
from tocsin.store import tokens
from tocsin.store.db import make_engine, make_sessionmaker

V1 = "/api/v1"
SEV3 = {"title": "Checkout slow", "severity": "SEV-3"}


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _create_token(api: Api, user: str, scopes: list[str] | None = None) -> dict[str, str]:
    body: dict[str, object] = {"user": user, "name": "t"}
    if scopes is not None:
        body["scopes"] = scopes
    created = api.client.post(f"{V1}/tokens", json=body, headers=api.admin)
    assert created.status_code == 201, created.text
    return _bearer(created.json()["token"])


def _set_role(api: Api, user: str, role: str) -> None:
    edited = api.client.patch(f"{V1}/users/{user}", json={"role": role}, headers=api.admin)
    assert edited.status_code == 200, edited.text


def test_a_viewer_token_cannot_be_given_write(api: Api) -> None:
    _set_role(api, "carol", "viewer")
    refused = api.client.post(
        f"{V1}/tokens",
        json={"user": "carol", "name": "ci", "scopes": ["read", "write"]},
        headers=api.admin,
    )
    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        "scope write is beyond what @carol's role 'viewer' allows (at most: calendar, read, "
        "metrics)"
    ]
    assert api.client.get(f"{V1}/tokens", headers=api.admin).json()[-1]["user"] != "carol"
    for scopes in (["admin"], ["calendar", "admin"]):
        body = {"user": "carol", "name": "ci", "scopes": scopes}
        answer = api.client.post(f"{V1}/tokens", json=body, headers=api.admin)
        assert answer.status_code == 400, scopes


def test_the_default_scopes_follow_the_role(api: Api) -> None:
    _set_role(api, "carol", "viewer")
    created = api.client.post(
        f"{V1}/tokens", json={"user": "carol", "name": "d"}, headers=api.admin
    )
    assert created.json()["scopes"] == ["read"]
    created = api.client.post(f"{V1}/tokens", json={"user": "bob", "name": "d"}, headers=api.admin)
    assert created.json()["scopes"] == ["read", "write"]


def test_a_viewer_token_cannot_declare_even_if_it_says_write(api: Api, db_url: str) -> None:
    # A token made while its user was a responder, who is a viewer now.
    carol = _create_token(api, "carol", ["read", "write"])
    assert api.client.post(f"{V1}/incidents", json=SEV3, headers=carol).status_code == 201
    _set_role(api, "carol", "viewer")
    refused = api.client.post(f"{V1}/incidents", json=SEV3, headers=carol)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "this API token lacks the 'write' scope (it has: read)"
    assert api.client.get(f"{V1}/incidents", headers=carol).status_code == 200
    assert len(api.client.get(f"{V1}/incidents", headers=api.reader).json()) == 1
    # Given back the role, the token writes again: its scopes were capped, not rewritten.
    _set_role(api, "carol", "responder")
    assert api.client.post(f"{V1}/incidents", json=SEV3, headers=carol).status_code == 201


def test_a_token_stored_with_more_than_its_role_is_capped(api: Api, db_url: str) -> None:
    # As the original code let anyone store: a viewer's token with write and admin.
    _set_role(api, "carol", "viewer")
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        token, secret = tokens.create(session, handle="carol", name="old", scopes="read", now=T0)
        token.scopes = ["admin", "write"]
    engine.dispose()
    carol = _bearer(secret)
    assert api.client.post(f"{V1}/incidents", json=SEV3, headers=carol).status_code == 403
    assert api.client.get(f"{V1}/tokens", headers=carol).status_code == 403
    assert api.client.get(f"{V1}/incidents", headers=carol).status_code == 200


def test_a_demoted_admin_token_keeps_only_what_the_new_role_allows(api: Api) -> None:
    _set_role(api, "alice", "admin")
    alice = _create_token(api, "alice", ["admin"])
    assert api.client.get(f"{V1}/tokens", headers=alice).status_code == 200
    _set_role(api, "alice", "responder")
    assert api.client.get(f"{V1}/tokens", headers=alice).status_code == 403
    assert api.client.post(f"{V1}/incidents", json=SEV3, headers=alice).status_code == 201
    _set_role(api, "alice", "viewer")
    assert api.client.post(f"{V1}/incidents", json=SEV3, headers=alice).status_code == 403
    assert api.client.get(f"{V1}/incidents", headers=alice).status_code == 200
