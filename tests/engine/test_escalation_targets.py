"""Team and webhook escalation targets end to end: teams page their people, webhooks get a
signed POST through the outbox, on SQLite and PostgreSQL, with a real HTTP receiver."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session, sessionmaker

from tests.engine.test_escalation_flow import T0, declare, engine_for, people
from tests.receivers import PageReceiver
from tocsin import config
from tocsin.clock import FixedClock
from tocsin.engine.loop import Engine
from tocsin.services import config_apply as applier
from tocsin.services import incidents
from tocsin.store.models import Notification
from tocsin.store.notifications import notifications_json, paged_users


def apply(
    sessions: sessionmaker[Session],
    receiver: PageReceiver,
    levels: str,
    *,
    team_schedule: str = "",
) -> None:
    """Apply people reached at the receiver, team dba (dee, al, cy), a webhook and `levels`."""
    users = people(receiver, ["dee", "al", "cy", "erin"])
    schedule = f", schedule: {team_schedule}" if team_schedule else ""
    text = f"""
users:
{users}
teams:
  - {{slug: dba, members: [dee, al, cy]{schedule}}}
schedules:
  - name: dba-week
    time_zone: UTC
    layers: [{{name: a, rotation: 1 week, start: 2024-01-01T00:00, participants: [cy]}}]
  - name: nobody-yet
    time_zone: UTC
    layers: [{{name: a, rotation: 1 week, start: 2030-01-01T00:00, participants: [al]}}]
webhooks:
  - {{name: chatops, url: "{receiver.url}/chatops", secret: secret-chatops, timeout: 10s}}
  - {{name: ticket, url: "{receiver.url}/ticket", secret: secret-ticket}}
escalation_policies:
  - name: db-oncall
    levels:
{levels}
services:
  - {{slug: database, name: Database, escalation_policy: db-oncall}}
"""
    with sessions() as session, session.begin():
        applier.apply(session, config.parse(text, "tocsin.yaml"), now=T0)


def fire_level_one(
    sessions: sessionmaker[Session],
    receiver: PageReceiver,
    levels: str,
    *,
    team_schedule: str = "",
) -> tuple[FixedClock, Engine]:
    """Apply `levels`, declare an incident on the database and run the engine once."""
    apply(sessions, receiver, levels, team_schedule=team_schedule)
    clock = FixedClock(T0)
    engine = engine_for(sessions, clock)
    declare(sessions, clock)
    engine.run_once()
    return clock, engine


def timeline(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return [e.message for e in incidents.get(session, "INC-1").events]


def test_a_team_without_a_schedule_pages_every_member_once_in_its_order(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    fire_level_one(
        sessions,
        receiver,
        '      - {targets: ["user:al", "team:dba", "user:erin"], delay: 15m}',
    )
    # al is a user target and a member: paged once, where first named
    assert sorted(receiver.who()) == ["al", "cy", "dee", "erin"]
    messages = timeline(sessions)
    paging = [m.split(" (")[0] for m in messages if m.startswith("Paging ")]
    assert paging == ["Paging al", "Paging dee", "Paging cy", "Paging erin"]
    assert "Paging dee (db-oncall level 1: user:al, team:dba, user:erin) via hook" in messages


def test_a_team_with_a_schedule_pages_only_whoever_is_on_call(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    fire_level_one(
        sessions,
        receiver,
        '      - {targets: ["team:dba"], delay: 15m}',
        team_schedule="dba-week",
    )
    assert receiver.who() == ["cy"]


def test_a_team_with_nobody_on_call_is_skipped_to_the_next_level(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    fire_level_one(
        sessions,
        receiver,
        '      - {targets: ["team:dba"], delay: 15m}\n      - {targets: ["user:erin"]}',
        team_schedule="nobody-yet",
    )
    assert receiver.who() == ["erin"]
    assert "Skipped db-oncall level 1: nobody is on call on team:dba" in timeline(sessions)


def test_a_webhook_level_posts_a_signed_call_retried_with_the_same_key(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    receiver.status = 500
    clock, engine = fire_level_one(
        sessions,
        receiver,
        '      - {targets: ["webhook:chatops"], delay: 15m}\n      - {targets: ["user:erin"]}',
    )
    receiver.status = 200
    clock.advance(seconds=5)  # the first backoff
    engine.run_once()
    # PageReceiver checked each request's signature with the webhook's secret
    assert receiver.who() == ["chatops", "chatops"]
    first, retry = receiver.pages
    assert first["key_header"] == retry["key_header"] == retry["idempotency_key"]
    assert retry["incident"] == "INC-1"
    assert retry["policy"] == "db-oncall"
    assert retry["level"] == 1
    assert retry["subject"] == "[SEV-1] INC-1 database: Primary down"
    assert str(retry["ack_url"]).startswith("https://tocsin.test/ack/")
    messages = timeline(sessions)
    assert "Calling webhook chatops (db-oncall level 1: webhook:chatops) via the outbox" in messages
    assert "Notified webhook chatops" in messages
    # Only a webhook on level 1, and still level 1 "paged something": not skipped to erin
    assert not any(m.startswith("Skipped") for m in messages)
    with sessions() as session:
        [row] = session.query(Notification).all()
        assert (row.status, row.attempts, row.user_id) == ("sent", 2, None)
        assert paged_users(session, row.incident_id or 0) == set()
        [listed] = notifications_json(session, "INC-1")
        assert (listed["user"], listed["webhook"], listed["status"]) == (None, "chatops", "sent")


def test_the_ack_link_a_webhook_gets_acknowledges_for_it(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    fire_level_one(sessions, receiver, '      - {targets: ["webhook:chatops", "user:erin"]}')
    [call] = [p for p in receiver.pages if p["to"] == "chatops"]
    assert call["ack_url"] is not None
    [page] = [p for p in receiver.pages if p["to"] == "erin"]
    assert call["ack_url"] != page["ack_url"]  # each acknowledges as its own recipient


def erin_then_two_webhooks(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> tuple[FixedClock, Engine]:
    """Apply a policy paging erin, then calling two webhooks 15 minutes later; run level 1."""
    return fire_level_one(
        sessions,
        receiver,
        '      - {targets: ["user:erin"], delay: 15m}\n'
        '      - {targets: ["webhook:ticket", "webhook:chatops"]}',
    )


def test_acknowledging_before_level_two_means_its_webhook_is_never_called(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    clock, engine = erin_then_two_webhooks(sessions, receiver)
    with sessions() as session, session.begin():
        incidents.acknowledge(session, "INC-1", actor="erin", now=clock.now())
    clock.advance(hours=1)
    engine.run_once()
    assert receiver.who() == ["erin"]
    assert not any("webhook" in m for m in timeline(sessions))


def test_level_two_calls_its_webhooks_and_the_resolve_tells_only_people(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    clock, engine = erin_then_two_webhooks(sessions, receiver)
    clock.advance(minutes=15)
    engine.run_once()
    assert receiver.who() == ["erin", "ticket", "chatops"]
    assert [p["level"] for p in receiver.pages] == [None, 2, 2]
    keys = {str(p["key_header"]) for p in receiver.pages}
    assert len(keys) == 3  # one call each, never bundled
    with sessions() as session, session.begin():
        incidents.resolve(session, "INC-1", message="fixed", actor="erin", now=clock.now())
    engine.run_once()
    assert receiver.who() == ["erin", "ticket", "chatops", "erin"]
    assert str(receiver.pages[-1]["subject"]).startswith("[RESOLVED] INC-1")


def test_a_webhook_removed_after_its_call_was_queued_fails_it_on_the_timeline(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    apply(sessions, receiver, '      - {targets: ["webhook:chatops", "user:erin"]}')
    clock = FixedClock(T0)
    declare(sessions, clock)  # queued, not sent: no engine ran yet
    with sessions() as session, session.begin():
        applier.apply(
            session,
            config.parse(
                json.dumps(
                    {
                        "escalation_policies": [
                            {"name": "db-oncall", "levels": [{"targets": ["user:erin"]}]}
                        ],
                        "webhooks": [],
                    }
                ),
                "tocsin.yaml",
            ),
            now=clock.now(),
            prune=True,
        )
    engine_for(sessions, clock).run_once()
    assert receiver.who() == ["erin"]
    assert "Could not notify webhook chatops: the webhook was removed" in timeline(sessions)
