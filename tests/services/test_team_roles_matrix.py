"""Who may do what, cell by cell: each role against each kind of object, of its own team and
of another, through the functions every interface calls, with the session enforcing the roles.

Rows are the six ways to hold power: the three global roles, a viewer who is a responder or an
administrator of team `pay`, and an administrator acting through a token scoped to `pay`.
Columns are the kinds of object, each owned by `pay` ("own") and by `ops` ("other").
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import T0
from tocsin import config
from tocsin.config import EscalationLevelSpec, EscalationPolicySpec
from tocsin.core.access import Principal
from tocsin.core.alerts import AlertAction, AlertEvent
from tocsin.errors import PermissionDenied
from tocsin.services import alerts as alert_service
from tocsin.services import config_apply, incidents
from tocsin.services import schedules as schedule_specs
from tocsin.services import users as people
from tocsin.services.ingest import ingest
from tocsin.store import (
    access,
    alerts,
    integrations,
    policies,
    schedules,
    services,
    tokens,
    users,
)
from tocsin.store.models import Alert, AuditEntry, TimelineEvent

SETUP = """
users:
  - {handle: viv, name: Viv, role: viewer}
  - {handle: rex, name: Rex, role: responder}
  - {handle: ada, name: Ada, role: admin}
  - {handle: tom, name: Tom, role: viewer}
  - {handle: tia, name: Tia, role: viewer}
  - {handle: oz, name: Oz, role: responder}
teams:
  - {slug: pay, members: [tom, tia], admins: [tia]}
  - {slug: ops, members: [oz]}
schedules:
  - name: pay-rota
    team: pay
    time_zone: Europe/Berlin
    layers: [{name: weekly, rotation: 1 week, start: "2024-01-01T09:00", participants: [tom]}]
  - name: ops-rota
    team: ops
    time_zone: Europe/Berlin
    layers: [{name: weekly, rotation: 1 week, start: "2024-01-01T09:00", participants: [oz]}]
escalation_policies:
  - {name: pay-policy, team: pay, levels: [{targets: ["schedule:pay-rota"]}]}
  - {name: ops-policy, team: ops, levels: [{targets: ["schedule:ops-rota"]}]}
services:
  - {slug: pay-api, team: pay, escalation_policy: pay-policy}
  - {slug: ops-api, team: ops, escalation_policy: ops-policy}
"""

ROLES = (
    "viewer",
    "responder",
    "admin",
    "team responder",
    "team admin",
    "team token",
    "read-only token",
)
TEAMS = {"own": "pay", "other": "ops"}
Action = Callable[[Session, str, int], object]  # (session, team, cell number)


def _incident(session: Session, team: str, n: int) -> object:
    ref = "INC-1" if team == "pay" else "INC-2"  # declared in this order below
    return incidents.add_note(session, ref, f"note {n}", actor="x", now=T0)


def _override(session: Session, team: str, n: int) -> object:
    start = T0 + timedelta(days=n)
    return schedules.add_override(
        session,
        f"{team}-rota",
        user="rex",
        start=start,
        end=start + timedelta(hours=1),
        actor="x",
        now=T0,
    )


def _alert(session: Session, team: str, n: int) -> object:
    alert_id = session.scalar(select(Alert.id).where(Alert.dedup_key == f"cell-{n}"))
    assert alert_id is not None
    return alert_service.acknowledge(session, alert_id, actor="x", now=T0)


def _maintenance(session: Session, team: str, n: int) -> object:
    start = T0 + timedelta(days=n)
    return alerts.add_maintenance(
        session,
        service=f"{team}-api",
        start=start,
        end=start + timedelta(hours=1),
        actor="x",
        now=T0,
    )


def _schedule(session: Session, team: str, n: int) -> object:
    spec = schedule_specs.to_spec(schedules.get_by_name(session, f"{team}-rota"))
    spec.description = f"edit {n}"
    return schedule_specs.put(session, spec, actor="x", now=T0)


def _policy(session: Session, team: str, n: int) -> object:
    stored = policies.get_policy(session, f"{team}-policy")
    spec = EscalationPolicySpec(
        name=stored.name,
        team=team,
        repeat=stored.repeat + 1,  # a change every time
        levels=[EscalationLevelSpec(targets=[f"schedule:{team}-rota"])],
    )
    return config_apply.put_policy(session, spec, now=T0)


def _service(session: Session, team: str, n: int) -> object:
    service = services.get_by_slug(session, f"{team}-api")
    return services.update(session, service, description=f"edit {n}")


def _routing(session: Session, team: str, n: int) -> object:
    service = services.get_by_slug(session, f"{team}-api")
    service.routes = [{"match": [f'env="e{n}"'], "severity": "SEV-3"}]
    session.flush()
    return service


def _integration(session: Session, team: str, n: int) -> object:
    return integrations.create(
        session, service=f"{team}-api", type="generic", name=f"hook-{n}", now=T0
    )


def _membership(session: Session, team: str, n: int) -> object:
    # Rex joins the team, or leaves it: a change every time.
    current = people.teams_of(session, users.get_by_handle(session, "rex"))
    return people.set_teams(session, "rex", [] if team in current else [team])


KINDS: dict[str, Action] = {
    "incident": _incident,
    "alert": _alert,
    "override": _override,
    "maintenance window": _maintenance,
    "schedule": _schedule,
    "escalation policy": _policy,
    "service": _service,
    "routing rules": _routing,
    "integration": _integration,
    "team membership": _membership,
}

RESPOND = ("incident", "alert", "override", "maintenance window")
MANAGE = ("schedule", "escalation policy", "service", "routing rules", "integration")


def expected(role: str, kind: str, whose: str) -> bool:
    """The matrix README's "Roles" section describes, written out."""
    if role == "admin":
        return True
    if role == "read-only token":
        return False  # an administrator's, but it only reads
    if kind == "team membership":
        return False  # people and teams are administrators' alone
    if role == "viewer":
        return False
    if role == "responder":
        return kind in RESPOND
    if role == "team responder":
        return kind in RESPOND and whose == "own"
    assert role in ("team admin", "team token")
    return whose == "own"


def _principal(session: Session, role: str) -> Principal:
    """Return the principal of `role`, a token's as the API and the CLI build it."""
    handle = {
        "viewer": "viv",
        "responder": "rex",
        "admin": "ada",
        "team responder": "tom",
        "team admin": "tia",
        "team token": "ada",
        "read-only token": "ada",
    }[role]
    if role.endswith("token"):
        team, scopes = ("pay", None) if role == "team token" else (None, "read")
        _row, secret = tokens.create(
            session, handle=handle, name=role, team=team, scopes=scopes, now=T0
        )
        token, granted = tokens.authenticate_token(session, secret)
        return access.principal_of_token(session, token, granted)
    return access.principal_of(session, users.get_by_handle(session, handle))


def _attempt(sessions: sessionmaker[Session], role: str, action: Action, team: str, n: int) -> bool:
    """Do `action` as `role` in a transaction of its own; return whether it was allowed.

    An allowed one leaves its trace (an audit or a timeline entry); a refused one none.
    """
    with sessions() as session, session.begin():
        principal = _principal(session, role)
    with sessions() as session:
        before = _traces(session)
    with sessions() as session:
        session.begin()
        access.act_for(session, principal)
        try:
            action(session, team, n)
            session.commit()
        except PermissionDenied:
            session.rollback()
            with sessions() as fresh:
                assert _traces(fresh) == before, f"{role} was refused but something changed"
            return False
    with sessions() as fresh:
        assert _traces(fresh) != before, f"{role} was allowed but nothing changed"
    return True


def _traces(session: Session) -> tuple[int | None, int | None]:
    return (
        session.scalar(select(func.count()).select_from(AuditEntry)),
        session.scalar(select(func.count()).select_from(TimelineEvent)),
    )


def build_world(session: Session, setup: str = SETUP) -> None:
    """Apply `setup` and declare INC-1 on pay-api, INC-2 on ops-api."""
    config_apply.apply(session, config.parse(setup, "tocsin.yaml"), now=T0)
    for team in TEAMS.values():
        incidents.declare(
            session,
            title=f"{team} down",
            severity="SEV-2",
            services=[f"{team}-api"],
            actor="x",
            now=T0,
        )


def cells() -> list[tuple[int, str, str, str]]:
    """Return every cell of the matrix, numbered: (n, role, kind, whose)."""
    return [
        (n, role, kind, whose)
        for n, (role, kind, whose) in enumerate(
            ((r, k, w) for r in ROLES for k in KINDS for w in TEAMS), start=1
        )
    ]


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions() as session, session.begin():
        build_world(session)
        # One alert for each alert cell to acknowledge, on the open incident of its service.
        for team in TEAMS.values():
            integration, _key = integrations.create(
                session, service=f"{team}-api", type="generic", name="monitor", now=T0
            )
            events = [
                AlertEvent(AlertAction.TRIGGER, f"cell-{n}", summary=f"cell {n}")
                for n, _role, kind, whose in cells()
                if kind == "alert" and TEAMS[whose] == team
            ]
            ingest(session, integration, events, now=T0)
    return sessions


def test_each_role_does_exactly_what_it_should_on_each_kind_of_object(
    world: sessionmaker[Session],
) -> None:
    found: dict[tuple[str, str, str], bool] = {}
    want: dict[tuple[str, str, str], bool] = {}
    for n, role, kind, whose in cells():
        found[role, kind, whose] = _attempt(world, role, KINDS[kind], TEAMS[whose], n)
        want[role, kind, whose] = expected(role, kind, whose)
    assert len(found) == len(ROLES) * len(KINDS) * 2 == 140
    wrong = {
        cell: ("allowed" if ok else "refused") for cell, ok in found.items() if ok != want[cell]
    }
    assert wrong == {}
    # Both answers occur in every column, and in every row but three: the administrator may
    # do all, the viewer and a token that only reads nothing.
    alike = {"admin": {True}, "viewer": {False}, "read-only token": {False}}
    for role in ROLES:
        answers = {v for (r, _k, _w), v in found.items() if r == role}
        assert answers == alike.get(role, {True, False})
    for kind in KINDS:
        assert {v for (_r, k, _w), v in found.items() if k == kind} == {True, False}
