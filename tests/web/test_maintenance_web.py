"""Public maintenance in the browser: announced and cancelled from the form, shown to customers.

The form's flows run over HTTP here; one run in headless Chromium announces maintenance and
opens the public page as a customer would.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from tests.conftest import SQLITE_ONLY, T0, LiveServer
from tests.web import test_browser
from tests.web.conftest import Browser
from tests.web.test_browser import log_in, open_page, submit, watch_policy
from tocsin.store import components, users
from tocsin.store.db import make_engine, make_sessionmaker
from tocsin.store.models import PublicMaintenance, Service

pytestmark = SQLITE_ONLY

# The real browser's fixtures, shared with the whole-incident run: one Chromium per module, and
# the three-tier example served for real.
chromium_process = test_browser.chromium_process
chromium = test_browser.chromium
site = test_browser.site


def _setup(db_url: str) -> None:
    """Put the gateway in a "Public API" component; Alice reads times in Berlin."""
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        api = components.create(session, slug="api", name="Public API", now=T0)
        components.create(session, slug="web", name="Website", position=1, now=T0)
        session.flush()
        gateway = session.scalars(select(Service).where(Service.slug == "api-gateway")).one()
        gateway.component_id = api.id
        users.get_by_handle(session, "alice").time_zone = "Europe/Berlin"
    engine.dispose()


def _count(db_url: str) -> int:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session:
        found = session.scalar(select(func.count()).select_from(PublicMaintenance)) or 0
    engine.dispose()
    return found


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_a_responder_announces_in_their_time_zone_and_cancels(browser: Browser) -> None:
    _setup(browser.db_url)
    browser.login("alice")
    form = browser.get("/maintenance")
    assert form.status_code == 200
    assert "Starts (Europe/Berlin)" in form.text
    answer = browser.client.post(
        "/maintenance",
        data={
            "csrf_token": browser.csrf,
            "title": "Gateway upgrade",
            "component": ["api", "web"],
            "start": "2024-06-21T00:00",  # Berlin: 22:00 UTC the day before
            "end": "2024-06-21T01:30",
            "message": "Requests may be retried.",
            "silence": "on",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    listed = _text(browser.get("/maintenance").text)
    assert "Announced maintenance 1: Gateway upgrade" in listed  # the flash
    assert "Gateway upgrade Public API, Website 2024-06-20 22:00\u201323:30 UTC" in listed
    assert "2024-06-21 00:00 CEST \u2013 2024-06-21 01:30 CEST Scheduled api-gateway" in listed
    public = _text(browser.get("/status").text)
    assert "Scheduled maintenance Gateway upgrade Scheduled" in public

    cancelled = browser.post("/maintenance/1/cancel")
    assert cancelled.status_code == 303
    assert "Gateway upgrade Public API, Website" in _text(browser.get("/maintenance").text)
    assert "Cancelled" in _text(browser.get("/maintenance").text)
    assert 'id="scheduled-maintenance"' not in browser.get("/status").text


def test_every_problem_of_the_form_is_shown_and_nothing_is_announced(browser: Browser) -> None:
    _setup(browser.db_url)
    browser.login("alice")
    browser.get("/maintenance")
    answer = browser.post("/maintenance", {"title": "", "start": "soon", "end": ""})
    assert answer.status_code == 400
    shown = _text(answer.text)
    assert "title: say in a line what the maintenance is" in shown
    assert "components: name at least one status component (one of api, web)" in shown
    assert "start: time 'soon' is not valid" in shown
    assert "end: when does it end?" in shown
    assert _count(browser.db_url) == 0


def test_a_viewer_sees_no_form_and_may_not_announce(browser: Browser) -> None:
    _setup(browser.db_url)
    browser.login("vera")
    page = browser.get("/maintenance")
    assert page.status_code == 200
    assert "Announce maintenance" not in page.text
    answer = browser.post(
        "/maintenance",
        {"title": "T", "component": "api", "start": "2024-06-21T00:00", "end": "2024-06-21T01:00"},
    )
    assert answer.status_code == 403
    assert _count(browser.db_url) == 0


def test_customers_see_the_scheduled_maintenance_in_a_real_browser(
    chromium: Any, site: LiveServer
) -> None:
    url = site.url
    engine = make_engine(site.db_url)
    with make_sessionmaker(engine)() as session:
        zone = users.get_by_handle(session, "alice").time_zone
    engine.dispose()
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=22, minute=0, second=0)
    end = start + timedelta(minutes=90)

    def local(at: datetime) -> str:
        return at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")

    errors: list[str] = []
    page = open_page(chromium, viewport={"width": 1400, "height": 900})
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    watch_policy(page, errors)
    log_in(page, url, "alice")
    page.click("nav >> text=Maintenance")
    page.wait_for_url(f"{url}/maintenance")
    page.fill("#title", "Storage upgrade")
    page.check("input[name=component][value=data]")
    page.fill("#start", local(start))
    page.fill("#end", local(end))
    page.fill("#message", "Saving projects pauses for a few minutes.")
    submit(page, "button:has-text('Announce')")
    assert "Storage upgrade" in page.locator("#announced").inner_text()

    customer = open_page(chromium)  # no login
    watch_policy(customer, errors)
    customer.goto(f"{url}/status")
    section = customer.locator("#scheduled-maintenance")
    text = section.inner_text()
    assert "Storage upgrade" in text
    assert "Scheduled" in text
    assert f"{start:%Y-%m-%d %H:%M}\u2013{end:%H:%M} UTC" in text
    assert "Affects Data storage" in text
    assert "Saving projects pauses for a few minutes." in text
    assert "Operational" in customer.locator("#component-data").inner_text()
    with customer.expect_navigation():
        section.locator("a", has_text="Storage upgrade").click()
    assert customer.url == f"{url}/status/maintenance/1"
    assert "Scheduled" in customer.locator("#maintenance").inner_text()
    assert errors == []
