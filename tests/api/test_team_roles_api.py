"""Team roles over HTTP: a team's administrator manages its services, a team token stays in its
team, a viewer who responds for a team acts on that team's incidents only."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.conftest import T0
from tests.services.test_team_roles_matrix import build_world
from tocsin.store import tokens
from tocsin.store.db import make_engine, make_sessionmaker

V1 = "/api/v1"


def _world(db_url: str) -> dict[str, dict[str, str]]:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        build_world(session)
        made = {
            "tia": tokens.create(session, handle="tia", name="tia", now=T0)[1],
            "tom": tokens.create(session, handle="tom", name="tom", now=T0)[1],
            "ada-pay": tokens.create(session, handle="ada", name="pay", team="pay", now=T0)[1],
        }
    engine.dispose()
    return {name: {"Authorization": f"Bearer {secret}"} for name, secret in made.items()}


def test_a_team_admin_manages_the_teams_services_and_no_others(api: Api, db_url: str) -> None:
    bearer = _world(db_url)
    own = api.client.patch(f"{V1}/services/pay-api", json={"name": "Pay"}, headers=bearer["tia"])
    assert own.status_code == 200, own.text
    assert own.json()["team"] == "pay"
    other = api.client.patch(f"{V1}/services/ops-api", json={"name": "X"}, headers=bearer["tia"])
    assert other.status_code == 403
    assert other.json()["errors"] == [
        "@tia may not change service 'ops-api' (team ops): @tia is a viewer; that needs an admin"
        " of the team or the admin role"
    ]
    # Giving a service away, or taking one: both teams must be the caller's.
    away = api.client.patch(f"{V1}/services/pay-api", json={"team": "ops"}, headers=bearer["tia"])
    assert away.status_code == 403
    new = api.client.post(
        f"{V1}/services", json={"slug": "pay-web", "team": "pay"}, headers=bearer["tia"]
    )
    assert new.status_code == 201
    loose = api.client.post(f"{V1}/services", json={"slug": "loose"}, headers=bearer["tia"])
    assert loose.status_code == 403 and "(no team)" in loose.json()["detail"]
    hook = api.client.post(
        f"{V1}/integrations",
        json={"service": "pay-api", "type": "generic", "name": "ci"},
        headers=bearer["tia"],
    )
    assert hook.status_code == 201
    assert api.client.get(f"{V1}/services/ops-api", headers=api.reader).json()["name"] != "X"


def test_a_team_token_stays_in_its_team_and_never_administers(api: Api, db_url: str) -> None:
    bearer = _world(db_url)["ada-pay"]
    ok = api.client.post(f"{V1}/incidents/INC-1/notes", json={"message": "pay"}, headers=bearer)
    assert ok.status_code == 201, ok.text
    out = api.client.post(f"{V1}/incidents/INC-2/notes", json={"message": "ops"}, headers=bearer)
    assert out.status_code == 403
    assert "the token is scoped to team pay" in out.json()["detail"]
    users = api.client.post(f"{V1}/users", json={"handle": "eve", "name": "Eve"}, headers=bearer)
    assert users.status_code == 403  # an administrator's token, scoped to a team: no admin scope
    listed = api.client.get(f"{V1}/tokens", headers=api.admin).json()
    assert {t["name"]: t["team"] for t in listed}["pay"] == "pay"


def test_a_viewer_who_responds_for_a_team_acts_on_its_incidents_only(api: Api, db_url: str) -> None:
    bearer = _world(db_url)["tom"]
    ack = api.client.post(f"{V1}/incidents/INC-1/acknowledge", headers=bearer)
    assert ack.status_code == 200, ack.text
    refused = api.client.post(f"{V1}/incidents/INC-2/acknowledge", headers=bearer)
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "@tom may not respond to incident 'INC-2' (team ops): @tom is a viewer; that needs a"
        " responder of the team or the responder role"
    )
    assert api.client.get(f"{V1}/incidents/INC-2", headers=api.reader).json()["status"] != (
        "acknowledged"
    )


def test_an_alert_is_acknowledged_by_hand_only_by_its_teams_responders(
    api: Api, db_url: str
) -> None:
    bearer = _world(db_url)["tom"]
    hooks = {}
    for team in ("pay", "ops"):
        made = api.client.post(
            f"{V1}/integrations",
            json={"service": f"{team}-api", "type": "generic", "name": "mon"},
            headers=api.admin,
        ).json()
        fired = api.client.post(
            f"/hooks/generic/{made['key']}", json={"summary": f"{team} 5xx", "dedup_key": "5xx"}
        ).json()
        hooks[team] = fired["alert"]
    refused = api.client.post(f"{V1}/alerts/{hooks['ops']}/resolve", headers=bearer)
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        f"@tom may not respond to alert '{hooks['ops']}' (team ops): @tom is a viewer; that"
        " needs a responder of the team or the responder role"
    )
    shown = api.client.get(f"{V1}/alerts/{hooks['ops']}", headers=api.reader).json()
    assert shown["status"] == "triggered"
    done = api.client.post(f"{V1}/alerts/{hooks['pay']}/acknowledge", headers=bearer)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "acknowledged"


def test_someone_given_a_role_in_another_teams_incident_may_act_on_it(
    api: Api, db_url: str
) -> None:
    bearer = _world(db_url)["tom"]
    assert api.client.post(f"{V1}/incidents/INC-2/acknowledge", headers=bearer).status_code == 403
    added = api.client.post(
        f"{V1}/incidents/INC-2/roles", json={"user": "tom", "role": "responder"}, headers=api.admin
    )
    assert added.status_code in (200, 201), added.text
    assert api.client.post(f"{V1}/incidents/INC-2/acknowledge", headers=bearer).status_code == 200
