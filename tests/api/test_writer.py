"""The group-commit writer: many requests per transaction, answered only once committed."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tests.conftest import T0, LiveServer, seed_people
from tocsin.api import writer as writer_module
from tocsin.api.writer import Overloaded, Writer
from tocsin.clock import FixedClock
from tocsin.core.alerts import AlertAction, AlertEvent, Outcome
from tocsin.errors import InvalidInput, Unauthenticated
from tocsin.services import alerts, ingest
from tocsin.store import integrations
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

    def broken(self: ingest.Batch) -> None:
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(ingest.Batch, "finish", broken)

    async def burst() -> list[object]:
        calls = [writer.submit(generic, IntegrationType.GENERIC, [_event(k)]) for k in "xyz"]
        return await asyncio.gather(*calls, return_exceptions=True)

    assert all(isinstance(r, Overloaded) for r in asyncio.run(burst()))
    with sessions() as session:
        assert alerts.list_(session) == []  # nothing half-written


@pytest.mark.slow
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


@pytest.fixture
def idle_writer(db_url: str):  # type: ignore[no-untyped-def]
    """A writer not yet started, so that every request submitted first lands in one batch."""
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    with sessions() as session, session.begin():
        seed_people(session)
        _, generic = integrations.create(session, service="api-gateway", type="generic", now=T0)
    writer = Writer(sessions, FixedClock(T0))
    yield writer, sessions, generic
    writer.stop()
    engine.dispose()


def _in_one_batch(writer: Writer, calls: list[object]) -> list[object]:
    async def burst() -> list[object]:
        tasks = [asyncio.ensure_future(call) for call in calls]  # type: ignore[call-overload]
        await asyncio.sleep(0.01)  # every request is queued...
        writer.start()  # ...before the writer takes the first batch
        return await asyncio.gather(*tasks, return_exceptions=True)

    return asyncio.run(burst())


# Values only a parser stands between the database and: here the writer meets them itself.
POISON = [
    pytest.param(
        AlertEvent(AlertAction.TRIGGER, "p", summary="lone \ud800"),
        {"sqlite", "postgresql"},
        id="surrogate",
    ),
    pytest.param(
        AlertEvent(AlertAction.TRIGGER, "p" * 600, summary="x"), {"postgresql"}, id="key-too-long"
    ),
    pytest.param(AlertEvent(AlertAction.TRIGGER, "p", summary="\x00"), {"postgresql"}, id="nul"),
]


@pytest.mark.parametrize(("poison", "refused_by"), POISON)
def test_one_refused_request_fails_alone(  # type: ignore[no-untyped-def]
    idle_writer, db_url: str, poison: AlertEvent, refused_by: set[str]
) -> None:
    writer, sessions, generic = idle_writer
    good = [[_event(f"good-{n}")] for n in range(9)]
    calls = [writer.submit(generic, IntegrationType.GENERIC, events) for events in good[:4]]
    calls.append(writer.submit(generic, IntegrationType.GENERIC, [poison]))
    calls += [writer.submit(generic, IntegrationType.GENERIC, events) for events in good[4:]]
    answers = _in_one_batch(writer, calls)
    answer = answers.pop(4)
    expected = sorted(f"good-{n}" for n in range(9))
    if db_url.split(":")[0].split("+")[0] in refused_by:
        assert isinstance(answer, InvalidInput), answer  # a 4xx: the sender must not retry
        assert "the database cannot store this request's data" in answer.message
    else:  # this database stores the value: the request is answered like any other
        assert isinstance(answer, list) and answer[0].outcome is Outcome.OPENED, answer
        expected = sorted([*expected, poison.dedup_key])
    assert all(isinstance(a, list) and a[0].outcome is Outcome.OPENED for a in answers), answers
    with sessions() as session:  # every answered request is committed, the refused one is not
        stored = sorted(a.dedup_key for a in alerts.list_(session))
    assert stored == expected


def test_a_batch_that_lost_a_deadlock_is_tried_again(
    writer_setup,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    writer, sessions, generic, _pd = writer_setup
    finish = ingest.Batch.finish
    losses = iter(["40P01", "40001", "55P03"])

    class LostRace(Exception):
        def __init__(self, sqlstate: str) -> None:
            super().__init__(f"SQLSTATE {sqlstate}")
            self.sqlstate = sqlstate

    def lose_then_win(self: ingest.Batch) -> None:
        state = next(losses, None)
        if state is not None:
            raise OperationalError("UPDATE", {}, LostRace(state))
        finish(self)

    monkeypatch.setattr(ingest.Batch, "finish", lose_then_win)
    answers = asyncio.run(writer.submit(generic, IntegrationType.GENERIC, [_event("r")]))
    assert [a.outcome for a in answers] == [Outcome.OPENED]
    with sessions() as session:
        assert [a.dedup_key for a in alerts.list_(session)] == ["r"]


def test_a_batch_that_keeps_losing_asks_for_a_retry(
    writer_setup,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    writer, sessions, generic, _pd = writer_setup

    class Deadlock(Exception):
        sqlstate = "40P01"

    def lose(self: ingest.Batch) -> None:
        raise OperationalError("UPDATE", {}, Deadlock())

    monkeypatch.setattr(ingest.Batch, "finish", lose)
    with pytest.raises(Overloaded):
        asyncio.run(writer.submit(generic, IntegrationType.GENERIC, [_event("r")]))
    with sessions() as session:
        assert alerts.list_(session) == []


@pytest.mark.parametrize(
    ("sqlstate", "tries"),
    [("40P01", writer_module.ATTEMPTS), ("55P03", writer_module.LOCK_TIMEOUT_ATTEMPTS)],
)
def test_a_lock_timeout_is_tried_fewer_times_than_a_deadlock(
    writer_setup,
    monkeypatch: pytest.MonkeyPatch,
    sqlstate: str,
    tries: int,  # type: ignore[no-untyped-def]
) -> None:
    # A lock timeout already waited seconds for the lock: fewer tries keep the sender's wait short.
    writer, _sessions, generic, _pd = writer_setup
    calls = []

    class Lost(Exception):
        pass

    def lose(self: ingest.Batch) -> None:
        calls.append(sqlstate)
        failure = Lost()
        failure.sqlstate = sqlstate  # type: ignore[attr-defined]
        raise OperationalError("UPDATE", {}, failure)

    monkeypatch.setattr(ingest.Batch, "finish", lose)
    with pytest.raises(Overloaded):
        asyncio.run(writer.submit(generic, IntegrationType.GENERIC, [_event("r")]))
    assert len(calls) == tries


def test_a_removed_key_is_refused_even_while_remembered(writer_setup) -> None:  # type: ignore[no-untyped-def]
    writer, sessions, generic, _pd = writer_setup
    asyncio.run(writer.submit(generic, IntegrationType.GENERIC, [_event("a")]))
    assert writer.check_key(generic, IntegrationType.GENERIC)  # known without the database
    with pytest.raises(InvalidInput, match="belongs to a generic integration, not pagerduty"):
        writer.check_key(generic, IntegrationType.PAGERDUTY)
    with sessions() as session, session.begin():
        [found] = [i for i in integrations.list_(session) if i.type == "generic"]
        integrations.remove(session, found.id)
    assert writer.check_key(generic, IntegrationType.GENERIC)  # the hint is stale...
    with pytest.raises(Unauthenticated):  # ...but the writer checks again before storing
        asyncio.run(writer.submit(generic, IntegrationType.GENERIC, [_event("b")]))


def test_a_configuration_problem_met_while_applying_asks_for_a_retry(
    writer_setup,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    # The sender's data passed its parser; an InvalidInput now is this installation's doing.
    # A 4xx would make Alertmanager or PagerDuty clients drop the alert for good.
    writer, _sessions, generic, _pd = writer_setup

    def broken_config(self: ingest.Batch) -> None:
        raise InvalidInput("unknown severity 'SEV-9'")

    monkeypatch.setattr(ingest.Batch, "finish", broken_config)
    with pytest.raises(Overloaded):
        asyncio.run(writer.submit(generic, IntegrationType.GENERIC, [_event("kept")]))


def test_the_writer_survives_a_bug_and_answers_the_next_request(
    writer_setup,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    writer, _sessions, generic, _pd = writer_setup
    answers = Writer._answers
    failures = iter([RuntimeError("a bug")])

    def fail_once(self: Writer, jobs: list[object]) -> object:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return answers(self, jobs)  # type: ignore[arg-type]

    monkeypatch.setattr(Writer, "_answers", fail_once)
    with pytest.raises(Overloaded):
        asyncio.run(writer.submit(generic, IntegrationType.GENERIC, [_event("first")]))
    later = asyncio.run(writer.submit(generic, IntegrationType.GENERIC, [_event("second")]))
    assert [a.outcome for a in later] == [Outcome.OPENED]
