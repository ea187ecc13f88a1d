"""Team roles in the browser: a viewer who responds for a team acts on its incidents and adds
overrides to its schedules; another team's are read-only, and the server refuses them too."""

from __future__ import annotations

from tests.conftest import T0
from tests.services.test_team_roles_matrix import build_world
from tests.web.conftest import PASSWORD, Browser
from tocsin.services import incidents
from tocsin.store import users
from tocsin.store.db import make_engine, make_sessionmaker


def _world(db_url: str) -> None:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        build_world(session)
        users.set_password(session, users.get_by_handle(session, "tom"), PASSWORD)
    engine.dispose()


def test_a_team_responder_acts_on_the_teams_incidents_only(browser: Browser) -> None:
    _world(browser.db_url)
    assert browser.login("tom").status_code == 303
    own = browser.get("/incidents/INC-1").text
    assert '<small id="roles">(viewer; responder of pay)</small>' in own
    assert 'id="read-only"' not in own
    other = browser.get("/incidents/INC-2").text
    assert 'id="read-only"' in other and "team <strong>ops</strong>" in other
    assert browser.get("/").text.count("Declare incident") == 1  # responds for a team

    noted = browser.post("/incidents/INC-1/notes", {"message": "looking"})
    assert noted.status_code == 303
    refused = browser.post("/incidents/INC-2/notes", {"message": "me too"})
    assert refused.status_code == 403
    assert "may not respond to incident" in refused.text

    window = {"user": "tom", "start": "2024-06-21 09:00", "end": "2024-06-21 10:00"}
    assert browser.post("/schedules/pay-rota/overrides", window).status_code == 303
    assert browser.post("/schedules/ops-rota/overrides", window).status_code == 403
    assert "team pay" in browser.get("/schedules/pay-rota").text


def test_a_role_in_another_teams_incident_opens_its_forms(browser: Browser) -> None:
    _world(browser.db_url)
    engine = make_engine(browser.db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        incidents.assign(session, "INC-2", "tom", role="responder", actor="x", now=T0)
    engine.dispose()
    browser.login("tom")
    assert 'id="read-only"' not in browser.get("/incidents/INC-2").text
    assert browser.post("/incidents/INC-2/notes", {"message": "on it"}).status_code == 303
