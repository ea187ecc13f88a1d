"""Subscribing to the status page, end to end: the real app over HTTP, a real SMTP server
(aiosmtpd), the subscribers' lane run by the test on a stopped clock."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import T0, LiveServer, _serve, free_port
from tests.notify.conftest import Delivered, Mailbox
from tocsin.app import subscriber_lane
from tocsin.clock import FixedClock
from tocsin.engine.subscribers import Lane
from tocsin.services import incidents
from tocsin.settings import Settings
from tocsin.store import services
from tocsin.store.db import make_engine, make_sessionmaker
from tocsin.store.models import StatusComponent, StatusSubscriber, SubscriberMessage

TITLE = "Acme status"
INTERNAL_TITLE = "db-primary-7 OOM kill loop"
INTERNAL_NOTE = "Bob restarted pgbouncer on db-primary-7"


@dataclass
class World:
    server: LiveServer
    sessions: sessionmaker[Session]
    clock: FixedClock
    lane: Lane
    mailbox: Mailbox
    http: httpx.Client

    def mail_to(self, address: str) -> list[Delivered]:
        return [d for d in self.mailbox.delivered if address in d.rcpt_tos]

    def run(self) -> int:
        return self.lane.run_once()


def with_components(engine: Engine) -> None:
    """Two components: "api" (the api-gateway service) and "web" (the website service)."""
    with make_sessionmaker(engine)() as session, session.begin():
        api = StatusComponent(slug="api", name="Public API", description="", created_at=T0)
        web = StatusComponent(slug="web", name="Website", description="", created_at=T0)
        session.add_all([api, web])
        session.flush()
        services.get_by_slug(session, "api-gateway").component_id = api.id
        services.create(session, slug="website", name="Website", owner="alice", now=T0)
        services.get_by_slug(session, "website").component_id = web.id


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, server_hostname="mx.tocsin.test"
    )
    controller.start()
    clock = FixedClock(T0)
    settings = {"smtp_host": "127.0.0.1", "smtp_port": port, "status_page_title": TITLE}
    try:
        for server in _serve(db_url, tmp_path, tls=False, clock=clock, settings=settings):
            engine = make_engine(db_url)
            with_components(engine)
            sessions = make_sessionmaker(engine)
            made = Settings(database_url=db_url, base_url=server.url, **settings)  # type: ignore[arg-type]
            lane = subscriber_lane(made, sessions, clock, engine, node="test")
            with httpx.Client(base_url=server.url, timeout=10) as http:
                yield World(server, sessions, clock, lane, mailbox, http)
            lane.close()
            engine.dispose()
    finally:
        controller.stop()


def subscribe(world: World, address: str, components: list[str]) -> httpx.Response:
    return world.http.post("/status/subscribe", data={"email": address, "component": components})


def link(mail: Delivered, path: str) -> str:
    body = mail.mail.get_body(preferencelist=("plain",))
    assert body is not None
    found = re.search(rf"https?://\S+{re.escape(path)}\S+", body.get_content())
    assert found, body.get_content()
    return found.group(0)


def text_of(mail: Delivered) -> str:
    body = mail.mail.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def declare_public(world: World, message: str, *, service: str = "api-gateway") -> int:
    """Declare an incident with an internal title and note, then post a public update."""
    with world.sessions() as session, session.begin():
        incident = incidents.declare(
            session,
            title=INTERNAL_TITLE,
            severity="SEV-1",
            services=[service],
            actor="alice",
            now=world.clock.now(),
        ).incident
        incidents.add_note(session, incident, INTERNAL_NOTE, actor="bob", now=world.clock.now())
        incidents.post_update(
            session, incident, "internal: failover started", actor="bob", now=world.clock.now()
        )
        incidents.edit(
            session,
            incident,
            changes={"public_title": "Elevated API errors"},
            actor="alice",
            now=world.clock.now(),
        )
        incidents.post_update(
            session,
            incident,
            message,
            visibility="public",
            public_status="investigating",
            actor="alice",
            now=world.clock.now(),
        )
        return incident.number


def public_update(world: World, number: int, message: str, status: str = "monitoring") -> None:
    with world.sessions() as session, session.begin():
        incidents.post_update(
            session,
            number,
            message,
            visibility="public",
            public_status=status,
            actor="alice",
            now=world.clock.now(),
        )


def test_a_subscriber_confirms_hears_a_public_update_and_unsubscribes_with_one_click(
    world: World,
) -> None:
    jane, sam = "jane.doe@example.com", "sam@example.org"
    for address, chosen in ((jane, ["api"]), (sam, ["web"])):
        answer = subscribe(world, address, chosen)
        assert answer.status_code == 200
        assert "a confirmation link is on its way" in answer.text
        assert address not in answer.text
    assert world.run() == 2
    [confirmation] = world.mail_to(jane)
    assert confirmation.mail["Subject"] == f"Confirm your subscription to {TITLE}"
    confirm_url = link(confirmation, "/status/subscribe/confirm/")
    token = confirm_url.rsplit("/", 1)[1]
    assert (
        confirmation.mail["List-Unsubscribe"] == f"<{world.server.url}/status/unsubscribe/{token}>"
    )

    # Opening the link shows a button and confirms nothing (mail scanners open links).
    shown = world.http.get(confirm_url)
    assert shown.status_code == 200 and "Confirm my subscription" in shown.text
    assert jane not in shown.text
    with world.sessions() as session:
        assert session.scalars(select(StatusSubscriber.confirmed_at)).all() == [None, None]
    assert "is confirmed" in world.http.post(confirm_url).text
    sam_confirm = link(world.mail_to(sam)[0], "/status/subscribe/confirm/")
    assert world.http.post(sam_confirm).status_code == 200

    number = declare_public(world, "Some API requests fail; we are investigating.")
    assert world.run() == 1
    [_, update] = world.mail_to(jane)
    text = text_of(update)
    assert update.mail["Subject"] == "[Investigating] Elevated API errors"
    assert "Some API requests fail; we are investigating." in text
    assert "Public API" in text
    assert f"{world.server.url}/status/incidents/{number}" in text
    for secret in (INTERNAL_TITLE, INTERNAL_NOTE, "failover", "alice", "bob", "SEV-1"):
        assert secret not in text
        assert secret not in update.mail["Subject"]
    unsubscribe_url = f"{world.server.url}/status/unsubscribe/{token}"
    assert update.mail["List-Unsubscribe"] == f"<{unsubscribe_url}>"
    assert update.mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe_url in text
    assert world.mail_to(sam) == world.mail_to(sam)[:1]  # the website was not affected

    # The mail client's one-click POST (RFC 8058): no cookie, no CSRF token.
    one_click = httpx.post(unsubscribe_url, data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200 and "unsubscribed" in one_click.text
    public_update(world, number, "A fix is deployed; we are watching.")
    assert world.run() == 0
    assert len(world.mail_to(jane)) == 2

    # Sam leaves with the button of the manage page, which a GET alone does not press.
    world.clock.advance(minutes=5)
    declare_public(world, "The website is slow.", service="website")
    assert world.run() == 1
    sam_unsubscribe = link(world.mail_to(sam)[1], "/status/unsubscribe/")
    page = world.http.get(sam_unsubscribe)
    assert page.status_code == 200 and ">Unsubscribe</button>" in page.text
    assert sam not in page.text
    with world.sessions() as session:
        assert session.scalar(select(StatusSubscriber.id)) is not None
    action = re.search(
        r'<form method="post" action="([^"]+)">\s*<button[^>]*>Unsubscribe', page.text
    )
    assert action is not None
    assert world.http.post(action.group(1)).status_code == 200
    with world.sessions() as session:
        assert session.scalars(select(StatusSubscriber)).all() == []
        assert session.scalars(select(SubscriberMessage)).all() == []
    assert world.http.get(sam_unsubscribe).status_code == 404


def test_a_resolution_without_public_words_is_still_told_once(world: World) -> None:
    subscribe(world, "jane@example.com", ["api", "web"])
    world.run()
    world.http.post(link(world.mail_to("jane@example.com")[0], "/status/subscribe/confirm/"))
    number = declare_public(world, "Errors on the API.")
    with world.sessions() as session, session.begin():
        incidents.resolve(session, number, actor="alice", now=world.clock.now())
    assert world.run() == 2
    resolved = world.mail_to("jane@example.com")[-1]
    assert resolved.mail["Subject"] == "[Resolved] Elevated API errors"
    assert INTERNAL_TITLE not in text_of(resolved)
    # The public "resolved" update posted afterwards is the same news: not told twice.
    public_update(world, number, "All fixed.", status="resolved")
    assert world.run() == 0


def test_nothing_is_sent_for_drills_internal_updates_or_unpublished_incidents(
    world: World,
) -> None:
    subscribe(world, "jane@example.com", ["api", "web"])
    world.run()
    world.http.post(link(world.mail_to("jane@example.com")[0], "/status/subscribe/confirm/"))
    with world.sessions() as session, session.begin():
        drill = incidents.declare(
            session,
            title="Drill",
            severity="SEV-1",
            services=["api-gateway"],
            actor="alice",
            now=T0,
            is_drill=True,
        ).incident
        incidents.post_update(
            session, drill, "Drill update", visibility="public", actor="alice", now=T0
        )
        quiet = incidents.declare(
            session, title="Quiet", severity="SEV-1", services=["api-gateway"], actor="a", now=T0
        ).incident
        incidents.post_update(session, quiet, "internal only", actor="alice", now=T0)
        incidents.resolve(session, quiet, actor="alice", now=T0)
    assert world.run() == 0


def test_the_form_cannot_mail_bomb_an_address_nor_tell_who_subscribed(world: World) -> None:
    address = "victim@example.com"
    assert "on its way" in subscribe(world, address, ["api"]).text
    assert "on its way" in subscribe(world, address, ["api"]).text  # within a minute: no mail
    world.run()
    assert len(world.mail_to(address)) == 1
    for _ in range(4):
        world.clock.advance(minutes=2)
        assert "on its way" in subscribe(world, address, ["api"]).text
    world.run()
    assert len(world.mail_to(address)) == 3  # the daily cap, however often anyone asks
    world.clock.advance(hours=24)
    subscribe(world, address, ["api"])
    world.run()
    assert len(world.mail_to(address)) == 4
    # Confirmed: the form answers alike and mails nothing.
    world.http.post(link(world.mail_to(address)[-1], "/status/subscribe/confirm/"))
    world.clock.advance(minutes=5)
    answer = subscribe(world, address, ["api"])
    assert answer.status_code == 200 and "on its way" in answer.text
    world.run()
    assert len(world.mail_to(address)) == 4
    for path in ("/status", "/status/feed.atom"):
        assert address not in world.http.get(path).text


def test_one_client_is_told_to_wait_after_ten_requests_an_hour(world: World) -> None:
    for n in range(10):
        assert subscribe(world, f"person{n}@example.com", ["api"]).status_code == 200
    refused = subscribe(world, "one.more@example.com", ["api"])
    assert refused.status_code == 429
    assert "Try again in 60 minutes" in refused.text
    assert refused.headers["Retry-After"] == "3600"
    world.run()
    assert world.mail_to("one.more@example.com") == []
    world.clock.advance(minutes=61)
    assert subscribe(world, "one.more@example.com", ["api"]).status_code == 200


def test_an_expired_confirmation_link_says_so_and_offers_to_subscribe_again(
    world: World,
) -> None:
    subscribe(world, "late@example.com", ["api"])
    world.run()
    confirm_url = link(world.mail_to("late@example.com")[0], "/status/subscribe/confirm/")
    world.clock.advance(hours=24, seconds=1)
    for answer in (world.http.get(confirm_url), world.http.post(confirm_url)):
        assert answer.status_code == 410
        assert "expired" in answer.text and 'href="/status#subscribe"' in answer.text
    with world.sessions() as session:
        assert session.scalar(select(StatusSubscriber.confirmed_at)) is None
    # Asking again mails a new link; the expired one stays dead.
    subscribe(world, "late@example.com", ["api"])
    world.run()
    fresh = link(world.mail_to("late@example.com")[-1], "/status/subscribe/confirm/")
    assert fresh != confirm_url
    assert world.http.post(confirm_url).status_code == 404
    assert world.http.post(fresh).status_code == 200
    with world.sessions() as session:
        assert session.scalar(select(StatusSubscriber.confirmed_at)) is not None


def test_bad_input_and_unknown_links_get_clear_answers(world: World) -> None:
    bad = subscribe(world, "not-an-address", ["nope"])
    assert bad.status_code == 400
    assert "is not an email address" in bad.text and "no status component nope" in bad.text
    none = subscribe(world, "a@example.com", [])
    assert none.status_code == 400 and "choose at least one component" in none.text
    for path in ("/status/subscribe/confirm/nope", "/status/unsubscribe/nope"):
        assert world.http.get(path).status_code == 404
        answer = world.http.post(path)
        assert answer.status_code == 404 and "unknown or no longer valid" in answer.text
    with world.sessions() as session:
        assert session.scalars(select(StatusSubscriber)).all() == []


def test_a_subscriber_changes_components_on_the_manage_page(world: World) -> None:
    subscribe(world, "jane@example.com", ["web"])
    world.run()
    world.http.post(link(world.mail_to("jane@example.com")[0], "/status/subscribe/confirm/"))
    token = link(world.mail_to("jane@example.com")[0], "/status/subscribe/confirm/").rsplit("/")[-1]
    changed = world.http.post(
        f"/status/unsubscribe/{token}/components", data={"component": ["api"]}
    )
    assert changed.status_code == 200
    declare_public(world, "API errors.")
    assert world.run() == 1
    assert world.mail_to("jane@example.com")[-1].mail["Subject"].startswith("[Investigating]")
    world.clock.advance(minutes=1)
    assert world.lane.run_once() == 0


def test_plus_and_case_variants_of_an_address_share_its_limits(world: World) -> None:
    # One mailbox under many names: the limits count the mailbox, not the spelling.
    assert "on its way" in subscribe(world, "victim+1@example.com", ["api"]).text
    assert "on its way" in subscribe(world, "Victim+2@Example.com", ["api"]).text
    world.run()
    assert len([d for d in world.mailbox.delivered if "+" in d.rcpt_tos[0]]) == 1
    for n in range(3, 8):
        world.clock.advance(minutes=2)
        assert "on its way" in subscribe(world, f"victim+{n}@example.com", ["api"]).text
    world.run()
    assert len(world.mailbox.delivered) == 3  # the daily cap of one mailbox
    world.clock.advance(hours=24)
    subscribe(world, "victim+9@example.com", ["api"])
    world.run()
    assert len(world.mailbox.delivered) == 4
