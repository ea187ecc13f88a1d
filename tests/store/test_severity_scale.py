"""The severity scale is read once per transaction, and never outlives it: a scale changed by
`apply`, in the same transaction or in another one, is the scale the next read sees."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from tocsin.store import severities


def test_the_scale_is_read_once_per_transaction_and_changes_are_seen(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    reads: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if "severity_levels" in statement and statement.lstrip().upper().startswith("SELECT"):
            reads.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        with sessions() as session, session.begin():
            first = severities.scale(session)
            assert severities.scale(session) is first
            assert len(reads) == 1
            # Changed in this transaction: the next read is the new scale.
            levels = list(first.levels)
            levels[0] = replace(levels[0], definition="Everything is down")
            severities.replace_all(session, levels)
            assert severities.scale(session).levels[0].definition == "Everything is down"
        # Another transaction reads again, and sees what another session committed meanwhile.
        with sessions() as other, other.begin():
            levels = list(severities.scale(other).levels)
            levels[0] = replace(levels[0], definition="Customers cannot pay")
            severities.replace_all(other, levels)
        with sessions() as session, session.begin():
            assert severities.scale(session).levels[0].definition == "Customers cannot pay"
        # A rolled-back change is forgotten with its transaction.
        with sessions() as session:
            with session.begin():
                levels = list(severities.scale(session).levels)
                severities.replace_all(session, [replace(levels[0], definition="x"), *levels[1:]])
                assert severities.scale(session).levels[0].definition == "x"
                session.rollback()
            with session.begin():
                assert severities.scale(session).levels[0].definition == "Customers cannot pay"
    finally:
        event.remove(engine, "before_cursor_execute", note)
