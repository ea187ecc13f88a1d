"""The subscribers' lane: pages first, retries with backoff, claims a dead node lost, and signed
webhooks, against a real SMTP server (aiosmtpd) and a real HTTP receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import T0, free_port
from tests.engine.test_escalation_flow import declare, setup
from tests.notify.conftest import Mailbox
from tests.receivers import PageReceiver
from tocsin.app import DUE_WORK
from tocsin.clock import FixedClock
from tocsin.core import subscriptions as core
from tocsin.engine.loop import Engine
from tocsin.engine.outbox import Sender, adapter_factory
from tocsin.engine.subscribers import Lane
from tocsin.notify import Message, Outcome, SendResult
from tocsin.notify.smtp import SmtpAdapter
from tocsin.services import subscriptions
from tocsin.settings import Settings
from tocsin.store.models import StatusSubscriber, SubscriberMessage


class Recording:
    """A mailer whose sends are kept, each with how many pages had arrived by then."""

    def __init__(self, receiver: PageReceiver) -> None:
        self.receiver = receiver
        self.pages_seen: list[int] = []
        self.on_send: Any = None

    def __call__(self, recipient: str) -> Recording:
        return self

    def send(self, message: Message, **_extra: object) -> SendResult:
        self.pages_seen.append(len(self.receiver.pages))
        if self.on_send is not None:
            self.on_send(len(self.pages_seen))
        return SendResult(Outcome.SENT, "kept")

    def close(self) -> None:
        pass


def add_subscribers(
    sessions: sessionmaker[Session], n: int, *, kind: str = "email", url: str = ""
) -> None:
    with sessions() as session, session.begin():
        for i in range(n):
            address = url or f"person{i}@example.com"
            session.add(
                StatusSubscriber(
                    kind=kind,
                    address=address,
                    address_key=f"{kind}-{i}",
                    components=[],
                    token=f"token-{i}",
                    secret="shh" if kind == "webhook" else "",
                    created_at=T0,
                    confirmed_at=T0,
                )
            )


def announce(sessions: sessionmaker[Session], clock: FixedClock, key: str = "notice-1") -> int:
    with sessions() as session, session.begin():
        return subscriptions.announce(
            session,
            topic="maintenance",
            components=[],
            subject="Scheduled maintenance: database upgrade",
            text="Database upgrade\n\nScheduled for tonight.",
            link="/status/maintenance/1",
            event_key=key,
            now=clock.now(),
        )


def rows(sessions: sessionmaker[Session]) -> list[SubscriberMessage]:
    with sessions() as session:
        return list(session.scalars(select(SubscriberMessage).order_by(SubscriberMessage.id)))


# Four of the lane's batches: enough for the loop to come round between them.
LIST = 200


def test_a_page_due_with_a_list_of_subscriber_messages_goes_out_before_any_of_them(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    setup(sessions, receiver)
    clock = FixedClock(T0)
    add_subscribers(sessions, LIST)
    assert announce(sessions, clock) == LIST
    assert announce(sessions, clock) == 0  # the same notice again: nothing more
    declare(sessions, clock)  # pages alice, due now like the list
    mailer = Recording(receiver)
    sender = Sender(sessions, clock, adapter_factory(Settings()), base_url="https://t.test")
    lane = Lane(sessions, clock, mailer=mailer, base_url="https://t.test", page_title="S")
    engine = Engine(sessions, clock, DUE_WORK, sender=sender, lane=lane)

    def second_incident(sent: int) -> None:
        if sent == 120:  # a page that falls due while the list is being sent
            with sessions() as session, session.begin():
                from tocsin.services import incidents

                incidents.declare(
                    session,
                    title="Replica down",
                    severity="SEV-1",
                    services=["database"],
                    actor="alertmanager",
                    now=clock.now(),
                )

    mailer.on_send = second_incident
    passes = 0
    while len(mailer.pages_seen) < LIST:
        engine.run_once()
        passes += 1
        assert passes < 50
    assert mailer.pages_seen[0] == 1  # the page was received before the first message
    assert set(mailer.pages_seen[:120]) == {1}
    assert set(mailer.pages_seen[120:]) == {2}  # the new page before the very next message
    assert passes >= LIST // lane.batch  # bounded batches: the loop came round between them
    assert {r.status for r in rows(sessions)} == {"sent"}


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    found = Mailbox()
    port = free_port()
    controller = Controller(found, hostname="127.0.0.1", port=port, server_hostname="mx.test")
    controller.start()
    yield found, port
    controller.stop()


def smtp_lane(sessions: sessionmaker[Session], clock: FixedClock, port: int, **kw: Any) -> Lane:
    def mailer(recipient: str) -> SmtpAdapter:
        return SmtpAdapter("127.0.0.1", port, sender="status@acme.test", recipient=recipient)

    return Lane(
        sessions, clock, mailer=mailer, base_url="https://status.acme.test", page_title="S", **kw
    )


def test_an_smtp_4xx_is_retried_later_with_the_same_key_and_gives_up_in_the_end(
    sessions: sessionmaker[Session], mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    clock = FixedClock(T0)
    add_subscribers(sessions, 2)
    announce(sessions, clock)
    lane = smtp_lane(sessions, clock, port, max_attempts=3)
    box.data_reply = "451 4.3.0 try again later"
    assert lane.run_once() == 2
    first, second = rows(sessions)
    assert (first.status, first.attempts) == ("pending", 1)
    assert "451" in first.last_error
    assert first.due_at == T0 + timedelta(seconds=30)
    clock.advance(seconds=29)
    assert lane.run_once() == 0  # not before its backoff
    box.data_reply = None
    with sessions() as session, session.begin():
        session.get(SubscriberMessage, second.id).due_at = T0 + timedelta(hours=1)  # type: ignore[union-attr]
    clock.advance(seconds=1)
    assert lane.run_once() == 1
    [mail] = box.delivered
    assert mail.mail["X-Tocsin-Idempotency-Key"] == first.idempotency_key
    assert mail.mail["List-Unsubscribe"] == "<https://status.acme.test/status/unsubscribe/token-0>"
    assert (
        "https://status.acme.test/status/maintenance/1"
        in mail.mail.get_body(("plain",)).get_content()
    )  # type: ignore[union-attr]
    assert rows(sessions)[0].status == "sent"
    # The other keeps failing: after the third attempt it fails for good, saying why.
    box.data_reply = "451 4.3.0 still busy"
    for _ in range(3):
        clock.advance(hours=2)
        lane.run_once()
    last = rows(sessions)[1]
    assert (last.status, last.attempts) == ("failed", 3)
    assert "still busy" in last.last_error


def test_a_refused_address_is_neither_logged_nor_kept_whole(
    sessions: sessionmaker[Session],
    mailbox: tuple[Mailbox, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    box, port = mailbox
    clock = FixedClock(T0)
    add_subscribers(sessions, 1)
    announce(sessions, clock)
    # Servers name the refused address in their answer, and smtplib says whose it was.
    box.rcpt_reply = "550 5.1.1 <Person0@Example.com>: Recipient address rejected"
    with caplog.at_level(logging.DEBUG, logger="tocsin"):
        assert smtp_lane(sessions, clock, port).run_once() == 1
    [row] = rows(sessions)
    assert row.status == "failed"
    assert "550 5.1.1" in row.last_error and "p***@example.com" in row.last_error
    assert "person0" not in row.last_error.lower()
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("tocsin"))
    assert "550 5.1.1" in ours and "person0" not in ours.lower()


def test_a_dead_nodes_claim_runs_out_and_another_node_sends_it(
    sessions: sessionmaker[Session], mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    clock = FixedClock(T0)
    add_subscribers(sessions, 1)
    announce(sessions, clock)
    dead = smtp_lane(sessions, clock, port, node="dead")
    assert dead.claim() is not None  # and then it died
    other = smtp_lane(sessions, clock, port, node="other")
    assert other.run_once() == 0
    clock.advance(seconds=60)
    assert other.run_once() == 1
    [row] = rows(sessions)
    assert (row.status, row.attempts) == ("sent", 2)
    assert len(box.delivered) == 1


class HookReceiver:
    """A subscriber's webhook endpoint: verifies each signature as the docs say, then answers
    `status`."""

    def __init__(self, secret: str) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                fields = dict(
                    p.split("=", 1) for p in self.headers["X-Tocsin-Signature"].split(",")
                )
                expected = hmac.new(
                    secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256
                ).hexdigest()
                owner.received.append(
                    {
                        "valid": hmac.compare_digest(expected, fields["v1"]),
                        "t": int(fields["t"]),
                        "key": self.headers["Idempotency-Key"],
                        "body": json.loads(body),
                    }
                )
                self.send_response(owner.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/status-hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[HookReceiver]:
    found = HookReceiver("shh")
    yield found
    found.close()


def test_a_webhook_gets_a_signed_body_5xx_is_retried_and_4xx_fails(
    sessions: sessionmaker[Session], hook: HookReceiver
) -> None:
    clock = FixedClock(T0)
    add_subscribers(sessions, 1, kind="webhook", url=hook.url)
    announce(sessions, clock)
    lane = Lane(
        sessions,
        clock,
        mailer=lambda _to: None,
        base_url="https://s.test",
        page_title="S",  # type: ignore[arg-type,return-value]
    )
    hook.status = 503
    assert lane.run_once() == 1
    [row] = rows(sessions)
    assert (row.status, row.attempts) == ("pending", 1) and "503" in row.last_error
    hook.status = 200
    clock.advance(seconds=30)
    assert lane.run_once() == 1
    assert rows(sessions)[0].status == "sent"
    first, second = hook.received
    assert first["valid"] and second["valid"]
    assert second["t"] == int((T0 + timedelta(seconds=30)).timestamp())
    assert first["key"] == second["key"] == row.idempotency_key
    assert second["body"] == {
        "type": "maintenance",
        "id": "notice-1",
        "subject": "Scheduled maintenance: database upgrade",
        "text": "Database upgrade\n\nScheduled for tonight.",
        "link": "https://s.test/status/maintenance/1",
        "components": [],
        "sent_at": "2024-06-20T10:30:30Z",
    }
    hook.status = 410
    announce(sessions, clock, key="notice-2")
    assert lane.run_once() == 1
    failed = rows(sessions)[1]
    assert (failed.status, failed.attempts) == ("failed", 1) and "410" in failed.last_error
    assert core.verify("shh", b"{}", core.sign("shh", b"{}", at=T0), now=T0)
