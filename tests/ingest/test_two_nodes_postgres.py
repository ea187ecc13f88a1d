"""Two `tocsin serve` nodes on one PostgreSQL database, PagerDuty events over 20 services.

Each node's ingest batch used to lock service rows in the order its events arrived: two
batches then locked in opposite orders, PostgreSQL aborted one as a deadlock (40P01), and
every request in it got 503. Batches now lock in id order and retry a lost race, so no
sender hears 503 without a fault, and every 2xx is in the database.
"""

from __future__ import annotations

import asyncio
import random
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tests.conftest import T0
from tests.serving import create_keys, serve
from tocsin.api.writer import Writer
from tocsin.clock import FixedClock
from tocsin.core.alerts import AlertAction, AlertEvent, Outcome
from tocsin.store.db import make_engine, make_sessionmaker
from tocsin.store.integrations import IntegrationType
from tocsin.store.models import Alert, Service

SERVICES = 20
CLIENTS = 20
EVENTS = 60  # per client: 1,200 in all
RESOLVE_SHARE = 0.3


def _send(urls: list[str], keys: list[str], client: int) -> list[tuple[str, str, int, str]]:
    """Send this client's events to the nodes in turn; return (action, key, status, text)."""
    rng = random.Random(client)
    open_keys: list[tuple[int, str]] = []
    answers = []
    nodes = [httpx.Client(base_url=url, timeout=60) for url in urls]
    try:
        for n in range(EVENTS):
            if open_keys and rng.random() < RESOLVE_SHARE:
                service, key = open_keys.pop(rng.randrange(len(open_keys)))
                action = "resolve"
            else:
                service, key = rng.randrange(SERVICES), f"c{client}-e{n}"
                open_keys.append((service, key))
                action = "trigger"
            body = {
                "routing_key": keys[service],
                "event_action": action,
                "dedup_key": key,
                "payload": {"summary": f"{key} failing", "source": "db", "severity": "critical"},
            }
            answer = nodes[n % len(nodes)].post("/v2/enqueue", json=body)
            answers.append((action, key, answer.status_code, answer.text))
    finally:
        for node in nodes:
            node.close()
    return answers


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_nodes_under_load_answer_no_503(db_url: str, tmp_path: Path) -> None:
    keys = [
        create_keys(db_url, ["pagerduty"], service=f"svc-{n:02d}")["pagerduty"]
        for n in range(SERVICES)
    ]
    with ExitStack() as stack:
        nodes = [serve(db_url, tmp_path / f"node{n}.log") for n in range(2)]
        urls = [stack.enter_context(node).url for node in nodes]
        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = [
                a
                for client in pool.map(lambda c: _send(urls, keys, c), range(CLIENTS))
                for a in client
            ]
    failed = [a for a in answers if a[2] != 202]
    assert failed == [], f"{len(failed)} of {len(answers)} events not accepted: {failed[:5]}"
    engine = make_engine(db_url)
    with Session(engine) as session:
        rows = session.execute(select(Alert.dedup_key, Alert.status)).all()
    stored = {row.dedup_key: row.status for row in rows}
    engine.dispose()
    final: dict[str, str] = {}
    for action, key, _status, _text in answers:
        final[key] = "resolved" if action == "resolve" else "triggered"
    assert stored == final  # every 2xx is in the database, as last said


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_frozen_lock_holder_is_cut_off(db_url: str) -> None:
    """A node stopped inside a transaction (SIGSTOP) loses its locks; ingestion goes on."""
    key = create_keys(db_url, ["pagerduty"], service="frozen")["pagerduty"]
    engine = make_engine(db_url)
    writer = Writer(make_sessionmaker(engine), FixedClock(T0))
    writer.start()
    frozen = engine.connect()
    try:
        frozen.begin()
        frozen.execute(
            select(Service.id).where(Service.slug == "frozen").with_for_update()
        ).all()  # ...and then nothing more, as a stopped process would
        event = AlertEvent(AlertAction.TRIGGER, "disk", summary="disk full", severity="critical")
        # Without the server's idle_in_transaction_session_timeout this waits forever.
        [result] = asyncio.run(
            asyncio.wait_for(writer.submit(key, IntegrationType.PAGERDUTY, [event]), 60)
        )
        assert result.outcome is Outcome.OPENED and result.incident == "INC-1"
        with pytest.raises(DBAPIError, match="idle-in-transaction timeout"):
            frozen.execute(text("SELECT 1"))  # the server ended the frozen session
    finally:
        frozen.invalidate()
        frozen.close()
        writer.stop()
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_repeats_counted_by_two_nodes_at_once_all_count(db_url: str) -> None:
    """Two nodes each count a repeat of the same alert, reading it before either commits:
    both repeats are in its count (the second node's write used to overwrite the first's)."""
    from tocsin.services.ingest import ingest
    from tocsin.store import integrations

    key = create_keys(db_url, ["pagerduty"], service="counted")["pagerduty"]
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    event = AlertEvent(AlertAction.TRIGGER, "disk", summary="disk full", severity="warning")

    def repeat(session: Session) -> None:
        ingest(session, integrations.authenticate(session, key), [event], now=T0)

    with sessions() as session, session.begin():
        repeat(session)  # the alert, count 1
    first = sessions()
    try:
        first.begin()
        repeat(first)  # read 1, wrote 2, row locked until it commits
        with ThreadPoolExecutor(1) as pool:
            second = pool.submit(lambda: _in_transaction(sessions, repeat))  # reads 1, waits
            _until_one_waits_for_a_lock(engine, second)
            first.commit()
            second.result(timeout=30)
    finally:
        first.close()
    with Session(engine) as session:
        assert session.scalar(select(Alert.count).where(Alert.dedup_key == "disk")) == 3
    engine.dispose()


def _until_one_waits_for_a_lock(engine: Any, other: Any) -> None:
    """Return once a session of this database waits for a lock; fail if `other` ends first."""
    for _ in range(600):
        if other.done():
            other.result()  # it finished without waiting: say why
            raise AssertionError("the second node never waited for the first one's row")
        # Each look in its own transaction: pg_stat_activity is read once per transaction.
        with engine.connect() as watcher:
            waiting = watcher.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            )
        if waiting:
            return
        time.sleep(0.05)
    raise AssertionError("the second node never waited for the first one's row")


def _in_transaction(sessions: Any, work: Any) -> None:
    with sessions() as session, session.begin():
        # However slow the machine, wait for the first node instead of giving up after 3 s.
        session.execute(text("SET LOCAL lock_timeout = '60s'"))
        work(session)
