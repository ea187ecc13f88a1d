"""A big incident's page shows a page of each list; live parts answer 304 when nothing changed."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import T0, LiveServer
from tests.web.conftest import Browser
from tests.web.test_browser import (  # noqa: F401
    WAIT_MS,
    chromium,
    chromium_process,
    log_in,
    open_page,
    site,
)
from tocsin.core.alerts import AlertAction, AlertEvent
from tocsin.services import alerts, incidents
from tocsin.store import integrations
from tocsin.store.db import make_engine, make_sessionmaker

ALERTS = 230
ROW = re.compile(r"<tr><td>alert \d+</td>")
ENTRY = re.compile(r'<li class="k-')


def _incident_with_alerts(db_url: str, n: int = ALERTS, service: str = "api-gateway") -> None:
    """Declare INC-1 with `n` critical alerts attached: as many timeline entries."""
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        integration, _key = integrations.create(
            session, service=service, type="generic", name="g", now=T0
        )
        for start in range(0, n, 50):
            events = [
                AlertEvent(AlertAction.TRIGGER, f"k{i}", summary=f"alert {i}", severity="critical")
                for i in range(start, min(n, start + 50))
            ]
            alerts.ingest(session, integration, events, now=T0 + timedelta(seconds=start))
    engine.dispose()


def _href(html: str, link_id: str) -> str:
    found = re.search(rf'<a href="([^"]+)" rel="next" id="{link_id}">', html)
    assert found, f"no #{link_id} link"
    return found.group(1).replace("&amp;", "&")


def test_the_incident_page_shows_a_page_of_alerts_and_of_the_timeline(browser: Browser) -> None:
    _incident_with_alerts(browser.db_url)
    browser.login("alice")
    page = browser.get("/incidents/INC-1").text
    assert f'Alerts <span class="count">{ALERTS}</span>' in page
    assert f"100 of {ALERTS}, first seen first." in page
    pages = [ROW.findall(page)]
    assert len(pages[0]) == 100 and "alert 0<" in page and "alert 100<" not in page
    while 'id="alerts-next"' in page:
        page = browser.get(_href(page, "alerts-next")).text
        assert 'href="/incidents/INC-1#alerts">First alerts</a>' in page
        pages.append(ROW.findall(page))
    assert [len(p) for p in pages] == [100, 100, 30]
    shown = [row for p in pages for row in p]
    assert len(set(shown)) == ALERTS

    page = browser.get("/incidents/INC-1").text
    assert len(ENTRY.findall(page)) == 100
    older = browser.get(_href(page, "timeline-older")).text
    assert len(ENTRY.findall(older)) == 100
    assert "Newest entries</a>" in older
    assert 'data-live="/live/incidents/INC-1' not in older  # an older page stays put
    assert "Alert triggered: alert 229" in page and "Alert triggered: alert 229" not in older


def test_the_live_timeline_is_bounded_and_answers_304_until_it_changes(browser: Browser) -> None:
    _incident_with_alerts(browser.db_url)
    browser.login("alice")
    page = browser.get("/incidents/INC-1").text
    embedded = re.search(r'data-etag="([^"]+)"', page)
    assert embedded
    first = browser.get("/live/incidents/INC-1")
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert embedded.group(1).replace("&#34;", '"') == etag  # the first poll can already be a 304
    assert len(ENTRY.findall(first.text)) == 100 and 'id="timeline-older"' in first.text

    same = browser.get("/live/incidents/INC-1", headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b""
    assert same.headers["etag"] == etag

    browser.clock.advance(minutes=10)
    browser.post("/incidents/INC-1/notes", {"message": "rolled back"})
    changed = browser.get("/live/incidents/INC-1", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and "rolled back" in changed.text
    assert changed.headers["etag"] != etag
    again = browser.get("/live/incidents/INC-1", headers={"If-None-Match": changed.headers["etag"]})
    assert again.status_code == 304

    notes = browser.get("/live/incidents/INC-1?kind=notes")
    assert notes.headers["etag"] != changed.headers["etag"]
    assert len(ENTRY.findall(notes.text)) == 1


def test_the_live_dashboard_answers_304_until_it_changes(browser: Browser) -> None:
    _incident_with_alerts(browser.db_url, n=3)
    browser.login("alice")
    page = browser.get("/").text
    first = browser.get("/live/dashboard")
    etag = first.headers["etag"]
    assert f'data-etag="{etag.replace(chr(34), "&#34;")}"' in page
    assert browser.get("/live/dashboard", headers={"If-None-Match": etag}).status_code == 304

    engine = make_engine(browser.db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        incident = incidents.get(session, "INC-1")
        incidents.acknowledge(session, incident, actor="bob", now=T0)
    engine.dispose()
    acked = browser.get("/live/dashboard", headers={"If-None-Match": etag})
    assert acked.status_code == 200 and acked.headers["etag"] != etag
    assert "unacknowledged" not in acked.text

    etag = acked.headers["etag"]
    browser.clock.advance(seconds=20)  # ages under a minute read in seconds
    later = browser.get("/live/dashboard", headers={"If-None-Match": etag})
    assert later.status_code == 200
    browser.clock.advance(minutes=5)
    etag = browser.get("/live/dashboard").headers["etag"]
    browser.clock.advance(seconds=20)  # "5 minutes" still
    assert browser.get("/live/dashboard", headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_page_script_keeps_the_timeline_on_304_and_swaps_it_on_change(
    chromium: Any,  # noqa: F811
    site: LiveServer,  # noqa: F811
) -> None:
    from datetime import UTC, datetime

    engine = make_engine(site.db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        incidents.declare(
            session, title="Checkout is down", severity="SEV-2", actor="bob", now=datetime.now(UTC)
        )
    page = open_page(chromium, bypass_csp=True)  # the waits below evaluate script text
    polls: list[tuple[int, str | None]] = []
    page.on(
        "response",
        lambda r: (
            polls.append((r.status, r.request.headers.get("if-none-match")))
            if "/live/incidents/" in r.url
            else None
        ),
    )
    log_in(page, site.url, "alice")
    page.goto(f"{site.url}/incidents/INC-1")
    page.wait_for_function("() => document.querySelector('#timeline').dataset.checked")
    assert polls[0][0] == 304 and polls[0][1]  # it sent the version the page came with

    with make_sessionmaker(engine)() as session, session.begin():
        incident = incidents.get(session, "INC-1")
        incidents.add_note(session, incident, "found it", actor="bob", now=datetime.now(UTC))
    engine.dispose()
    page.wait_for_function(
        "document.querySelector('#timeline').innerText.includes('found it')", timeout=WAIT_MS
    )
    assert (200, polls[0][1]) in polls
    page.wait_for_function(
        "() => { const t = document.querySelector('#timeline');"
        " return Number(t.dataset.checked) > Number(t.dataset.refreshed); }",
        timeout=WAIT_MS,
    )
    assert polls[-1][0] == 304 and polls[-1][1] != polls[0][1]  # the new version is kept
    assert "found it" in page.locator("#timeline").inner_text()
