"""A pass of the engine with nothing due writes nothing.

The engine looks at its tables about once a second. Each look used to open a write transaction
per kind of work, which on SQLite means the one write lock: ingestion queued behind every idle
look, and the slowest answers of a steady alert stream were those that met one.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine as Database
from sqlalchemy import event, text
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import SQLITE_ONLY
from tests.engine.test_escalation_flow import T0, declare, setup
from tests.receivers import PageReceiver
from tocsin.app import due_work, subscriber_lane
from tocsin.clock import FixedClock
from tocsin.engine.loop import Engine
from tocsin.engine.outbox import Sender, adapter_factory
from tocsin.settings import Settings
from tocsin.store.db import make_read_sessionmaker

WRITES = ("INSERT", "UPDATE", "DELETE", "BEGIN IMMEDIATE")


def _engine(engine: Database, sessions: sessionmaker[Session], clock: FixedClock) -> Engine:
    # Every kind of due work a deployment runs, the subscribers' lane included.
    settings = Settings()
    sender = Sender(sessions, clock, adapter_factory(settings), base_url="https://tocsin.test")
    return Engine(
        sessions,
        clock,
        due_work(settings),
        sender=sender,
        read_sessions=make_read_sessionmaker(engine),
        lane=subscriber_lane(settings, sessions, clock, engine, node="test"),
    )


def _paged_level_1(
    engine: Database,
    sessions: sessionmaker[Session],
    receiver: PageReceiver,
) -> tuple[Engine, FixedClock]:
    """Return an engine that has paged level 1 of a new incident, and its clock."""
    setup(sessions, receiver)
    clock = FixedClock(T0)
    worker = _engine(engine, sessions, clock)
    declare(sessions, clock)
    assert worker.run_once() == T0 + timedelta(minutes=5)  # the no-commander reminder
    assert receiver.who() == ["alice"]
    return worker, clock


def _writing(statement: str) -> bool:
    said = statement.lstrip().upper()
    return said.startswith(WRITES) or "FOR UPDATE" in said


def test_an_idle_pass_writes_nothing_and_due_work_is_still_done(
    engine: Database, sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    worker, clock = _paged_level_1(engine, sessions, receiver)
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        clock.advance(minutes=1)
        assert worker.run_once() == T0 + timedelta(minutes=5)
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert seen, "the pass looked at nothing"
    assert [s for s in seen if _writing(s)] == []

    # Work that falls due is done as before: level 2 pages at 15 minutes.
    clock.advance(minutes=14)
    worker.run_once()
    assert receiver.who() == ["alice", "bob"]


@SQLITE_ONLY
def test_an_idle_pass_does_not_wait_for_a_writer_holding_the_sqlite_lock(
    engine: Database, sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    worker, clock = _paged_level_1(engine, sessions, receiver)
    clock.advance(minutes=1)
    finished = threading.Event()

    def run() -> None:
        worker.run_once()
        finished.set()

    with sessions() as holder, holder.begin():
        holder.execute(text("UPDATE services SET description = 'busy'"))  # holds the lock
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        # A pass that wanted the lock would wait for this transaction (10 s and more).
        assert finished.wait(timeout=5), "the idle pass waited for the write lock"
    thread.join(timeout=5)
