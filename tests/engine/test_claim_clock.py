"""Nodes whose wall clocks disagree still agree on outbox claims: on PostgreSQL the runtime
stamps and compares claims by the database server's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from tests.engine.test_escalation_flow import declare, setup
from tests.receivers import PageReceiver
from tocsin import app
from tocsin.clock import FixedClock, SystemClock
from tocsin.settings import Settings
from tocsin.store.db import DatabaseClock
from tocsin.store.models import Notification


class Skewed(SystemClock):
    """The wall clock of a node whose time is off by `by`."""

    def __init__(self, by: timedelta) -> None:
        self.by = by

    def now(self) -> datetime:
        return super().now() + self.by


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_node_ten_minutes_behind_does_not_take_over_a_live_claim(
    db_url: str, receiver: PageReceiver
) -> None:
    settings = Settings(database_url=db_url, base_url="https://tocsin.test")
    behind = app.build(settings, clock=Skewed(timedelta(minutes=-10)))
    ahead = app.build(settings, clock=Skewed(timedelta(minutes=10)))
    try:
        setup(behind.sessions, receiver)
        declare(behind.sessions, FixedClock(behind.clock.now()))
        claimed, _methods = behind.sender.claim()
        assert [c.kind for c in claimed] == ["page"]
        with behind.sessions() as session:
            until = session.scalar(select(Notification.claimed_until))
            server_now = session.scalar(text("SELECT clock_timestamp()"))
        assert until is not None and server_now is not None
        # A lease from the server's now: neither ten minutes gone already nor ten minutes long.
        assert timedelta(0) < until - server_now <= behind.sender.lease
        # The node ahead, by its own clock, would count that claim long run out and page again.
        assert ahead.clock.now() > until
        taken, _methods = ahead.sender.claim()
        assert taken == []
    finally:
        behind.close()
        ahead.close()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_database_clock_is_the_servers(db_url: str) -> None:
    runtime = app.build(Settings(database_url=db_url))
    try:
        server = DatabaseClock(runtime.database)
        first, second = server.now(), server.now()
        assert first.tzinfo is not None and first.utcoffset() == timedelta(0)
        assert first < second  # the server's clock, not its transaction's start
        assert abs(first - datetime.now(UTC)) < timedelta(seconds=5)
    finally:
        runtime.close()


def test_a_clock_moved_by_hand_stays_in_charge_of_claims(db_url: str) -> None:
    # Tests and drills move time themselves, on either database: claims follow that clock.
    clock = FixedClock(datetime(2024, 6, 20, 10, 30, tzinfo=UTC))
    runtime = app.build(Settings(database_url=db_url), clock=clock)
    try:
        assert app.claim_clock(runtime.database, clock) is clock
    finally:
        runtime.close()
