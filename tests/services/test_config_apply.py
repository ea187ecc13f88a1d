"""The applier on a real database (SQLite and PostgreSQL): its plan, dry runs, pruning, export."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import T0
from tocsin import config
from tocsin.errors import InvalidInput
from tocsin.services import config_apply as applier
from tocsin.services import config_export as exporter
from tocsin.services import incidents
from tocsin.services.config import CHECK_ORDER, FILE_ORDER, SECTIONS
from tocsin.services.config.base import parsed
from tocsin.services.config_apply import Change
from tocsin.store import schedules, teams
from tocsin.store.models import StatusComponent, TeamMember

BASE = """\
users:
  - {handle: alice}
  - {handle: bob}
teams:
  - {slug: platform, name: Platform, members: [alice, bob]}
components:
  - {slug: website, name: Website, description: The public web site}
  - {slug: api}
escalation_policies:
  - {name: primary, levels: [{targets: ["user:alice"]}]}
  - {name: secondary, levels: [{targets: ["user:bob"]}]}
services:
  - {slug: web, team: platform, component: website, escalation_policy: primary}
"""


def load(text: str) -> config.Config:
    return config.parse(text, "tocsin.yaml")


def lines(plan: applier.Plan) -> list[str]:
    return [change.line() for change in plan.changes]


@pytest.mark.parametrize(
    ("change", "shown", "with_secret"),
    [
        pytest.param(Change("create", "team", "platform"), "create team platform", None, id="new"),
        pytest.param(
            Change("update", "service", "web", ("team", "component")),
            "update service web (team, component)",
            None,
            id="fields",
        ),
        pytest.param(
            Change("update", "notification rules", "alice"),
            "update notification rules of alice",
            None,
            id="rules",
        ),
        pytest.param(
            Change("create", "integration", "web/am", ("alertmanager",), secret="k3y"),
            "create integration web/am (alertmanager)",
            "create integration web/am (alertmanager) key=k3y",
            id="secret",
        ),
    ],
)
def test_a_change_is_one_line_and_shows_a_key_only_when_asked(
    change: Change, shown: str, with_secret: str | None
) -> None:
    assert str(change) == shown
    assert change.line(show_secret=True) == (with_secret or shown)
    assert "k3y" not in repr(change)


def test_store_lines_become_changes_and_back() -> None:
    for line in (
        "create contact method alice/mail (email)",
        "update schedule primary (layers, overrides)",
        "delete severity SEV-4",
        "update notification rules of bob",
        "create escalation policy db-oncall",
    ):
        assert parsed(line).line() == line


def test_every_section_of_the_file_is_checked_applied_and_exported() -> None:
    # A section missing from an order would be skipped there without a word.
    names = sorted(section.name for section in SECTIONS)
    assert names == sorted(config.ConfigSpec.model_fields)
    assert sorted(CHECK_ORDER) == sorted(FILE_ORDER) == names


def test_a_stored_schedule_is_the_schedule_its_file_describes(session: Session) -> None:
    text = (
        "users:\n  - {handle: alice}\n  - {handle: bob}\n"
        "schedules:\n"
        "  - name: primary\n"
        "    time_zone: Europe/Berlin\n"
        "    layers:\n"
        "      - name: days\n"
        "        rotation: 1 week\n"
        "        start: 2024-03-04T09:00\n"
        "        participants: ['@alice', bob]\n"
        "        restrictions: [{days: [mon, fri], from: '09:00', to: '17:00'}, {from: '22:00',"
        " to: '06:00'}]\n"
        "      - {name: nights, time_zone: America/Chicago, rotation: 36 hours,"
        " start: 2024-03-04T18:00, participants: [bob]}\n"
        "    overrides:\n"
        "      - {user: bob, from: '2024-06-21T09:00', to: '2024-06-22T09:00', note: swap}\n"
        "      - {user: alice, from: '2024-06-23T09:00+05:00', to: '2024-06-24T00:00Z'}\n"
    )
    file = load(text)
    applier.apply(session, file, now=T0)
    session.expire_all()  # read back what the database holds
    described, problems = config.build_schedule(file.spec.schedules[0])
    assert problems == []
    assert schedules.to_core(schedules.get_by_name(session, "primary")) == described


def test_teams_and_components_are_stored_in_the_files_order(session: Session) -> None:
    plan = applier.apply(session, load(BASE), now=T0)
    assert lines(plan) == [
        "create user alice",
        "create user bob",
        "create component website",
        "create component api",
        "create team platform",
        "create escalation policy primary",
        "create escalation policy secondary",
        "create service web",
    ]
    assert teams.member_handles(teams.get_by_slug(session, "platform")) == ["alice", "bob"]
    swapped = (
        BASE.replace("[alice, bob]", "[bob, alice]")
        .replace("  - {slug: api}\n", "")
        .replace("components:\n", "components:\n  - {slug: api}\n")
    )
    plan = applier.apply(session, load(swapped), now=T0)
    assert lines(plan) == [
        "update component api (position)",
        "update component website (position)",
        "update team platform (members)",
    ]
    positions = session.execute(
        select(TeamMember.position, TeamMember.user_id).order_by(TeamMember.position)
    ).all()
    assert [p for p, _ in positions] == [0, 1]
    assert teams.member_handles(teams.get_by_slug(session, "platform")) == ["bob", "alice"]
    order = session.scalars(select(StatusComponent.slug).order_by(StatusComponent.position))
    assert list(order) == ["api", "website"]
    assert lines(applier.apply(session, load(swapped), now=T0)) == []


def test_a_dry_run_plans_what_apply_does_and_writes_nothing(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session, session.begin():
        applier.apply(session, load(BASE), now=T0)
        before = exporter.dump(exporter.export(session))
    edited = load(
        BASE.replace("escalation_policy: primary", "escalation_policy: secondary")
        + "  - slug: api\n    integrations: [{type: generic}]\n"
    )
    with sessions() as session, session.begin():
        dry = applier.dry_run(session, edited, now=T0)
    with sessions() as session, session.begin():
        assert exporter.dump(exporter.export(session)) == before
        real = applier.apply(session, edited, now=T0)
    assert (
        lines(dry)
        == lines(real)
        == [
            "update service web (escalation_policy)",
            "create service api",
            "create integration api/generic (generic)",
        ]
    )
    assert dry.changes[-1].secret is None
    assert real.changes[-1].secret is not None and len(real.changes[-1].secret) == 32


def test_prune_refuses_a_policy_that_is_escalating_an_open_incident(session: Session) -> None:
    applier.apply(session, load(BASE), now=T0)
    incidents.declare(
        session, title="Site down", severity="SEV-1", services=["web"], actor="alice", now=T0
    )
    without = load(
        BASE.replace('  - {name: primary, levels: [{targets: ["user:alice"]}]}\n', "").replace(
            "escalation_policy: primary", "escalation_policy: secondary"
        )
    )
    with pytest.raises(InvalidInput) as caught:
        applier.apply(session, without, now=T0 + timedelta(minutes=1), prune=True)
    assert caught.value.problems == [
        "tocsin.yaml:9: escalation_policies: --prune cannot delete escalation policy 'primary': "
        "it is escalating INC-1; keep it in the file until they are resolved"
    ]
    # Without --prune the same file applies, and the policy stays.
    plan = applier.apply(session, without, now=T0 + timedelta(minutes=1))
    assert lines(plan) == ["update service web (escalation_policy)"]


def test_under_prune_the_file_must_name_what_it_refers_to(session: Session) -> None:
    applier.apply(session, load(BASE), now=T0)
    partial = load(
        "users:\n  - {handle: alice}\nteams:\n  - {slug: platform, members: [alice, bob]}\n"
    )
    assert applier.apply(session, partial, now=T0).changes[0].line() == (
        "update team platform (name)"
    )
    with pytest.raises(InvalidInput) as caught:
        applier.apply(session, partial, now=T0, prune=True)
    assert caught.value.problems == ["tocsin.yaml:4: teams[0].members[1]: unknown user 'bob'"]


def test_prune_will_not_leave_what_the_file_does_not_describe_dangling(session: Session) -> None:
    applier.apply(session, load(BASE), now=T0)
    only = load(
        "teams: []\n"
        "components:\n  - {slug: api}\n"
        "escalation_policies:\n  - {name: secondary, levels: [{targets: ['user:bob']}]}\n"
    )
    with pytest.raises(InvalidInput) as caught:
        applier.apply(session, only, now=T0, prune=True)
    assert caught.value.problems == [
        "tocsin.yaml:4: escalation_policies: --prune cannot delete escalation policy 'primary': "
        "service web, which the file does not describe, still names it",
        "tocsin.yaml:1: teams: --prune cannot delete team 'platform': "
        "service web, which the file does not describe, still names it",
        "tocsin.yaml:2: components: --prune cannot delete component 'website': "
        "service web, which the file does not describe, still names it",
    ]
    assert lines(applier.apply(session, only, now=T0)) == ["update component api (position)"]
