"""Claims on a controllable clock: renewed while a send is slow, given up when a send hangs, and
the order of an incident's pages and notices. See test_claim_recovery.py for killed processes."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import free_port
from tests.engine.test_escalation_flow import T0, declare, engine_for, setup
from tests.receivers import PageReceiver
from tests.serving import wait_for
from tocsin.clock import FixedClock
from tocsin.engine.outbox import Sender, adapter_factory
from tocsin.notify import Message, Outcome, SendResult
from tocsin.services import incidents
from tocsin.settings import Settings
from tocsin.store import users
from tocsin.store.models import ContactMethod, Notification


class Stuck:
    """An adapter whose send blocks until released, like a receiver that answers very late."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def send(self, message: Message) -> SendResult:
        self.started.set()
        self.release.wait(timeout=30)
        return SendResult(Outcome.SENT, "late")


def claimed_until(sessions: sessionmaker[Session]) -> object:
    with sessions() as session:
        return session.scalar(select(Notification.claimed_until))


def test_a_slow_send_keeps_its_claim_and_a_hung_one_loses_it(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    setup(sessions, receiver)
    clock = FixedClock(T0)
    declare(sessions, clock)
    stuck = Stuck()
    # A one-second lease, renewed every quarter second of real time while the send lasts.
    slow = Sender(sessions, clock, lambda _m: stuck, node="slow", lease=timedelta(seconds=1))
    sending = threading.Thread(target=slow.run_once)
    sending.start()
    try:
        assert stuck.started.wait(timeout=30)
        other = Sender(sessions, clock, adapter_factory(Settings()), node="other")
        clock.advance(seconds=30)  # the first lease ran out long ago, but the sender lives
        renewed = T0 + timedelta(seconds=31)
        assert wait_for(lambda: claimed_until(sessions) == renewed)
        assert other.run_once() == 0  # still the slow sender's
        clock.advance(seconds=40)  # 70 s into one send: longer than the 60 s claim setting
        assert other.run_once() == 1  # a hung send: another node tries
        assert receiver.who() == ["alice"]
    finally:
        stuck.release.set()
        sending.join()
    with sessions() as session:
        [row] = session.scalars(select(Notification))
        assert (row.status, row.attempts) == ("sent", 2)  # recorded once, by the other node


def test_a_broken_pager_does_not_hold_the_next_level_back(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    setup(sessions, receiver)
    with sessions() as session, session.begin():
        alice = users.get_by_handle(session, "alice")
        method = session.scalars(select(ContactMethod).where(ContactMethod.user_id == alice.id))
        method.one().target = f"http://127.0.0.1:{free_port()}/alice"  # nobody listens
    clock = FixedClock(T0)
    engine = engine_for(sessions, clock)
    declare(sessions, clock)
    engine.run_once()  # alice's page fails and waits for a retry
    clock.advance(minutes=15)
    engine.run_once()
    assert receiver.who() == ["bob"]  # level 2 goes out, after alice's page was tried again
    with sessions() as session:
        rows = session.scalars(select(Notification).order_by(Notification.id))
        statuses = [(n.status, n.attempts) for n in rows]
    assert statuses[1] == ("sent", 1)
    assert statuses[0][0] == "pending" and statuses[0][1] >= 2


def test_nobody_hears_resolved_of_a_page_that_never_went_out(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    setup(sessions, receiver)
    clock = FixedClock(T0)
    engine = engine_for(sessions, clock)
    declare(sessions, clock)
    with sessions() as session, session.begin():
        incidents.resolve(session, "INC-1", message="a blip", actor="alice", now=clock.now())
    engine.run_once()
    assert receiver.pages == []  # neither the page (withdrawn) nor a resolve notice
    with sessions() as session:
        kinds = [(n.kind, n.status) for n in session.scalars(select(Notification))]
        timeline = [e.message for e in incidents.get(session, "INC-1").events]
    assert kinds == [("page", "cancelled")]
    assert not any(m.startswith("Telling") for m in timeline)
