"""The audit log's guarantees, on SQLite and PostgreSQL: an entry commits with its change and only
then, entries cannot be rewritten, and the retention setting prunes the old ones."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import T0, seed_people
from tocsin import app
from tocsin.core.audit import Actor, Via
from tocsin.errors import InvalidInput
from tocsin.services import audit as audit_log
from tocsin.settings import Settings
from tocsin.store import audit, links, services, users
from tocsin.store.db import make_read_sessionmaker
from tocsin.store.models import AuditEntry, ChatLink, User

OPS = Actor("ops", Via.CLI)


def logged(sessions: sessionmaker[Session]) -> list[tuple[str, str, str, str]]:
    """Return the committed entries, read beside any open write transaction."""
    with make_read_sessionmaker(sessions.kw["bind"])() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(e.who, e.action, e.object_type, e.object_key) for e in rows]


def test_an_entry_commits_with_its_change_and_a_rollback_leaves_none(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session, session.begin():
        audit.act_as(session, OPS)
        users.create(session, handle="dora", name="Dora", now=T0)
        session.flush()
        assert logged(sessions) == []  # not before the commit, and not by another transaction
    assert logged(sessions) == [("ops", "created", "user", "dora")]

    with pytest.raises(RuntimeError), sessions() as session, session.begin():
        audit.act_as(session, OPS)
        users.get_by_handle(session, "dora").name = "Dora Explorer"
        session.flush()
        raise RuntimeError("the change fails after its flush")
    # A savepoint rolled back (a dry run) records nothing; what the transaction kept, it does.
    with sessions() as session, session.begin():
        audit.act_as(session, OPS)
        savepoint = session.begin_nested()
        services.create(session, slug="tried", name="Tried", now=T0)
        session.flush()
        savepoint.rollback()
        users.get_by_handle(session, "dora").time_zone = "Europe/Lisbon"
    assert logged(sessions)[1:] == [("ops", "changed", "user", "dora")]


def test_what_is_made_and_unmade_in_one_transaction_is_not_recorded_and_names_are_the_last(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session, session.begin():
        users.create(session, handle="temp", name="Temp", now=T0)
        session.flush()
        session.delete(users.get_by_handle(session, "temp"))
        users.create(session, handle="old", name="Old", now=T0)
    with sessions() as session, session.begin():
        user = users.get_by_handle(session, "old")
        user.handle, user.name = "new", "New"
        session.flush()
        user.email = "new@example.com"  # a second flush of the same change
    with sessions() as session:
        rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    # Nobody named the actor of these sessions: "system".
    assert [(e.who, e.via, e.action, e.object_key) for e in rows] == [
        ("system", "system", "created", "old"),
        ("system", "system", "changed", "new"),
    ]
    assert rows[1].changes == {
        "handle": ["old", "new"],
        "name": ["Old", "New"],
        "email": [None, "new@example.com"],
    }


def test_entries_cannot_be_rewritten_even_in_sql(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        audit.act_as(session, OPS)
        users.create(session, handle="dora", name="Dora", now=T0)
    refused = pytest.raises(DBAPIError, match="audit entries cannot be changed")
    with refused, sessions() as session, session.begin():
        session.execute(text("UPDATE audit_entries SET who = 'someone else'"))
    refused = pytest.raises(DBAPIError, match="audit entries cannot be changed")
    with refused, sessions() as session, session.begin():
        entry = session.scalars(select(AuditEntry)).one()
        entry.changes = {}
    assert logged(sessions) == [("ops", "created", "user", "dora")]


def test_a_chat_account_unlinked_is_recorded(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        seed_people(session)
        alice = users.get_by_handle(session, "alice")
        session.add(ChatLink(provider="slack", external_id="U1", user_id=alice.id, linked_at=T0))
    with sessions() as session, session.begin():
        audit.act_as(session, Actor("alice", Via.WEB))
        assert (
            links.unlink(
                session, session.scalars(select(User).filter_by(handle="alice")).one(), "slack"
            )
            == 1
        )
    assert logged(sessions)[-1] == ("alice", "deleted", "chat link", "@alice/slack")


def test_the_retention_setting_prunes_old_entries_only(
    sessions: sessionmaker[Session],
) -> None:
    times = iter([T0 - timedelta(days=40), T0 - timedelta(days=31), T0 - timedelta(days=2)])
    for handle in ("old", "older", "recent"):
        with sessions() as session, session.begin():
            session.info[audit.CLOCK] = lambda: next(times)
            users.create(session, handle=handle, name=handle, now=T0)
    retention = audit_log.Retention(30)
    with sessions() as session:
        assert retention.next_due(session) == T0 - timedelta(days=10)
    with sessions() as session, session.begin():
        assert retention.update_all(session, now=T0) == 2
    assert [key for _, _, _, key in logged(sessions)] == ["recent"]
    with sessions() as session:
        assert retention.next_due(session) == T0 + timedelta(days=28)


def test_the_engine_prunes_only_when_a_retention_is_set() -> None:
    assert not any(isinstance(task, audit_log.Retention) for task in app.due_work(Settings()))
    kept = [
        t
        for t in app.due_work(Settings(audit_retention_days="90"))
        if isinstance(t, audit_log.Retention)
    ]
    assert [t.keep_days for t in kept] == [90]
    with pytest.raises(InvalidInput, match="TOCSIN_AUDIT_RETENTION_DAYS '90d' is not a whole"):
        app.due_work(Settings(audit_retention_days="90d"))


def test_what_the_database_deletes_or_detaches_with_a_row_is_recorded_too(
    sessions: sessionmaker[Session],
) -> None:
    from tocsin.services import contacts
    from tocsin.store import teams, tokens

    with sessions() as session, session.begin():
        seed_people(session)
        contacts.add(session, "bob", name="desk", type="console", target="", after="0m", now=T0)
        tokens.create(session, handle="bob", name="laptop", now=T0)
        teams.create(session, slug="platform", name="Platform", members=["bob"], now=T0)
        services.create(session, slug="web", name="Web", now=T0)
        services.get_by_slug(session, "web").team_id = teams.get_by_slug(session, "platform").id
    start = len(logged(sessions))
    with sessions() as session, session.begin():
        audit.act_as(session, OPS)
        session.delete(users.get_by_handle(session, "bob"))
        session.delete(teams.get_by_slug(session, "platform"))
    found = logged(sessions)[start:]
    assert sorted(found) == sorted(
        [
            ("ops", "deleted", "user", "bob"),
            ("ops", "deleted", "contact method", "@bob/desk"),
            ("ops", "deleted", "notification rule", "@bob/desk after 0s"),
            ("ops", "deleted", "token", "@bob/laptop"),
            ("ops", "deleted", "team member", "platform/@bob"),
            ("ops", "deleted", "team", "platform"),
            ("ops", "changed", "service", "web"),
        ]
    )
    with sessions() as session:
        web = session.scalars(
            select(AuditEntry).where(AuditEntry.object_key == "web").order_by(AuditEntry.id)
        ).all()[-1]
        assert web.changes == {"team": ["platform", None]}


def test_a_savepoint_rolled_back_takes_back_only_what_it_noted(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session, session.begin():
        audit.act_as(session, OPS)
        users.create(session, handle="made", name="Made", now=T0)
        users.create(session, handle="kept", name="Kept", now=T0)
        session.flush()
        savepoint = session.begin_nested()
        session.delete(users.get_by_handle(session, "made"))
        kept = users.get_by_handle(session, "kept")
        kept.name = "Renamed in vain"
        session.flush()
        session.delete(kept)
        session.flush()
        savepoint.rollback()
        users.get_by_handle(session, "kept").email = "kept@example.com"
    assert sorted(logged(sessions)) == [
        ("ops", "created", "user", "kept"),
        ("ops", "created", "user", "made"),
    ]
    with sessions() as session:
        kept_entry = session.scalars(
            select(AuditEntry).where(AuditEntry.object_key == "kept")
        ).one()
        assert kept_entry.changes["name"] == [None, "Kept"]
        assert kept_entry.changes["email"] == [None, "kept@example.com"]
