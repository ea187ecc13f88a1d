"""The group-commit writer: many requests per transaction, answered only once committed."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tests.conftest import T0, LiveServer, seed_people
from tocsin.api.writer import Overloaded, Writer
from tocsin.clock import FixedClock
from tocsin.core.alerts import AlertAction, AlertEvent, Outcome
from tocsin.errors import InvalidInput, Unauthenticated
from tocsin.store import alerts, dedup, integrations
from tocsin.store.db import make_engine, make_sessionmaker
from tocsin.store.integrations import IntegrationType


def _event(key: str) -> AlertEvent:
    return AlertEvent(AlertAction.TRIGGER, key, summary=f"{key} down", severity="info")


@pytest.fixture
def writer_setup(db_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    with sessions() as session, session.begin():
        seed_people(session)
        _, generic = integrations.create(session, service="api-gateway", type="generic", now=T0)
        _, pd = integrations.create(session, service="api-gateway", type="pagerduty", now=T0)
    writer = Writer(sessions, FixedClock(T0))
    writer.start()
    yield writer, sessions, generic, pd
    writer.stop()
    engine.dispose()


def test_one_batch_answers_each_request_on_its_own(writer_setup) -> None:  # type: ignore[no-untyped-def]
    writer, sessions, generic, pd = writer_setup

    async def burst() -> list[object]:
        calls = [
            writer.submit(generic, IntegrationType.GENERIC, [_event("a")]),
            writer.submit("0" * 32, IntegrationType.GENERIC, [_event("b")]),
            writer.submit(pd, IntegrationType.GENERIC, [_event("c")]),
            writer.submit(generic, IntegrationType.GENERIC, [_event("a"), _event("d")]),
        ]
        return await asyncio.gather(*calls, return_exceptions=True)

    first, unknown, wrong_type, last = asyncio.run(burst())
    assert isinstance(unknown, Unauthenticated)
    assert isinstance(wrong_type, InvalidInput)
    assert [r.outcome for r in first] == [Outcome.OPENED]  # type: ignore[union-attr]
    assert [r.outcome for r in last] == [Outcome.REPEATED, Outcome.OPENED]  # type: ignore[union-attr]
    with sessions() as session:
        assert sorted((a.dedup_key, a.count) for a in alerts.list_(session)) == [("a", 2), ("d", 1)]


def test_a_failed_commit_answers_every_request_with_retry(
    writer_setup,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    writer, sessions, generic, _pd = writer_setup

    def broken(self: dedup.Batch) -> None:
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(dedup.Batch, "finish", broken)

    async def burst() -> list[object]:
        calls = [writer.submit(generic, IntegrationType.GENERIC, [_event(k)]) for k in "xyz"]
        return await asyncio.gather(*calls, return_exceptions=True)

    assert all(isinstance(r, Overloaded) for r in asyncio.run(burst()))
    with sessions() as session:
        assert alerts.list_(session) == []  # nothing half-written


def test_concurrent_senders_over_http_count_exactly(live_server: LiveServer) -> None:
    key = live_server.integration("pagerduty")
    keys = [f"disk-{n}" for n in range(20)]

    def send(n: int) -> int:
        body = {
            "routing_key": key,
            "event_action": "trigger",
            "dedup_key": keys[n % 20],
            "payload": {"summary": f"disk full {n % 20}", "source": "db", "severity": "info"},
        }
        with httpx.Client(base_url=live_server.url) as client:
            return client.post("/v2/enqueue", json=body).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(send, range(200)))
    assert statuses.count(202) == 200
    engine = make_engine(live_server.db_url)
    with Session(engine) as session:
        found = alerts.list_(session, limit=1000)
        assert len(found) == 20  # one open alert per key, however the requests interleaved
        assert sum(a.count for a in found) == 200  # every 2xx is in the database
    engine.dispose()
