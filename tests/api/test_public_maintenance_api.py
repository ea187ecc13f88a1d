"""Public maintenance through the API and the engine, on both databases: announced, started and
completed on the page and in the feed, each stage told to subscribers exactly once."""

from __future__ import annotations

import re
from datetime import timedelta
from xml.etree import ElementTree

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.api.conftest import Api
from tests.conftest import T0
from tocsin.app import due_work
from tocsin.engine.loop import Engine
from tocsin.settings import Settings
from tocsin.store import components
from tocsin.store.models import (
    AuditEntry,
    MaintenanceWindow,
    PublicMaintenance,
    Service,
    StatusSubscriber,
    SubscriberMessage,
)

V1 = "/api/v1"
H = timedelta(hours=1)
ATOM = {"a": "http://www.w3.org/2005/Atom"}


@pytest.fixture
def seeded(api: Api, sessions: sessionmaker[Session]) -> None:
    """Add the components (the gateway is the database's) and two confirmed subscribers: one
    to every component, one to the website only."""
    with sessions() as session, session.begin():
        database = components.create(session, slug="db", name="Database", now=T0)
        components.create(session, slug="web", name="Website", position=1, now=T0)
        session.flush()
        gateway = session.scalars(select(Service).where(Service.slug == "api-gateway")).one()
        gateway.component_id = database.id
        for n, interest in enumerate(([], ["web"]), start=1):
            session.add(
                StatusSubscriber(
                    kind="email",
                    address=f"customer{n}@example.com",
                    address_key=f"{n:064d}",
                    components=interest,
                    token=f"t{n:063d}",
                    secret="",
                    created_at=T0,
                    confirm_sent_at=T0,
                    confirm_expires_at=T0 + 24 * H,
                    confirmed_at=T0,
                )
            )


def messages(sessions: sessionmaker[Session]) -> list[tuple[str, str]]:
    """Return (subscriber address, subject) of every queued subscriber message."""
    with sessions() as session:
        rows = session.scalars(select(SubscriberMessage).order_by(SubscriberMessage.id))
        return [(m.subscriber.address, m.message["subject"]) for m in rows]


def status_text(api: Api, path: str = "/status") -> str:
    answer = api.client.get(path)
    assert answer.status_code == 200, answer.text
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", answer.text))


def feed_titles(api: Api) -> list[str]:
    root = ElementTree.fromstring(api.client.get("/status/feed.atom").content)
    return [str(e.findtext("a:title", namespaces=ATOM)) for e in root.findall("a:entry", ATOM)]


def test_announced_started_completed_on_the_page_the_feed_and_to_subscribers(
    api: Api, seeded: None, sessions: sessionmaker[Session], db_url: str
) -> None:
    answer = api.client.post(
        f"{V1}/status/maintenance",
        json={
            "title": "Database upgrade",
            "components": ["db"],
            "start": (T0 + H).isoformat(),
            "end": (T0 + 2 * H + timedelta(minutes=30)).isoformat(),
            "message": "Writes pause for a minute.",
        },
        headers=api.writer,
    )
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert made["stage"] == "scheduled"
    assert made["silenced"] == ["api-gateway"]
    assert made["page"] == f"/status/maintenance/{made['id']}"
    shown = api.client.get(f"{V1}/status/maintenance/{made['id']}", headers=api.reader).json()
    assert shown["title"] == "Database upgrade"

    page = status_text(api)
    assert "Scheduled maintenance Database upgrade Scheduled" in page
    assert "2024-06-20 11:30\u201313:00 UTC" in page
    assert "Database Operational" in page
    one = status_text(api, made["page"])
    assert "Database upgrade Scheduled" in one and "Affects Database" in one
    # Only the subscriber to every component hears of it: the other follows the website.
    assert messages(sessions) == [
        ("customer1@example.com", "Scheduled maintenance: Database upgrade")
    ]
    with sessions() as session:
        kinds = session.scalars(select(AuditEntry.object_type).where(AuditEntry.who == "alice"))
        assert {"public maintenance", "maintenance window"} <= set(kinds)

    settings = Settings(database_url=db_url, base_url="https://status.example.com")
    # Two engine nodes on the same database, each running every kind of due work.
    nodes = [Engine(sessions, api.clock, due_work(settings)) for _ in range(2)]

    def run_all() -> None:
        for node in nodes:
            node.run_once()

    run_all()
    assert len(messages(sessions)) == 1  # nothing new before the start

    api.clock.set(T0 + H)
    run_all()
    run_all()
    assert messages(sessions)[1:] == [
        ("customer1@example.com", "Maintenance in progress: Database upgrade")
    ]
    page = status_text(api)
    assert "Database upgrade In progress" in page
    assert "Database Under maintenance" in page
    assert "Scheduled maintenance in progress" in page  # the banner

    api.clock.set(T0 + 3 * H)
    run_all()
    assert [subject for _, subject in messages(sessions)] == [
        "Scheduled maintenance: Database upgrade",
        "Maintenance in progress: Database upgrade",
        "Maintenance completed: Database upgrade",
    ]
    page = status_text(api)
    assert "Scheduled maintenance Database" not in page  # nothing ahead any more
    assert "Database Operational" in page
    assert "Past incidents 20 June 2024 Database upgrade Completed" in page
    assert feed_titles(api) == [
        "Database upgrade: Completed",
        "Database upgrade: In progress",
        "Database upgrade: Scheduled",
    ]
    with sessions() as session:
        link = session.scalars(select(SubscriberMessage.message)).first()
        assert link is not None and link["link"].endswith(f"/status/maintenance/{made['id']}")
        row = session.get(PublicMaintenance, made["id"])
        assert row is not None and row.notified == "completed"

    # A restarted node finds nothing left to tell.
    api.clock.set(T0 + 30 * H)
    Engine(sessions, api.clock, due_work(settings)).run_once()
    assert len(messages(sessions)) == 3


def test_cancelling_before_the_start_tells_subscribers_and_lets_paging_resume(
    api: Api, seeded: None, sessions: sessionmaker[Session]
) -> None:
    body = {
        "title": "Network work",
        "components": ["db", "web"],
        "start": (T0 + H).isoformat(),
        "end": (T0 + 2 * H).isoformat(),
    }
    made = api.client.post(f"{V1}/status/maintenance", json=body, headers=api.writer).json()
    cancelled = api.client.post(f"{V1}/status/maintenance/{made['id']}/cancel", headers=api.writer)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["stage"] == "cancelled"
    assert cancelled.json()["silenced"] == []
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(MaintenanceWindow)) == 0
    # Both subscribers (one follows the website) heard of it, and both hear it is off.
    assert sorted(messages(sessions)) == sorted(
        [
            ("customer1@example.com", "Scheduled maintenance: Network work"),
            ("customer2@example.com", "Scheduled maintenance: Network work"),
            ("customer1@example.com", "Maintenance cancelled: Network work"),
            ("customer2@example.com", "Maintenance cancelled: Network work"),
        ]
    )
    again = api.client.post(f"{V1}/status/maintenance/{made['id']}/cancel", headers=api.writer)
    assert again.status_code == 409
    assert "already cancelled" in again.json()["detail"]
    assert 'id="scheduled-maintenance"' not in api.client.get("/status").text
    assert "Network work Cancelled" in status_text(api, made["page"])
    assert "Network work: Cancelled" in feed_titles(api)
    listed = api.client.get(f"{V1}/status/maintenance", headers=api.reader).json()
    assert listed == []
    every = api.client.get(f"{V1}/status/maintenance?all=true", headers=api.reader).json()
    assert [m["stage"] for m in every] == ["cancelled"]


def test_cancelling_during_it_ends_the_silence_now(
    api: Api, seeded: None, sessions: sessionmaker[Session]
) -> None:
    body = {"title": "Reindex", "components": ["db"], "end": (T0 + 2 * H).isoformat()}
    made = api.client.post(f"{V1}/status/maintenance", json=body, headers=api.writer).json()
    assert made["stage"] == "in_progress"
    assert [s for _, s in messages(sessions)] == ["Maintenance in progress: Reindex"]
    api.clock.set(T0 + H)
    api.client.post(f"{V1}/status/maintenance/{made['id']}/cancel", headers=api.writer)
    with sessions() as session:
        window = session.scalars(select(MaintenanceWindow)).one()
        assert window.end == T0 + H
    assert "Database Operational" in status_text(api)


def test_a_keep_paging_announcement_silences_nothing(
    api: Api, seeded: None, sessions: sessionmaker[Session]
) -> None:
    body = {
        "title": "Failover test",
        "components": ["db"],
        "start": (T0 + H).isoformat(),
        "end": (T0 + 2 * H).isoformat(),
        "silence": False,
    }
    made = api.client.post(f"{V1}/status/maintenance", json=body, headers=api.writer)
    assert made.status_code == 201, made.text
    assert made.json()["silenced"] == []
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(MaintenanceWindow)) == 0


def test_every_problem_of_a_request_is_listed_and_nothing_is_announced(
    api: Api, seeded: None, sessions: sessionmaker[Session]
) -> None:
    body = {
        "title": "x" * 201,
        "components": ["db", "payments", "search"],
        "start": (T0 + 2 * H).isoformat(),
        "end": (T0 + H).isoformat(),
    }
    answer = api.client.post(f"{V1}/status/maintenance", json=body, headers=api.writer)
    assert answer.status_code == 422, answer.text
    problems = answer.json()["errors"]
    assert len(problems) == 3, problems
    assert "title: 201 characters, at most 200" in problems
    assert "components: unknown 'payments', 'search'; known: db, web" in problems
    assert "end: must be after the start" in problems
    empty = api.client.post(
        f"{V1}/status/maintenance",
        json={"title": " ", "components": [], "end": (T0 - H).isoformat()},
        headers=api.writer,
    )
    assert empty.status_code == 422
    assert [p.split(":")[0] for p in empty.json()["errors"]] == ["title", "components", "end"]
    naive = api.client.post(
        f"{V1}/status/maintenance",
        json={"title": "T", "components": ["db"], "end": "2024-06-20T12:00"},
        headers=api.writer,
    )
    assert naive.status_code == 422
    assert "end" in naive.json()["detail"]
    read_only = api.client.post(
        f"{V1}/status/maintenance",
        json={"title": "T", "components": ["db"], "end": (T0 + H).isoformat()},
        headers=api.reader,
    )
    assert read_only.status_code == 403
    assert api.client.post(f"{V1}/status/maintenance", json={}).status_code == 401
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(PublicMaintenance)) == 0
    assert messages(sessions) == []
    assert api.client.get(
        f"{V1}/status/maintenance/2147483648", headers=api.reader
    ).status_code in (
        404,
        422,
    )
    assert api.client.get("/status/maintenance/1").status_code == 404
