"""The engine loop finds due work in the database: a restart forgets no heartbeat deadline."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import T0, seed_people
from tocsin.app import DUE_WORK
from tocsin.clock import FixedClock
from tocsin.engine.loop import Engine
from tocsin.services import alerts, heartbeats
from tocsin.store import integrations


def test_run_once_fires_missed_heartbeats_and_says_when_to_look_again(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session, session.begin():
        seed_people(session)
        integrations.create(
            session,
            service="api-gateway",
            type="heartbeat",
            name="backup",
            interval=timedelta(minutes=10),
            now=T0,
        )
    clock = FixedClock(T0)
    # a fresh engine, as after a restart: everything it needs is in the tables
    engine = Engine(sessions, clock, DUE_WORK)
    assert engine.run_once() == T0 + timedelta(minutes=10)
    clock.advance(minutes=11)
    # fired; the heartbeat waits for its next ping, and the SEV-2 it opened has no IC yet,
    # so the next work is that reminder, 5 minutes on
    assert engine.run_once() == T0 + timedelta(minutes=16)
    with sessions() as session:
        assert heartbeats.next_due(session) is None
        [alert] = alerts.list_(session)
        assert alert.summary.startswith("Heartbeat backup of api-gateway missed: no ping yet")


def test_the_thread_is_woken_early(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        seed_people(session)
    clock = FixedClock(T0)
    engine = Engine(sessions, clock, DUE_WORK, max_sleep=30)
    engine.start()
    try:
        with sessions() as session, session.begin():
            integrations.create(
                session,
                service="api-gateway",
                type="heartbeat",
                name="b",
                interval=timedelta(minutes=1),
                now=T0,
            )
        clock.advance(minutes=2)
        engine.wake()  # without this the loop would sleep its full 30 s
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with sessions() as session:
                if alerts.list_(session):
                    break
            time.sleep(0.05)
        with sessions() as session:
            assert len(alerts.list_(session)) == 1
    finally:
        engine.stop()
