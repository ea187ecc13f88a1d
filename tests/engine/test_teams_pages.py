"""A Teams contact method pages through the outbox as an Adaptive Card (to a local fake of the
Workflows webhook), on SQLite and PostgreSQL, and the card's Acknowledge button acknowledges."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.engine.test_escalation_flow import T0, declare, engine_for
from tests.fakes.teams import FakeTeams, card_problems, fake_teams
from tocsin import config
from tocsin.clock import FixedClock
from tocsin.server import create_app
from tocsin.services import config_apply as applier
from tocsin.services import incidents
from tocsin.settings import Settings


@pytest.fixture
def teams() -> Iterator[FakeTeams]:
    with fake_teams() as fake:
        yield fake


def test_a_page_arrives_in_teams_and_its_button_acknowledges(
    sessions: sessionmaker[Session], teams: FakeTeams, db_url: str
) -> None:
    text = f"""
users:
  - handle: alice
    contact_methods: [{{name: channel, type: teams, url: "{teams.url}"}}]
escalation_policies:
  - {{name: db-oncall, levels: [{{targets: ["user:alice"]}}]}}
services:
  - {{slug: database, escalation_policy: db-oncall}}
"""
    with sessions() as session, session.begin():
        applier.apply(session, config.parse(text, "tocsin.yaml"), now=T0)
    clock = FixedClock(T0)
    engine = engine_for(sessions, clock)
    declare(sessions, clock)
    engine.run_once()
    [card] = teams.cards
    assert card_problems(card) == []
    assert card["body"][0]["text"].startswith("[SEV-1] INC-1 database: Primary down")
    buttons = {a["title"]: a["url"] for a in card["actions"]}
    assert buttons["Open incident"] == "https://tocsin.test/incidents/INC-1"
    app = create_app(Settings(database_url=db_url), clock=clock, run_engine=False)
    with TestClient(app) as client:
        done = client.post(buttons["Acknowledge"].removeprefix("https://tocsin.test"))
        assert done.status_code == 200 and "Acknowledged INC-1" in done.text
    app.state.engine.dispose()
    with sessions() as session:
        timeline = [e.message for e in incidents.get(session, "INC-1").events]
    assert "Notified alice via channel" in timeline
    assert timeline[-1] == "Acknowledged by alice"


def test_a_teams_method_needs_a_url(session: Session) -> None:
    from tocsin.errors import InvalidInput

    bad = "users:\n  - handle: alice\n    contact_methods: [{name: channel, type: teams}]\n"
    with pytest.raises(InvalidInput) as caught:
        applier.apply(session, config.parse(bad, "tocsin.yaml"), now=T0)
    assert caught.value.problems == [
        "tocsin.yaml:3: users[0].contact_methods[0].url: a teams method needs an http(s) URL"
        " (got None)"
    ]
