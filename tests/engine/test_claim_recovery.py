"""A `tocsin engine` killed between claiming a page and finishing its send, with the default claim.

The receiver holds the page's request open, so the engine is surely mid-send when it is killed.
Another engine must then send the page within seconds (not after the claim setting's 60 s), never
after a later level's page, and decide it as things stand by then: a page of an incident resolved
meanwhile is withdrawn, and its user, never paged, is not told the incident is resolved.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.serving import start_engine, wait_for
from tocsin import config
from tocsin.notify import verify
from tocsin.services import config_apply as applier
from tocsin.services import incidents
from tocsin.store.models import Escalation, Notification, User


class HoldingReceiver:
    """A webhook receiver that checks signatures, and holds open the first request to each
    user named in `hold` (until `close`), as a stuck pager service would."""

    def __init__(self) -> None:
        self.pages: list[dict[str, Any]] = []  # answered, in the order they arrived
        self.held: list[dict[str, Any]] = []
        self.hold: set[str] = set()
        self.lock = threading.Lock()
        self.release = threading.Event()
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                user = self.path.strip("/")
                assert verify(body, f"secret-{user}", self.headers["X-Tocsin-Signature"])
                page = {**json.loads(body), "to": user, "key": self.headers["Idempotency-Key"]}
                with received.lock:
                    holding = user in received.hold
                    received.hold.discard(user)
                    (received.held if holding else received.pages).append(page)
                if holding:
                    received.release.wait()
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender was killed while we held its request

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    def received(self) -> list[tuple[str, str]]:
        """Return (user, subject) of every answered request, in order of arrival."""
        with self.lock:
            return [(str(p["to"]), str(p["subject"])) for p in self.pages]

    def close(self) -> None:
        """Let held requests go, stop serving and free the port."""
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


PAGE = "[SEV-2] INC-1 checkout: Checkout down"
RESOLVED = "[RESOLVED] INC-1 checkout: Checkout down"


@pytest.fixture
def receiver() -> Iterator[HoldingReceiver]:
    found = HoldingReceiver()
    yield found
    found.close()


def setup(sessions: sessionmaker[Session], receiver: HoldingReceiver) -> None:
    """Level 1 pages u1, level 2 (one minute later, the shortest delay allowed) pages u2."""
    text = f"""
users:
  - {{handle: u1, contact_methods: [{{name: hook, type: webhook, url: "{receiver.url}/u1",
      secret: secret-u1}}]}}
  - {{handle: u2, contact_methods: [{{name: hook, type: webhook, url: "{receiver.url}/u2",
      secret: secret-u2}}]}}
escalation_policies:
  - name: checkout
    levels:
      - {{targets: ["user:u1"], delay: 1m}}
      - {{targets: ["user:u2"]}}
services:
  - {{slug: checkout, escalation_policy: checkout}}
"""
    with sessions() as session, session.begin():
        applier.apply(session, config.parse(text, "tocsin.yaml"), now=datetime.now(UTC))
        incidents.declare(
            session,
            title="Checkout down",
            severity="SEV-2",
            services=["checkout"],
            actor="test",
            now=datetime.now(UTC),
        )


def kill(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def level_2_due_now(sessions: sessionmaker[Session]) -> None:
    """Move the durable timer of level 2 to now, as if its minute had passed."""
    with sessions() as session, session.begin():
        session.execute(update(Escalation).values(next_at=datetime.now(UTC)))


def unfinished(sessions: sessionmaker[Session]) -> bool:
    """Return True while a message of the outbox is still pending or being sent."""
    return any(status in {"pending", "sending"} for _, _, status, _ in outbox(sessions))


def outbox(sessions: sessionmaker[Session]) -> list[tuple[str, str, str, str]]:
    """Return (user, kind, status, last error) of every outbox row, oldest first."""
    with sessions() as session:
        rows = session.execute(
            select(User.handle, Notification.kind, Notification.status, Notification.last_error)
            .join(User, User.id == Notification.user_id)
            .order_by(Notification.id)
        )
        return [(h, k, s, e) for h, k, s, e in rows]


@pytest.mark.slow
def test_a_page_held_by_a_killed_engine_goes_out_within_seconds_and_before_level_2(
    db_url: str,
    sessions: sessionmaker[Session],
    receiver: HoldingReceiver,
    engines: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    log = tmp_path / "engines.log"
    receiver.hold.add("u1")
    setup(sessions, receiver)
    first = start_engine(db_url, log)
    engines.append(first)
    assert wait_for(lambda: receiver.held, timeout=120), log.read_text()
    kill(first)  # claimed, and the send under way: the level-1 page is with a dead node
    level_2_due_now(sessions)
    engines.append(start_engine(db_url, log))
    # The new engine is up once it has fired level 2 (u2's page is queued).
    assert wait_for(lambda: ("u2", "page") in {r[:2] for r in outbox(sessions)}, timeout=120)

    # Well under the 60 s claim setting: the dead node's claim runs out within seconds.
    sent = wait_for(lambda: ("u1", PAGE) in receiver.received(), timeout=20)
    assert sent, f"u1 was not paged; received: {receiver.received()}, outbox: {outbox(sessions)}"
    assert wait_for(lambda: len(receiver.received()) == 2, timeout=20)
    assert receiver.received() == [("u1", PAGE), ("u2", PAGE)]  # level 1 before level 2
    # Sent again with the key of the send the node died in: a receiver can drop a repeat.
    assert receiver.pages[0]["key"] == receiver.held[0]["key"]
    # The receiver answers before the engine records the send: wait for the record.
    assert wait_for(lambda: not unfinished(sessions), timeout=20), outbox(sessions)
    assert [r[:3] for r in outbox(sessions)] == [("u1", "page", "sent"), ("u2", "page", "sent")]


@pytest.mark.slow
def test_a_page_held_by_a_killed_engine_is_withdrawn_once_resolved_and_its_user_not_told(
    db_url: str,
    sessions: sessionmaker[Session],
    receiver: HoldingReceiver,
    engines: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    log = tmp_path / "engines.log"
    receiver.hold.add("u2")
    setup(sessions, receiver)
    first = start_engine(db_url, log)
    engines.append(first)
    assert wait_for(lambda: receiver.received() == [("u1", PAGE)], timeout=120), log.read_text()
    level_2_due_now(sessions)
    assert wait_for(lambda: receiver.held, timeout=30), log.read_text()
    kill(first)  # u2's level-2 page was claimed, and never got through
    with sessions() as session, session.begin():
        incidents.resolve(
            session, "INC-1", message="rolled back", actor="u1", now=datetime.now(UTC)
        )
    engines.append(start_engine(db_url, log))

    done = wait_for(lambda: not unfinished(sessions), timeout=60)
    assert done, outbox(sessions)
    # u1 was paged and hears it is resolved; u2 was never paged, so hears neither.
    assert receiver.received() == [("u1", PAGE), ("u1", RESOLVED)]
    assert outbox(sessions) == [
        ("u1", "page", "sent", ""),
        ("u2", "page", "cancelled", "resolved before sending"),
        ("u1", "resolved", "sent", ""),
        ("u2", "resolved", "cancelled", "no page of this incident reached this user"),
    ]
    with sessions() as session:
        timeline = [e.message for e in incidents.get(session, "INC-1").events]
    assert "Withdrew the page to u2: resolved before sending" in timeline
    assert "Did not tell u2 the incident is resolved: no page reached them" in timeline
