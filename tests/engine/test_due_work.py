"""Each kind of due work runs in its own transaction: one that fails undoes none of the others."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.engine.test_escalation_flow import T0, declare, engine_for, setup
from tests.receivers import PageReceiver
from tocsin.clock import FixedClock
from tocsin.engine import reminders
from tocsin.engine.loop import PassFailed
from tocsin.services import incidents


def test_a_failing_reminder_does_not_hold_back_the_escalation(
    sessions: sessionmaker[Session], receiver: PageReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup(sessions, receiver)
    clock = FixedClock(T0)
    engine = engine_for(sessions, clock)
    declare(sessions, clock)
    engine.run_once()
    assert receiver.who() == ["alice"]

    def broken(session: Session, *, now: datetime, limit: int = 100) -> int:
        raise RuntimeError("a reminder that cannot be written")

    monkeypatch.setattr(reminders, "update_all", broken)
    clock.advance(minutes=15)
    with pytest.raises(PassFailed):
        engine.run_once()
    # Level 2 was stepped, committed and sent although the reminders failed after it.
    assert receiver.who() == ["alice", "bob"]
    with sessions() as session:
        timeline = [e.message for e in incidents.get(session, "INC-1").events]
    assert "Paging bob (db-oncall level 2: schedule:db-secondary) via hook" in timeline
    assert not any(m.startswith("Reminder:") for m in timeline)

    monkeypatch.undo()
    engine.run_once()  # the reminders catch up once they can be written again
    with sessions() as session:
        timeline = [e.message for e in incidents.get(session, "INC-1").events]
    assert any(m.startswith("Reminder: no incident commander") for m in timeline)
