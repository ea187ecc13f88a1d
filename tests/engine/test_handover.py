"""Pages written by this process are handed to its engine after the commit and sent first:
a new incident's page does not wait behind a backlog of other messages, nor for the rest of
the engine's work. Handed over early, a row still goes out only when it is due."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.engine.test_escalation_flow import T0, declare, engine_for, people
from tests.receivers import PageReceiver
from tocsin import config
from tocsin.clock import FixedClock
from tocsin.services import config_apply
from tocsin.store.models import ContactMethod, Notification, User
from tocsin.store.notifications import NotificationStatus


def _apply(
    sessions: sessionmaker[Session], receiver: PageReceiver, users: str = "", paged: str = "alice"
) -> None:
    """Apply alice and erin (and `users`), and a service whose policy pages `paged`."""
    text = f"""
users:
{people(receiver, ["alice", "erin"])}
{users}
escalation_policies:
  - name: db-oncall
    levels: [{{targets: ["user:{paged}"], delay: 15m}}]
services:
  - {{slug: database, name: Database, escalation_policy: db-oncall}}
"""
    with sessions() as session, session.begin():
        config_apply.apply(session, config.parse(text, "tocsin.yaml"), now=T0)


def _backlog(sessions: sessionmaker[Session], count: int) -> None:
    """Queue `count` notices to erin, all due a minute ago."""
    with sessions() as session, session.begin():
        erin = session.scalars(select(User).where(User.handle == "erin")).one()
        method = session.scalars(
            select(ContactMethod).where(ContactMethod.user_id == erin.id)
        ).one()
        for i in range(count):
            session.add(
                Notification(
                    idempotency_key=f"backlog-{i}",
                    user_id=erin.id,
                    contact_method_id=method.id,
                    kind="notice",
                    status=NotificationStatus.PENDING,
                    due_at=T0 - timedelta(minutes=1),
                    attempts=0,
                    message={"subject": f"Weekly report {i}", "text": "Nothing urgent."},
                    created_at=T0 - timedelta(minutes=1),
                )
            )


def test_a_new_page_goes_out_before_a_backlog_of_older_messages(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    _apply(sessions, receiver)
    _backlog(sessions, 12)
    clock = FixedClock(T0)
    engine = engine_for(sessions, clock)
    engine._sender.batch = 3  # type: ignore[union-attr]  # four claims' worth of backlog
    declare(sessions, clock)  # alice's page is handed to the engine when this commits
    engine.run_once()
    assert receiver.who()[0] == "alice"
    # The backlog went out too, in the same pass, bundled per claim.
    assert receiver.who()[1:] == ["erin"] * 4


def test_a_page_from_another_process_waits_for_the_look_through_the_outbox(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    _apply(sessions, receiver)
    clock = FixedClock(T0)
    declare(sessions, clock)  # written before this engine existed: nothing handed to it
    _backlog(sessions, 3)
    engine = engine_for(sessions, clock)
    engine._sender.batch = 3  # type: ignore[union-attr]
    engine.run_once()
    # Found by the look through the outbox, in the order rows fell due: the backlog first.
    assert receiver.who() == ["erin", "alice"]


def test_a_row_handed_over_before_it_is_due_waits_for_its_time(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    rules = """
  - handle: carol
    contact_methods:
      - {name: first, type: webhook, url: "URL/carol-first", secret: secret-carol-first}
      - {name: later, type: webhook, url: "URL/carol-later", secret: secret-carol-later}
    notification_rules:
      - {contact_method: first, after: 0m}
      - {contact_method: later, after: 5m}
""".replace("URL", receiver.url)
    _apply(sessions, receiver, rules, paged="carol")
    clock = FixedClock(T0)
    engine = engine_for(sessions, clock)
    declare(sessions, clock)  # both of carol's pages are written now, and handed over
    engine.run_once()
    assert receiver.who() == ["carol-first"]
    clock.advance(minutes=4, seconds=59)
    engine.run_once()
    assert receiver.who() == ["carol-first"]
    clock.advance(seconds=1)
    engine.run_once()
    assert receiver.who() == ["carol-first", "carol-later"]
