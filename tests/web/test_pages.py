"""The web pages over HTTP: login, roles, CSRF, forms, escaping.

Tests of what the pages do with a request (login, CSRF, forms, escaping, pictures) run on
SQLite: the services and stores under them have their own tests on both databases. Pages that
read through queries of their own or of the status-page store (status page, feed, dashboard,
postmortem list, timeline filter, logout) run on PostgreSQL too.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from xml.etree import ElementTree

import pytest

from tests.conftest import SQLITE_ONLY, T0
from tests.services.test_routes import CONFIG as ROUTES
from tests.web.conftest import Browser
from tocsin import config
from tocsin.services import config_apply as applier
from tocsin.services import incidents, schedules
from tocsin.store import services
from tocsin.store.db import make_engine, make_sessionmaker
from tocsin.store.models import StatusComponent

pytestmark = pytest.mark.usefixtures("db_url")


def _timeline(browser: Browser, ref: str = "INC-1") -> list[str]:
    engine = make_engine(browser.db_url)
    with make_sessionmaker(engine)() as session:
        found = [f"{e.actor} {e.kind} {e.message}" for e in incidents.timeline(session, ref)]
    engine.dispose()
    return found


def _declare(browser: Browser, title: str = "All requests returning 502") -> None:
    response = browser.post(
        "/incidents", {"title": title, "severity": "SEV-1", "service": "api-gateway"}
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/incidents/INC-1"
    browser.get("/incidents/INC-1")


@SQLITE_ONLY
def test_pages_need_a_login_and_come_back_after_it(browser: Browser) -> None:
    response = browser.client.get("/incidents?show=all", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/incidents%3Fshow%3Dall"
    assert browser.client.get("/live/dashboard").status_code == 401
    browser.get("/login?next=/incidents%3Fshow%3Dall")
    response = browser.post(
        "/login",
        {"handle": "alice", "password": "correct horse battery", "next": "/incidents?show=all"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/incidents?show=all"


@SQLITE_ONLY
def test_the_session_cookie_is_httponly_and_samesite(browser: Browser) -> None:
    response = browser.login("alice")
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("tocsin_session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie


@SQLITE_ONLY
def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
    browser: Browser,
) -> None:
    for handle, password in (("alice", "wrong password!"), ("nobody", "correct horse battery")):
        response = browser.login(handle, password)
        assert response.status_code == 401
        assert "Unknown handle or wrong password." in response.text
    response = browser.login("", "")
    assert response.status_code == 400
    assert "Enter your handle." in response.text
    assert "Enter your password." in response.text
    assert "tocsin_session" not in browser.client.cookies


@SQLITE_ONLY
def test_an_open_redirect_after_login_goes_home_instead(browser: Browser) -> None:
    browser.get("/login")
    response = browser.post(
        "/login",
        {"handle": "alice", "password": "correct horse battery", "next": "//evil.example/x"},
    )
    assert response.headers["location"] == "/"


def test_logout_ends_the_session_on_the_server(browser: Browser) -> None:
    browser.login("alice")
    secret = browser.client.cookies["tocsin_session"]
    assert browser.post("/logout").status_code == 303
    browser.client.cookies.set("tocsin_session", secret)  # a stolen copy of the cookie
    response = browser.client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


@SQLITE_ONLY
def test_login_form_without_its_token_is_refused(browser: Browser) -> None:
    browser.client.get("/login")
    response = browser.client.post(
        "/login",
        data={"handle": "alice", "password": "correct horse battery"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "tocsin_session" not in browser.client.cookies


@SQLITE_ONLY
def test_a_post_without_the_csrf_token_changes_nothing(browser: Browser) -> None:
    browser.login("alice")
    _declare(browser)
    before = _timeline(browser)
    for token in (None, "forged"):
        data = {"message": "should not be stored"}
        if token:
            data["csrf_token"] = token
        response = browser.client.post("/incidents/INC-1/notes", data=data)
        assert response.status_code == 403
        assert "security token" in response.text
    assert _timeline(browser) == before


@SQLITE_ONLY
def test_a_whole_incident_through_the_forms(browser: Browser) -> None:
    browser.login("alice")
    _declare(browser)
    steps = [
        ("ack", {}),
        ("commander", {"user": "bob"}),
        ("responders", {"user": "carol", "role": "responder", "speciality": "database"}),
        ("status", {"status": "mitigating", "message": "Rolling back"}),
        ("severity", {"severity": "SEV-2", "reason": "Only the EU region is affected"}),
        ("updates", {"message": "Root cause found in db-7", "visibility": "internal"}),
        (
            "updates",
            {
                "message": "A fix is being rolled out.",
                "visibility": "public",
                "public_status": "identified",
                "public_title": "Errors on the API",
            },
        ),
        ("notes", {"message": "Rollback finished at 10:41"}),
        ("resolve", {"resolution": "Rolled back the nginx config"}),
    ]
    for action, data in steps:
        browser.clock.advance(minutes=2)
        response = browser.post(f"/incidents/INC-1/{action}", data)
        assert response.status_code == 303, (action, response.text)
        browser.get("/incidents/INC-1")
    timeline = _timeline(browser)
    assert timeline[0] == (
        "alice declared Incident declared: All requests returning 502 (SEV-1 on api-gateway)"
    )
    assert [line.split(" ")[1] for line in timeline] == [
        "declared",
        "acknowledged",
        "role_assigned",
        "role_assigned",
        "milestone_skipped",
        "status_changed",
        "severity_changed",
        "status_update",
        "edited",
        "status_update",
        "note",
        "status_changed",
    ]
    assert "alice severity_changed" in timeline[6]
    assert "Only the EU region is affected" in timeline[6]
    page = browser.get("/incidents/INC-1").text
    assert "Resolved" in page
    assert "@bob (Bob)" in page
    # The timeline is newest first.
    assert page.index("Rolled back the nginx config") < page.index("Rollback finished at 10:41")


def test_the_timeline_filters_by_kind(browser: Browser) -> None:
    browser.login("alice")
    _declare(browser)
    browser.post("/incidents/INC-1/notes", {"message": "a note for the filter"})
    browser.post("/incidents/INC-1/updates", {"message": "an update", "visibility": "internal"})
    notes = browser.get("/incidents/INC-1?kind=notes").text
    timeline = notes[notes.index('id="timeline"') :]
    assert "a note for the filter" in timeline
    assert "an update" not in timeline
    live = browser.get("/live/incidents/INC-1?kind=updates").text
    assert "an update" in live
    assert "a note for the filter" not in live


@SQLITE_ONLY
def test_the_notification_text_is_ready_to_copy(browser: Browser) -> None:
    browser.login("alice")
    _declare(browser)
    page = browser.get("/incidents/INC-1").text
    text = re.search(r'<textarea id="notification"[^>]*>(.*?)</textarea>', page, re.S)
    assert text is not None
    assert "INCIDENT NOTIFICATION" in text.group(1)
    assert "Severity: SEV-1" in text.group(1)
    assert 'data-copy="#notification"' in page


@SQLITE_ONLY
def test_user_text_is_escaped_everywhere(browser: Browser) -> None:
    browser.login("alice")
    _declare(browser, "<script>alert(1)</script>")
    browser.post("/incidents/INC-1/notes", {"message": "<img src=x onerror=alert(2)>"})
    browser.post(
        "/incidents/INC-1/updates",
        {
            "message": "<b>bold</b>",
            "visibility": "public",
            "public_title": "<script>alert(3)</script>",
        },
    )
    for path in ("/", "/incidents", "/incidents/INC-1", "/status", "/status/incidents/1"):
        page = browser.get(path).text
        assert "<script>alert" not in page, path
        assert "<img src=x" not in page, path
        assert "<b>bold</b>" not in page, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in browser.get("/incidents/INC-1").text
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in browser.get("/status").text
    feed = browser.get("/status/feed.atom").text
    assert "<script>" not in feed
    ElementTree.fromstring(feed)  # still well-formed XML


@SQLITE_ONLY
def test_forms_show_errors_next_to_the_field_and_change_nothing(browser: Browser) -> None:
    browser.login("alice")
    response = browser.post("/incidents", {"title": "", "severity": ""})
    assert response.status_code == 400
    assert "Say in a line what is broken." in response.text
    assert "Choose a severity" in response.text
    response = browser.post("/incidents", {"title": "x", "severity": "SEV-9"})
    assert response.status_code == 400
    assert "unknown severity" in response.text.lower()
    assert 'value="x"' in response.text  # what was typed is kept
    browser.get("/incidents/new")
    _declare(browser)
    before = _timeline(browser)
    response = browser.post("/incidents/INC-1/severity", {"severity": "SEV-2", "reason": ""})
    assert response.status_code == 400
    section = response.text[response.text.index('action="/incidents/INC-1/severity"') :]
    assert "reason: say why the severity changes" in section[: section.index("</form>")]
    response = browser.post("/incidents/INC-1/commander", {"user": "nobody"})
    assert response.status_code == 400
    assert "unknown user" in response.text
    response = browser.post("/incidents/INC-1/status", {"status": "exploded"})
    assert response.status_code == 400
    assert "unknown status" in response.text.lower()
    assert _timeline(browser) == before


@SQLITE_ONLY
def test_a_second_commander_is_a_handover_not_an_error(browser: Browser) -> None:
    browser.login("alice")
    _declare(browser)
    browser.post("/incidents/INC-1/commander", {"user": "alice"})
    browser.get("/incidents/INC-1")
    assert browser.post("/incidents/INC-1/commander", {"user": "bob"}).status_code == 303
    assert "@bob (Bob)" in browser.get("/incidents/INC-1").text


@SQLITE_ONLY
def test_a_viewer_cannot_press_the_buttons_or_post_by_hand(browser: Browser) -> None:
    browser.login("alice")
    _declare(browser)
    browser.post("/logout")
    browser.login("vera")
    page = browser.get("/incidents/INC-1").text
    assert '<fieldset class="actions" disabled>' in page
    assert "you can follow the incident but not change it" in page
    assert "Declare incident" not in browser.get("/").text
    before = _timeline(browser)
    for action, data in (
        ("ack", {}),
        ("commander", {"user": "vera"}),
        ("notes", {"message": "viewer note"}),
        ("resolve", {}),
    ):
        response = browser.post(f"/incidents/INC-1/{action}", data)
        assert response.status_code == 403, action
        assert "@vera is a viewer" in response.text
    assert browser.post("/incidents", {"title": "x", "severity": "SEV-1"}).status_code == 403
    assert _timeline(browser) == before


def _with_component(db_url: str) -> None:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        component = StatusComponent(
            slug="api", name="Public API", description="api.example.com", created_at=T0
        )
        session.add(component)
        session.flush()
        services.get_by_slug(session, "api-gateway").component_id = component.id
    engine.dispose()


def test_the_status_page_shows_exactly_the_public_part(browser: Browser) -> None:
    _with_component(browser.db_url)
    browser.login("alice")
    _declare(browser, "db-primary-7 OOM kill loop")
    browser.post("/incidents/INC-1/responders", {"user": "carol", "role": "responder"})
    browser.post(
        "/incidents/INC-1/updates", {"message": "Failing over db-7", "visibility": "internal"}
    )
    browser.post("/incidents/INC-1/notes", {"message": "Carol is on it"})
    status = browser.get("/status").text
    assert "Public API" in status
    assert "All systems operational" in status  # nothing published yet
    assert "db-primary-7" not in status
    assert browser.client.get("/status/incidents/1").status_code == 404
    browser.post(
        "/incidents/INC-1/updates",
        {"message": "We are investigating errors on the API.", "visibility": "public"},
    )
    browser.client.cookies.clear()  # the public reads it without a login
    status = browser.client.get("/status")
    assert status.status_code == 200
    page = status.text
    assert "Major system outage" in page
    assert "Incident affecting Public API" in page
    assert "We are investigating errors on the API." in page
    assert "Investigating" in page
    assert re.search(r'id="component-api".*?Major outage', page, re.S)
    for secret in ("db-primary-7", "Failing over db-7", "Carol", "carol", "alice", "Alice"):
        assert secret not in page, secret
    one = browser.client.get("/status/incidents/INC-1").text
    assert "We are investigating errors on the API." in one
    assert "Failing over" not in one


def test_the_status_page_after_resolution_and_its_history(browser: Browser) -> None:
    _with_component(browser.db_url)
    browser.login("alice")
    _declare(browser)
    browser.post(
        "/incidents/INC-1/updates", {"message": "Looking into it.", "visibility": "public"}
    )
    browser.clock.advance(minutes=20)
    browser.post(
        "/incidents/INC-1/updates",
        {"message": "All fixed.", "visibility": "public", "public_status": "resolved"},
    )
    browser.post("/incidents/INC-1/resolve", {})
    page = browser.client.get("/status").text
    assert "All systems operational" in page
    assert 'id="current"' not in page
    history = page[page.index('id="history"') :]
    assert "20 June 2024" in history
    assert history.index("All fixed.") < history.index("Looking into it.")
    # Today's square of the component is red; the days before are green.
    days = re.findall(r'class="day state-([a-z_]+)" title="([0-9-]+)', page)
    assert len(days) == 90
    assert days[-1] == ("major_outage", "2024-06-20")
    assert {state for state, _ in days[:-1]} == {"operational"}


def test_the_atom_feed_lists_public_updates_only(browser: Browser) -> None:
    browser.login("alice")
    _declare(browser)
    browser.post(
        "/incidents/INC-1/updates", {"message": "internal words", "visibility": "internal"}
    )
    browser.clock.advance(minutes=5)
    browser.post(
        "/incidents/INC-1/updates",
        {"message": "Public words.", "visibility": "public", "public_title": "API errors"},
    )
    response = browser.client.get("/status/feed.atom")
    assert response.headers["content-type"].startswith("application/atom+xml")
    ns = {"a": "http://www.w3.org/2005/Atom"}
    feed = ElementTree.fromstring(response.text)
    entries = feed.findall("a:entry", ns)
    assert [e.findtext("a:title", namespaces=ns) for e in entries] == ["API errors: Investigating"]
    assert [e.findtext("a:content", namespaces=ns) for e in entries] == ["Public words."]
    assert feed.findtext("a:updated", namespaces=ns) == "2024-06-20T10:35:00Z"
    assert "internal words" not in response.text


def test_drills_never_reach_the_status_page(browser: Browser) -> None:
    engine = make_engine(browser.db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        incidents.declare(
            session, title="Drill", severity="SEV-1", is_drill=True, actor="root", now=T0
        )
        incidents.post_update(
            session, "INC-1", "Drill update", visibility="public", actor="root", now=T0
        )
    engine.dispose()
    page = browser.client.get("/status").text
    assert "Drill update" not in page
    assert "All systems operational" in page


def _schedule(db_url: str) -> None:
    from tocsin.config import parse

    spec = parse(
        """
schedules:
  - name: primary
    time_zone: America/Chicago
    layers:
      - name: weekdays
        rotation: 1 week
        start: 2024-06-17T09:00
        participants: [alice, bob]
        restrictions:
          - {days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00"}
"""
    ).spec.schedules[0]
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        schedules.put(session, spec, actor="root", now=T0)
    engine.dispose()


@SQLITE_ONLY
def test_the_schedule_picture_shows_layers_final_row_and_gaps(browser: Browser) -> None:
    _schedule(browser.db_url)
    browser.login("alice")
    page = browser.get("/schedules/primary").text
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert "Layer: weekdays" in svg
    assert "Final schedule" in svg
    assert 'class="shift gap"' in svg
    assert "nobody on call" in svg
    assert "Nobody is on call for" in page
    # 2024-06-20 10:30 UTC is 05:30 in Chicago: outside the 09:00-17:00 restriction.
    assert 'On call now: <span class="badge b-gap">nobody</span>' in page
    browser.clock.set(T0 + timedelta(hours=5))  # 10:30 in Chicago, a Thursday
    assert "On call now: <strong>@alice</strong>" in browser.get("/schedules/primary").text


@SQLITE_ONLY
def test_overrides_from_the_form(browser: Browser) -> None:
    _schedule(browser.db_url)
    browser.login("alice")
    browser.get("/schedules/primary")
    response = browser.post(
        "/schedules/primary/overrides",
        {"user": "carol", "start": "2024-06-20T18:00", "end": "2024-06-20T17:00"},
    )
    assert response.status_code == 400
    assert "not after its start" in response.text
    response = browser.post("/schedules/primary/overrides", {"user": "", "start": "", "end": ""})
    assert "Choose who is on call." in response.text
    assert "When does it start?" in response.text
    response = browser.post(
        "/schedules/primary/overrides",
        {"user": "carol", "start": "2024-06-20T05:00", "end": "2024-06-20T08:00", "note": "cover"},
    )
    assert response.status_code == 303
    page = browser.get("/schedules/primary").text
    assert "On call now: <strong>@carol</strong>" in page
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert 'class="label">Overrides</text>' in svg  # the picture gained an overrides row
    assert "carol: Thu 10:00 - Thu 13:00 UTC" in svg  # 05:00-08:00 in Chicago
    override_id = re.search(r"/overrides/(\d+)/delete", page)
    assert override_id is not None
    assert (
        browser.post(f"/schedules/primary/overrides/{override_id.group(1)}/delete").status_code
        == 303
    )
    assert (
        'On call now: <span class="badge b-gap">nobody</span>'
        in browser.get("/schedules/primary").text
    )


RUNBOOK = """# API Gateway Runbook

## Overview
The front door.

## Architecture
nginx in front of the app.

## Common Fixes

### Issue: All requests returning 502
1. Check the upstream: `kubectl get pods -l app=api`
2. Roll back: `kubectl rollout undo deployment/api`

### Issue: High latency
1. Look at the slow queries: `psql -c 'select 1'`

## Escalation
Page the database team.
"""


@SQLITE_ONLY
def test_the_service_page_renders_the_runbook_with_scenario_anchors(browser: Browser) -> None:
    engine = make_engine(browser.db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        services.get_by_slug(session, "api-gateway").runbook = RUNBOOK
    engine.dispose()
    browser.login("alice")
    _declare(browser)
    page = browser.get("/services/api-gateway").text
    assert '<h3 id="all-requests-returning-502">Issue: All requests returning 502</h3>' in page
    assert 'href="#high-latency"' in page
    assert "<code>kubectl rollout undo deployment/api</code>" in page
    assert "INC-1" in page  # recent incidents
    assert "No escalation policy: alerts page nobody." in page


def _apply(browser: Browser, text: str) -> None:
    engine = make_engine(browser.db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        applier.apply(session, config.parse(text, "tocsin.yaml"), now=T0)
    engine.dispose()
    browser.login("alice")


def _section(page: str, anchor: str, item: str) -> list[str]:
    """Return the text of each `item` element (li, or dt and dd) in the card with id `anchor`."""
    card = page[page.index(f'id="{anchor}"') :]
    card = card[: card.index("</section>")]
    return [
        html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", found))).strip()
        for found in re.findall(rf"<{item}>(.*?)</{item}>", card, re.DOTALL)
    ]


@SQLITE_ONLY
def test_the_service_page_lists_its_label_routes(browser: Browser) -> None:
    _apply(browser, ROUTES)
    page = browser.get("/services/platform").text
    routes = page[page.index('id="routes"') :]
    routes = routes[: routes.index("</section>")]
    assert _section(page, "routes", "li") == [
        '{env=~"dev|test"} dropped: recorded, never paged',
        '{team="db"} → database',
        '{alertname="Watchdog"} → this service at SEV-4 then later routes too',
        '{alertname=~"Watch.*"} → meta',
    ]
    assert '<a href="/services/database">database</a>' in routes
    assert "An incident stays open when its alerts resolve" in page
    assert "None: every alert" in browser.get("/services/meta").text


GROUPED = """
services:
  - slug: database
    group_by: [cluster, alertname]
    group_window: 10m
    open_after: {count: 3, within: 5m}
    flap_window: 15m
    inhibit_rules:
      - source: '{alertname="NodeDown"}'
        target: '{severity="warning"}'
        equal: [instance]
"""


@SQLITE_ONLY
def test_the_service_page_says_how_alerts_group_and_what_quiets_them(browser: Browser) -> None:
    _apply(browser, GROUPED)
    assert _section(browser.get("/services/database").text, "grouping", "d[td]") == [
        "Incidents",
        "one per alert group: equal cluster, alertname, while the group's newest alert is at"
        " most 10m old",
        "Opens",
        "once 3 alerts of a group fired within 5m; until then they are recorded and held; an"
        " alert firing again within 15m of its resolve counts once",
        "Inhibit rules",
        'while {alertname="NodeDown"} fires, {severity="warning"} pages nobody with equal instance',
    ]
    assert _section(browser.get("/services/api-gateway").text, "grouping", "d[td]") == [
        "Incidents",
        "one open incident takes every alert of this service",
        "Opens",
        "at the first alert that calls for an incident",
        "Inhibit rules",
        "none",
    ]


def test_a_postmortem_from_the_browser(browser: Browser) -> None:
    browser.login("alice")
    _declare(browser)
    browser.post("/incidents/INC-1/resolve", {"resolution": "rolled back"})
    browser.get("/incidents/INC-1")
    assert browser.post("/postmortems/INC-1/draft").status_code == 303
    page = browser.get("/postmortems/INC-1").text
    assert "Postmortem: " in page
    body = "# Postmortem\n\nThe deploy had a typo.\n\n## What went well\n\n- Fast rollback\n"
    assert browser.post("/postmortems/INC-1/edit", {"body": body}).status_code == 303
    response = browser.post(
        "/postmortems/INC-1/items", {"action": "", "owner": "bob", "priority": "P1"}
    )
    assert response.status_code == 400
    assert "action must not be empty" in response.text
    response = browser.post(
        "/postmortems/INC-1/items",
        {
            "action": "Test nginx configs in CI",
            "owner": "bob",
            "priority": "P1",
            "due": "2024-07-01",
        },
    )
    assert response.status_code == 303
    page = browser.get("/postmortems/INC-1").text
    assert "<li>Fast rollback</li>" in page
    assert "Test nginx configs in CI" in page
    assert browser.post("/postmortems/INC-1/status", {"status": "in_review"}).status_code == 303
    browser.get("/postmortems/INC-1")
    assert browser.post("/postmortems/INC-1/status", {"status": "published"}).status_code == 303
    page = browser.get("/postmortems/INC-1").text
    assert "Published 2024-06-20 10:30 UTC." in page
    assert 'id="edit"' not in page
    assert "Test nginx configs in CI" in browser.get("/postmortems").text


@SQLITE_ONLY
def test_the_metrics_page_has_the_table_and_the_chart(browser: Browser) -> None:
    browser.login("alice")
    _declare(browser)
    browser.clock.advance(minutes=4)
    browser.post("/incidents/INC-1/ack")
    browser.clock.advance(minutes=8)
    browser.get("/incidents/INC-1")
    browser.post("/incidents/INC-1/resolve", {})
    page = browser.get("/reports").text
    row = re.search(r'<th scope="row">SEV-1</th>(.*?)</tr>', page, re.S)
    assert row is not None
    cells = re.findall(r"<td>(.*?)</td>", row.group(1))
    assert cells[:5] == ["1", "4.0 min", "4.0 min", "12.0 min", "12.0 min"]
    chart = browser.client.get("/reports/chart.svg")
    assert chart.status_code == 200
    assert chart.headers["content-type"] == "image/svg+xml"
    assert b"MTTA (minutes)" in chart.content


def test_the_dashboard_shows_incidents_alerts_and_on_call(browser: Browser) -> None:
    _schedule(browser.db_url)
    browser.clock.set(T0 + timedelta(hours=5))
    browser.login("alice")
    _declare(browser)
    page = browser.get("/").text
    assert 'data-live="/live/dashboard"' in page
    live = browser.get("/live/dashboard").text
    assert "INC-1" in live and "All requests returning 502" in live
    assert "unacknowledged" in live
    assert re.search(r"primary</a></td>\s*<td>@alice</td>", live)
    assert '<span class="warn">none</span>' in live  # no commander yet


@SQLITE_ONLY
def test_unknown_things_are_404_pages(browser: Browser) -> None:
    browser.login("alice")
    response = browser.get("/incidents/INC-99")
    assert response.status_code == 404
    assert "unknown incident INC-99" in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert browser.get("/services/nope").status_code == 404
    assert browser.client.get("/status/incidents/abc").status_code == 404
