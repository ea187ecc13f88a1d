"""Shift swaps on the schedule page: alice asks for cover from the page's form, bob sees the
request with his warnings and accepts it in a real browser (headless Chromium)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SQLITE_ONLY, T0, LiveServer, _serve
from tests.web import test_browser as whole
from tests.web.conftest import Browser, set_passwords
from tocsin.clock import FixedClock
from tocsin.config import parse
from tocsin.services import schedules, swaps
from tocsin.store import users
from tocsin.store.db import make_engine, make_sessionmaker

chromium_process = whole.chromium_process
chromium = whole.chromium

# T0 is Thursday 2024-06-20 10:30 UTC: alice's day of the rotation (09:00 Berlin handoffs).
CONFIG = """
schedules:
  - name: ops
    time_zone: Europe/Berlin
    layers:
      - name: daily
        rotation: 1 day
        start: 2024-06-17T09:00
        participants: [alice, bob, carol]
"""


def _schedule(db_url: str) -> None:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        schedules.put(session, parse(CONFIG).spec.schedules[0], actor="root", now=T0)
        users.update(session, users.get_by_handle(session, "alice"), time_zone="Europe/Berlin")
    engine.dispose()


@pytest.fixture
def site(db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """The ops schedule served at T0, with a request of alice's for 14:00-18:00 Berlin."""
    set_passwords(db_url)
    _schedule(db_url)
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        swaps.request(
            session,
            "ops",
            requester="alice",
            start=datetime(2024, 6, 20, 12, 0, tzinfo=UTC),
            end=datetime(2024, 6, 20, 16, 0, tzinfo=UTC),
            note="dentist",
            now=T0,
        )
    engine.dispose()
    yield from _serve(db_url, tmp_path, tls=False, seed=False, clock=FixedClock(T0))


@SQLITE_ONLY
def test_bob_accepts_on_the_schedule_page_and_the_swap_shows_as_accepted(
    chromium: Any, site: LiveServer
) -> None:
    page = whole.open_page(chromium)
    whole.log_in(page, site.url, "bob")
    page.goto(f"{site.url}/schedules/ops")
    row = page.locator("#swaps tr.swap-open")
    assert row.count() == 1
    assert "@alice" in row.inner_text() and "dentist" in row.inner_text()
    assert "open" in row.locator(".swap-status").inner_text()
    whole.submit(page, "#swaps tr.swap-open button:has-text('Accept')")
    accepted = page.locator("#swaps tr.swap-accepted .swap-status")
    assert accepted.inner_text() == "accepted: covered by @bob"
    assert page.locator("#swaps button:has-text('Accept')").count() == 0
    # Now an override: in the overrides list, and bob is on call in the range.
    assert "covers @alice" in page.locator("body").inner_text()


def test_the_request_cover_form_asks_and_refuses_what_is_not_yours(browser: Browser) -> None:
    _schedule(browser.db_url)
    browser.login("alice")
    shown = browser.get("/schedules/ops")
    assert 'id="request-cover"' in shown.text
    # Her own coming time: today's rest (10:30 UTC = 12:30 Berlin) until Friday 09:00.
    assert re.search(r'name="start" type="datetime-local" value="2024-06-20T12:30"', shown.text)
    refused = browser.post(
        "/schedules/ops/swaps", {"start": "2024-06-21T10:00", "end": "2024-06-21T12:00"}
    )
    assert refused.status_code == 400
    assert "@alice is not on call on ops from Fri 2024-06-21 10:00 CEST" in refused.text
    assert "No swap requests this week." in refused.text
    asked = browser.post(
        "/schedules/ops/swaps",
        {"start": "2024-06-20T14:00", "end": "2024-06-20T18:00", "note": "dentist"},
    )
    assert asked.status_code == 303
    assert asked.headers["location"].startswith("/schedules/ops#swap-")
    page = browser.get("/schedules/ops").text
    assert "Thu 2024-06-20 14:00 CEST" in page and "dentist" in page
    assert "Cancel request" in page  # hers to cancel; not hers to accept
    assert "Accept</button>" not in page
    browser.login("bob")
    assert "Accept</button>" in browser.get("/schedules/ops").text
