"""Adapters are built once per contact method and kept: one connection pool per destination,
not a new client (and handshake) for every page."""

from __future__ import annotations

from collections import Counter

from sqlalchemy.orm import Session, sessionmaker

from tests.engine.test_escalation_flow import T0, declare, setup
from tests.receivers import PageReceiver
from tocsin.app import DUE_WORK
from tocsin.clock import FixedClock
from tocsin.engine.loop import Engine
from tocsin.engine.outbox import Adapters, Sender, adapter_factory
from tocsin.notify import Adapter
from tocsin.notify.webhook import WebhookAdapter
from tocsin.services import incidents
from tocsin.settings import Settings
from tocsin.store.models import ContactMethod


def method(target: str, secret: str = "s3cret") -> ContactMethod:
    return ContactMethod(id=7, name="hook", type="webhook", target=target, secret=secret)


def test_one_adapter_per_contact_method_until_it_changes(receiver: PageReceiver) -> None:
    adapters = Adapters(adapter_factory(Settings()))
    first = adapters(method(f"{receiver.url}/alice"))
    assert isinstance(first, WebhookAdapter)
    assert adapters(method(f"{receiver.url}/alice")) is first
    # A method whose target (or secret) changed gets a new adapter; the old pool is closed.
    moved = adapters(method(f"{receiver.url}/alice-new"))
    assert moved is not first
    assert first._client.is_closed
    assert adapters(method(f"{receiver.url}/alice-new", secret="rotated")) is not moved
    adapters.close()
    assert moved._client.is_closed


def test_repeated_pages_to_one_method_reuse_its_adapter(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    built: Counter[str] = Counter()
    make = adapter_factory(Settings())

    def counting(found: ContactMethod) -> Adapter:
        built[found.target] += 1
        return make(found)

    setup(sessions, receiver, repeat=1)
    clock = FixedClock(T0)
    adapters = Adapters(counting)
    sender = Sender(sessions, clock, adapters, base_url="https://tocsin.test")
    engine = Engine(sessions, clock, DUE_WORK, sender=sender)
    declare(sessions, clock)
    for _ in range(4):  # levels 1, 2 and 3, then level 1 again (repeat: 1)
        engine.run_once()
        clock.advance(minutes=15)
    assert receiver.who() == ["alice", "bob", "erin", "alice"]
    assert built == {
        f"{receiver.url}/alice": 1,
        f"{receiver.url}/bob": 1,
        f"{receiver.url}/erin": 1,
    }
    with sessions() as session, session.begin():
        incidents.resolve(session, "INC-1", message="fixed", actor="bob", now=clock.now())
    engine.run_once()
    assert sorted(p["to"] for p in receiver.pages[4:]) == ["alice", "bob", "erin"]
    assert built[f"{receiver.url}/alice"] == 1  # the resolve notice went the same way
    adapters.close()
