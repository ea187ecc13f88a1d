"""Who may announce public maintenance: a responder of every team whose services it silences."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import T0, seed_people
from tocsin.errors import PermissionDenied
from tocsin.services import maintenance
from tocsin.store import access, components, services, teams, users
from tocsin.store.models import PublicMaintenance

H = timedelta(hours=1)


def _setup(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        seed_people(session)
        users.create(session, handle="dan", name="Dan", role="viewer", now=T0)
        teams.create(session, slug="payments", members=["dan"], now=T0)
        core = components.create(session, slug="core", name="Core", now=T0)
        pay = components.create(session, slug="pay", name="Payments", now=T0)
        session.flush()
        services.get_by_slug(session, "api-gateway").component_id = core.id
        billing = services.create(session, slug="billing", team="payments", now=T0)
        billing.component_id = pay.id


@pytest.mark.parametrize(
    ("component", "allowed"),
    [
        pytest.param("pay", True, id="own-teams-component"),
        pytest.param("core", False, id="a-component-of-no-team"),
    ],
)
def test_a_team_responder_announces_for_their_team_only(
    sessions: sessionmaker[Session], component: str, allowed: bool
) -> None:
    _setup(sessions)
    with sessions() as session:
        access.act_for(session, access.principal_of(session, users.get_by_handle(session, "dan")))
        try:
            maintenance.announce(
                session,
                title="Card processor swap",
                components=[component],
                start=T0 + H,
                end=T0 + 2 * H,
                actor="dan",
                now=T0,
                base_url="https://status.example.com",
            )
            session.commit()
        except PermissionDenied as exc:
            assert not allowed
            assert str(exc) == (
                "@dan may not change public maintenance 'Card processor swap' (no team): "
                "@dan is a viewer; that needs the responder role"
            )
            session.rollback()
        else:
            assert allowed
    with sessions() as session:
        made = session.scalar(select(func.count()).select_from(PublicMaintenance))
        assert made == (1 if allowed else 0)
