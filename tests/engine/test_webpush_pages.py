"""Web Push: a browser subscribed on the profile page gets each page as an encrypted push,
signed with Tocsin's VAPID key, through a fake push service that checks both as a real one and
the browser do; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import T0, Stepped, stepped_with
from tests.fakes.push import FakePush, fake_push
from tocsin.notify.webpush import generate
from tocsin.services import contacts

CONFIG = """
users:
  - handle: alice
    contact_methods: [{name: desk, type: console}]
    notification_rules: [{contact_method: desk, after: 5m}]
escalation_policies:
  - {name: db-oncall, levels: [{targets: ["user:alice"]}]}
services:
  - {slug: database, escalation_policy: db-oncall}
"""


@dataclass
class Push:
    stepped: Stepped
    service: FakePush

    def subscribe(self) -> str:
        browser = self.service.browser()
        with self.stepped.sessions() as session, session.begin():
            contacts.add_push(
                session, "alice", browser.subscription(), name="laptop", now=T0, trusted=True
            )
        return browser.endpoint.rsplit("/", 1)[1]


def _push(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, subject: str
) -> Iterator[Push]:
    ca = str(tmp_path / "push-ca.pem")
    with fake_push(ca) as service:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca)  # what `requests` trusts, for this fake
        private, _public = generate()
        settings = {"vapid_private_key": private, "vapid_subject": subject}
        for stepped in stepped_with(db_url, tmp_path, settings, CONFIG):
            yield Push(stepped, service)


@pytest.fixture
def push(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Push]:
    yield from _push(db_url, tmp_path, monkeypatch, "mailto:oncall@example.com")


def test_a_page_arrives_encrypted_and_its_button_acknowledges(push: Push) -> None:
    browser = push.subscribe()
    push.stepped.declare()
    assert push.service.refused == []
    [got] = push.service.received
    assert got["to"] == browser
    assert (got["urgency"], got["ttl"]) == ("high", "3600")
    page = got["payload"]
    assert page["title"] == "[SEV-1] INC-1 database: Primary down"
    assert page["url"] == f"{push.stepped.server.url}/incidents/INC-1"
    assert page["tag"] == "INC-1"
    assert "Notified alice via laptop" in push.stepped.timeline()
    # What the service worker does for the notification's Acknowledge button.
    assert httpx.post(page["ack_url"]).status_code == 200
    assert "Acknowledged by alice" in push.stepped.timeline()


def test_a_subscription_that_is_gone_falls_through(push: Push) -> None:
    browser = push.subscribe()
    push.service.gone.add(browser)
    push.stepped.declare()
    assert (
        "the browser's push subscription is gone; subscribe again on the profile page;"
        " trying desk now" in " ".join(push.stepped.timeline())
    )


def test_the_same_browser_subscribing_again_keeps_one_method(push: Push) -> None:
    browser = push.service.browser()
    with push.stepped.sessions() as session, session.begin():
        contacts.add_push(
            session, "alice", browser.subscription(), name="laptop", now=T0, trusted=True
        )
        contacts.add_push(
            session, "alice", browser.subscription(), name="laptop", now=T0, trusted=True
        )
        names = [c.method.name for c in contacts.list_(session, "alice")]
    assert names == ["desk", "laptop"]


def test_a_person_cannot_aim_a_subscription_inside_the_network(push: Push) -> None:
    # Anyone can subscribe from their profile: the server must not be made to post internally.
    subscription = push.service.browser().subscription()  # its endpoint is on 127.0.0.1
    with push.stepped.sessions() as session, pytest.raises(Exception) as caught:
        contacts.add_push(session, "alice", subscription, name="laptop", now=T0)
    assert getattr(caught.value, "problems", None) == [
        "endpoint: a push service is not inside the network: 127.0.0.1 is not a public address"
    ]


def test_a_bad_subscription_is_refused_with_every_problem(push: Push) -> None:
    with push.stepped.sessions() as session, pytest.raises(Exception) as caught:
        contacts.add_push(
            session,
            "alice",
            {"endpoint": "http://10.0.0.1/internal", "keys": {"p256dh": "x"}},
            name="laptop",
            now=T0,
        )
    assert getattr(caught.value, "problems", None) == [
        "endpoint: a push subscription's endpoint is an https URL",
        "keys: a webpush subscription needs its keys: p256dh (a P-256 public key) and auth"
        " (16 bytes), base64url",
    ]


def test_an_export_without_secrets_applies_again_and_keeps_the_keys(push: Push) -> None:
    from tocsin import config
    from tocsin.services import config_apply, config_export

    push.subscribe()
    with push.stepped.sessions() as session, session.begin():
        exported = config.dump(config_export.export(session))
        assert "p256dh" not in exported  # the subscription's keys are secret
        result = config_apply.apply(session, config.parse(exported, "tocsin.yaml"), now=T0)
        assert result.changes == []
    push.stepped.declare()
    assert len(push.service.received) == 1  # the kept keys still encrypt for the browser
