"""Alert lists and the timeline come a page at a time, in index order, on both databases."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import T0, People, seed_people
from tocsin.core.alerts import AlertAction, AlertEvent
from tocsin.errors import InvalidInput
from tocsin.services import alerts, incidents
from tocsin.store import integrations, services, timeline
from tocsin.store.models import Incident


def _trigger(
    session: Session, key: str, n: int, *, minute: int, severity: str = "info"
) -> list[alerts.Result]:
    integration = integrations.list_(session, service=key)[0]
    events = [
        AlertEvent(
            AlertAction.TRIGGER, f"{key}-{minute}-{i}", summary=f"{key} {i}", severity=severity
        )
        for i in range(n)
    ]
    return alerts.ingest(session, integration, events, now=T0 + timedelta(minutes=minute))


@pytest.fixture
def two_services(session: Session, people: People) -> None:
    """Service a with 23 alerts (several seen at the same instant), service b with 5."""
    for slug in ("a", "b"):
        services.create(session, slug=slug, name=slug, now=T0)
        session.flush()
        integrations.create(session, service=slug, type="generic", name=slug, now=T0)
    for minute in range(4):
        _trigger(session, "a", 5 if minute < 3 else 8, minute=minute)  # ties on last_seen
    _trigger(session, "b", 5, minute=1)
    session.flush()


def _all_pages(fetch: Callable[[str | None], alerts.Page[Any]]) -> list[list[Any]]:
    pages, cursor = [], None
    while True:
        found = fetch(cursor)
        pages.append(found.items)
        if found.next_cursor is None:
            return pages
        cursor = found.next_cursor


@pytest.mark.usefixtures("two_services")
@pytest.mark.parametrize(
    "filters",
    [
        pytest.param({}, id="all"),
        pytest.param({"service": "a"}, id="service"),
        pytest.param({"open_only": True}, id="open"),
        pytest.param({"status": ["triggered"], "service": "b"}, id="status"),
    ],
)
def test_pages_of_alerts_hold_every_alert_once_in_order(
    session: Session, filters: dict[str, Any]
) -> None:
    whole = alerts.list_(session, limit=1000, **filters)
    pages = _all_pages(lambda cursor: alerts.page(session, limit=4, cursor=cursor, **filters))
    assert [a.id for page in pages for a in page] == [a.id for a in whole]
    assert all(len(page) == 4 for page in pages[:-1]) and 1 <= len(pages[-1]) <= 4
    assert whole == sorted(whole, key=lambda a: (a.last_seen, a.id), reverse=True)


@pytest.mark.usefixtures("two_services")
def test_resolved_alerts_leave_the_open_pages(session: Session) -> None:
    first = alerts.page(session, open_only=True, service="a", limit=10)
    alerts.resolve(session, first.items[0].id, actor="alice", now=T0 + timedelta(minutes=9))
    assert alerts.page(session, open_only=True, service="a", limit=10).items[0] == first.items[1]
    rest = alerts.page(session, open_only=True, service="a", limit=100, cursor=first.next_cursor)
    assert len(first.items) + len(rest.items) == 23 and rest.next_cursor is None


@pytest.mark.usefixtures("two_services")
def test_a_cursor_of_another_list_is_refused(session: Session) -> None:
    incident = incidents.declare(session, title="t", severity="SEV-3", actor="a", now=T0).incident
    foreign = timeline.page(session, incident.id, limit=1).items  # one entry: no cursor
    assert foreign
    other = alerts.for_incident(session, incident).next_cursor
    assert other is None
    with pytest.raises(InvalidInput, match="cursor: 'bogus' is not a cursor of this list"):
        alerts.page(session, cursor="bogus")


def _big_incident(session: Session, n: int) -> Incident:
    services.create(session, slug="web", name="web", now=T0)
    session.flush()
    integrations.create(session, service="web", type="generic", name="web", now=T0)
    for minute in range(n // 10):
        _trigger(session, "web", 10, minute=minute, severity="critical")
    session.flush()
    incident = incidents.get(session, "INC-1")
    incidents.add_note(
        session, incident, "a note", actor="alice", now=T0 + timedelta(minutes=n // 10)
    )
    session.flush()
    return incident


def test_an_incidents_alerts_come_first_seen_first_with_their_total(
    session: Session, people: People
) -> None:
    incident = _big_incident(session, 60)
    first = alerts.for_incident(session, incident, limit=25)
    assert first.total == 60 and len(first.items) == 25 and first.next_cursor
    pages = _all_pages(lambda c: alerts.for_incident(session, incident, limit=25, cursor=c))
    ids = [a.id for page in pages for a in page]
    assert [len(p) for p in pages] == [25, 25, 10] and len(set(ids)) == 60
    seen = [(a.first_seen, a.id) for page in pages for a in page]
    assert seen == sorted(seen)
    with pytest.raises(InvalidInput, match=r"^alerts: "):
        alerts.for_incident(session, incident, cursor=first.next_cursor + "x")


def test_the_timeline_comes_newest_first_a_page_at_a_time(session: Session, people: People) -> None:
    incident = _big_incident(session, 60)
    everything = list(reversed(incidents.timeline(session, incident)))
    pages = _all_pages(lambda c: timeline.page(session, incident.id, limit=20, cursor=c))
    assert [e.id for page in pages for e in page] == [e.id for e in everything]
    assert pages[0][0].kind == "note"
    notes = timeline.page(session, incident.id, kinds={"note"}, limit=20)
    assert [e.message for e in notes.items] == ["a note"] and notes.next_cursor is None
    newest, count = timeline.version(session, incident.id)
    assert newest == max(e.id for e in everything) and count == len(everything)


# --- plans: every list reads its first rows off an index, in order, with no sort ----------------


@contextmanager
def _statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def _plan(session: Session, statement: str, parameters: Any) -> str:
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        return "\n".join(str(row[-1]) for row in rows)
    # The tables are tiny: forbid what a big table would never choose, so the plan shows
    # which index could serve the order.
    for setting in ("seqscan", "sort", "incremental_sort", "bitmapscan"):
        connection.exec_driver_sql(f"SET LOCAL enable_{setting} = off")
    rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters)
    return "\n".join(str(row[0]) for row in rows)


def test_every_list_reads_in_index_order_without_sorting(
    sessions: sessionmaker[Session], engine: Engine
) -> None:
    with sessions() as session, session.begin():
        seed_people(session)
        incident_id = _big_incident(session, 30).id
    lists: dict[str, Callable[[Session], object]] = {
        "alerts of a service": lambda s: alerts.page(s, service="web", limit=5),
        "open alerts": lambda s: alerts.page(s, open_only=True, limit=5),
        "next page": lambda s: alerts.page(s, limit=5, cursor=alerts.page(s, limit=5).next_cursor),
        "an incident's alerts": lambda s: alerts.for_incident(
            s, incidents.get(s, "INC-1"), limit=5
        ),
        "newest timeline": lambda s: timeline.page(s, incident_id, limit=5),
    }
    for name, run in lists.items():
        with sessions() as session, session.begin():
            with _statements(engine) as seen:
                run(session)
            statement, parameters = next(
                (s, p) for s, p in reversed(seen) if "ORDER BY" in s and "LIMIT" in s
            )
            plan = _plan(session, statement, parameters)
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, f"{name}:\n{plan}"
        assert "INDEX" in plan.upper(), f"{name}:\n{plan}"
