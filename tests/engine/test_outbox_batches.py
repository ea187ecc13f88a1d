"""A claim batch on a controllable clock: a page that outlived its claim behind slow sends, a
message that crashes its sender, a renewal that meets an unexpected error, and two nodes of one
host and pid. See test_outbox_claims.py for one page's claim, test_claim_recovery.py for killed
processes."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.engine.test_escalation_flow import T0
from tests.engine.test_outbox_claims import Stuck, claimed_until
from tests.receivers import PageReceiver
from tests.serving import wait_for
from tocsin import config
from tocsin.app import DUE_WORK
from tocsin.clock import FixedClock
from tocsin.engine.loop import Engine
from tocsin.engine.outbox import AdapterFor, Sender, adapter_factory
from tocsin.notify import Adapter, Message, Outcome, SendResult, verify
from tocsin.server import create_app
from tocsin.services import config_apply as applier
from tocsin.services import incidents
from tocsin.settings import Settings
from tocsin.store.models import ContactMethod, Notification

# Level 1 pages alice and bob together (one claim batch, alice's row first); level 2 pages erin.
POLICY = """
users:
{users}
escalation_policies:
  - name: db-oncall
    levels:
      - {{targets: ["user:alice", "user:bob"], delay: 15m}}
      - {{targets: ["user:erin"]}}
services:
  - {{slug: database, name: Database, escalation_policy: db-oncall}}
"""


def setup(sessions: sessionmaker[Session], url: str) -> None:
    users = "\n".join(
        f"""  - handle: {p}
    time_zone: UTC
    contact_methods:
      - {{name: hook, type: webhook, url: "{url}/{p}", secret: secret-{p}}}"""
        for p in ("alice", "bob", "erin")
    )
    with sessions() as session, session.begin():
        applier.apply(session, config.parse(POLICY.format(users=users), "tocsin.yaml"), now=T0)


def declare(sessions: sessionmaker[Session], clock: FixedClock) -> None:
    with sessions() as session, session.begin():
        incidents.declare(
            session,
            title="Primary down",
            severity="SEV-1",
            services=["database"],
            actor="alertmanager",
            now=clock.now(),
        )


class Doing:
    """An adapter that does `first` (move the clock, let another node work) and then sends for
    real: what happens while a send is under way."""

    def __init__(self, real: Adapter, first: Callable[[], object]) -> None:
        self.real = real
        self.first = first

    def send(self, message: Message) -> SendResult:
        self.first()
        return self.real.send(message)


def per_user(real: AdapterFor, special: dict[str, Callable[[Adapter], Adapter]]) -> AdapterFor:
    """Return adapters that send for real, but through `special[user](real)` for those users."""

    def build(method: ContactMethod) -> Adapter:
        user = method.target.rsplit("/", 1)[-1]
        adapter = real(method)
        return special[user](adapter) if user in special else adapter

    return build


def statuses(sessions: sessionmaker[Session]) -> dict[str, tuple[str, int]]:
    with sessions() as session:
        return {
            str(n.message["user"]): (n.status, n.attempts)
            for n in session.scalars(select(Notification).where(Notification.kind == "page"))
        }


def timeline(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return [e.message for e in incidents.get(session, "INC-1").events]


def test_a_page_whose_claim_ran_out_behind_slow_sends_goes_out_once(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    setup(sessions, receiver.url)
    clock = FixedClock(T0)
    declare(sessions, clock)
    real = adapter_factory(Settings())
    other = Sender(sessions, clock, real, node="other")
    slow = Sender(
        sessions,
        clock,
        per_user(
            real,
            {
                # alice's send takes 70 s: bob's row waits, and its claim (60 s at most) runs out
                "alice": lambda a: Doing(a, lambda: clock.advance(seconds=70)),
                # another node looks for work while bob's page is being sent
                "bob": lambda a: Doing(a, other.run_once),
            },
        ),
        node="slow",
    )
    assert slow.run_once() == 2
    other.run_once()
    assert sorted(receiver.who()) == ["alice", "bob"]  # bob once, not twice
    assert statuses(sessions)["bob"] == ("sent", 1)


def test_a_page_still_claimed_when_its_turn_comes_is_claimed_again_for_its_send(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    setup(sessions, receiver.url)
    clock = FixedClock(T0)
    declare(sessions, clock)
    real = adapter_factory(Settings())
    other = Sender(sessions, clock, real, node="other")
    found: list[int] = []

    def look_later() -> None:
        clock.advance(seconds=5)  # past the claim made at T0 (10 s), within one lease of now
        found.append(other.run_once())

    slow = Sender(
        sessions,
        clock,
        per_user(
            real,
            {
                "alice": lambda a: Doing(a, lambda: clock.advance(seconds=9)),
                "bob": lambda a: Doing(a, look_later),
            },
        ),
        node="slow",
    )
    assert slow.run_once() == 2
    assert found == [0]  # bob's page was claimed afresh when its send began
    assert sorted(receiver.who()) == ["alice", "bob"]


def test_a_message_that_crashes_the_sender_fails_alone(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    class Broken:
        def send(self, message: Message) -> SendResult:
            raise RuntimeError("adapter bug")

    setup(sessions, receiver.url)
    clock = FixedClock(T0)
    adapters = per_user(adapter_factory(Settings()), {"alice": lambda _a: Broken()})
    engine = Engine(sessions, clock, DUE_WORK, sender=Sender(sessions, clock, adapters))
    declare(sessions, clock)
    engine.run_once()
    assert receiver.who() == ["bob"]  # the rest of the batch went out
    assert statuses(sessions)["alice"] == ("failed", 1)
    assert (
        "Could not notify alice via hook: the sender failed: RuntimeError('adapter bug')"
        in timeline(sessions)
    )
    clock.advance(minutes=15)
    engine.run_once()
    assert receiver.who() == ["bob", "erin"]  # and the next level


class Died(BaseException):
    """The process ends in the middle of a send (killed, out of memory, a crash in C code)."""


def test_a_page_its_sender_dies_on_every_time_is_given_up_and_the_rest_go_out(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    class Deadly:
        def send(self, message: Message) -> SendResult:
            raise Died

    setup(sessions, receiver.url)
    clock = FixedClock(T0)
    adapters = per_user(adapter_factory(Settings()), {"alice": lambda _a: Deadly()})
    declare(sessions, clock)
    for node in ("n1", "n2", "n3"):  # each node dies on alice's page, before bob's turn
        with pytest.raises(Died):
            Sender(sessions, clock, adapters, node=node, max_attempts=3).run_once()
        clock.advance(seconds=11)  # its claim runs out
    assert receiver.pages == []
    survivor = Sender(sessions, clock, adapters, node="n4", max_attempts=3)
    engine = Engine(sessions, clock, DUE_WORK, sender=survivor)
    engine.run_once()
    assert receiver.who() == ["bob"]
    # bob's page was never tried by the nodes that died: those attempts were not his
    assert statuses(sessions) == {"alice": ("failed", 3), "bob": ("sent", 1)}
    assert "Could not notify alice via hook: no send finished in 3 attempts" in timeline(sessions)
    clock.advance(minutes=15)
    engine.run_once()
    assert receiver.who() == ["bob", "erin"]


class OnceBrokenClock(FixedClock):
    """A clock that fails once when the claim renewal reads it: any unexpected error there."""

    def __init__(self) -> None:
        super().__init__(T0)
        self.failed = threading.Event()

    def now(self) -> Any:
        if threading.current_thread().name == "tocsin-claims" and not self.failed.is_set():
            self.failed.set()
            raise RuntimeError("unexpected")
        return super().now()


def test_the_claim_renewal_goes_on_after_an_unexpected_error(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    setup(sessions, receiver.url)
    clock = OnceBrokenClock()
    declare(sessions, clock)
    with sessions() as session, session.begin():  # one page: bob's is not part of this
        for row in session.scalars(select(Notification)):
            if row.message.get("user") == "bob":
                session.delete(row)
    stuck = Stuck()
    slow = Sender(sessions, clock, lambda _m: stuck, node="slow", lease=timedelta(seconds=1))
    sending = threading.Thread(target=slow.run_once)
    sending.start()
    try:
        assert stuck.started.wait(timeout=30)
        assert clock.failed.wait(timeout=30)
        clock.advance(seconds=30)
        assert wait_for(lambda: claimed_until(sessions) == T0 + timedelta(seconds=31))
        other = Sender(sessions, clock, adapter_factory(Settings()), node="other")
        assert other.run_once() == 0  # still the slow sender's
    finally:
        stuck.release.set()
        sending.join()
    assert receiver.pages == []


class GatedReceiver:
    """A webhook receiver that holds the n-th request to a user until its gate opens; it notes
    when each held request arrived."""

    def __init__(self, gates: dict[tuple[str, int], threading.Event]) -> None:
        self.gates = gates
        self.arrived = {key: threading.Event() for key in gates}
        self.who: list[str] = []
        self.lock = threading.Lock()
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                user = self.path.strip("/")
                assert verify(body, f"secret-{user}", self.headers["X-Tocsin-Signature"])
                json.loads(body)
                with received.lock:
                    key = (user, received.who.count(user))
                    received.who.append(user)
                if key in received.gates:
                    received.arrived[key].set()
                    received.gates[key].wait(timeout=30)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        for gate in self.gates.values():
            gate.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def test_two_servers_of_one_host_and_pid_never_send_one_page_twice(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    # Containers that share a host name all run as pid 1: two servers of one process here
    # have the same host name and pid, and must still hold their claims apart.
    gates = {("alice", 0): threading.Event(), ("bob", 0): threading.Event()}
    receiver = GatedReceiver(gates)
    setup(sessions, receiver.url)
    clock = FixedClock(T0)
    apps = [create_app(Settings(database_url=db_url), clock=clock, run_engine=False) for _ in "ab"]
    declare(sessions, clock)
    first = threading.Thread(target=apps[0].state.worker.run_once)
    second = threading.Thread(target=apps[1].state.worker.run_once)
    try:
        first.start()  # claims alice's and bob's pages; alice's pager holds the request
        assert receiver.arrived["alice", 0].wait(timeout=30)
        clock.advance(seconds=70)  # past the claim setting: the first server seems hung
        second.start()  # sends alice's page again, then bob's, which his pager holds
        assert receiver.arrived["bob", 0].wait(timeout=30)
        gates["alice", 0].set()  # the first server goes on to bob's page, now the second's
        first.join(timeout=30)
        assert not first.is_alive()
        gates["bob", 0].set()
        second.join(timeout=30)
        with receiver.lock:
            assert sorted(receiver.who) == ["alice", "alice", "bob"]  # bob once
    finally:
        receiver.close()
        first.join()
        second.join()
        for app in apps:
            app.state.engine.dispose()


def test_a_receivers_answer_with_control_characters_is_recorded_cleanly(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    # A receiver's error text is quoted on the timeline; PostgreSQL refuses a NUL in it, which
    # failed the whole recording (and left the page to be sent again).
    class Refusing:
        def send(self, message: Message) -> SendResult:
            return SendResult(Outcome.PERMANENT, "HTTP 400 from hook: bad\x00 \x1b[31mbody")

    setup(sessions, receiver.url)
    clock = FixedClock(T0)
    adapters = per_user(adapter_factory(Settings()), {"alice": lambda _a: Refusing()})
    engine = Engine(sessions, clock, DUE_WORK, sender=Sender(sessions, clock, adapters))
    declare(sessions, clock)
    engine.run_once()
    assert receiver.who() == ["bob"]
    assert statuses(sessions)["alice"] == ("failed", 1)
    assert "Could not notify alice via hook: HTTP 400 from hook: bad [31mbody" in timeline(sessions)
