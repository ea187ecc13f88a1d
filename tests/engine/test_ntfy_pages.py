"""ntfy: a page is pushed to the person's topic with its priority, and the notification's
Acknowledge action acknowledges the incident; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Stepped, stepped_with
from tests.fakes.ntfy import FakeNtfy, fake_ntfy

CONFIG = """
users:
  - handle: alice
    contact_methods:
      - {{name: push, type: ntfy, url: "{url}/oncall-alice", secret: tk_alice_token_123}}
      - {{name: desk, type: console}}
    notification_rules:
      - {{contact_method: push, after: 0m}}
      - {{contact_method: desk, after: 5m}}
escalation_policies:
  - {{name: db-oncall, levels: [{{targets: ["user:alice"]}}]}}
services:
  - {{slug: database, escalation_policy: db-oncall}}
"""


@pytest.fixture
def ntfy(db_url: str, tmp_path: Path) -> Iterator[tuple[Stepped, FakeNtfy]]:
    with fake_ntfy() as fake:
        for stepped in stepped_with(db_url, tmp_path, {}, CONFIG.format(url=fake.url)):
            yield stepped, fake


def test_a_page_is_pushed_and_its_action_acknowledges(ntfy: tuple[Stepped, FakeNtfy]) -> None:
    stepped, fake = ntfy
    fake.protected["oncall-alice"] = "tk_alice_token_123"
    stepped.declare()
    [push] = fake.published
    assert push["topic"] == "oncall-alice"
    assert push["title"] == "[SEV-1] INC-1 database: Primary down"
    assert (push["priority"], push["tags"]) == (5, ["rotating_light"])
    assert push["click"] == f"{stepped.server.url}/incidents/INC-1"
    ack, open_ = push["actions"]
    assert (ack["action"], ack["label"], ack["method"]) == ("http", "Acknowledge", "POST")
    assert open_ == {"action": "view", "label": "Open incident", "url": push["click"]}
    # What the ntfy app does when the person taps Acknowledge.
    assert httpx.request(ack["method"], ack["url"]).status_code == 200
    assert "Acknowledged by alice" in stepped.timeline()


def test_a_topic_that_refuses_the_token_falls_through(ntfy: tuple[Stepped, FakeNtfy]) -> None:
    stepped, fake = ntfy
    fake.protected["oncall-alice"] = "another-token"
    stepped.declare()
    assert fake.published == []
    assert (
        'Could not notify alice via push: HTTP 403 from ntfy: {"code": 40301, "http": 403,'
        ' "error": "forbidden"}; trying desk now' in stepped.timeline()
    )
    assert "tk_alice_token_123" not in " ".join(stepped.timeline())
