"""What users and senders write reaches pages and the Atom feed cleaned, and links never come
from the request's Host header. On SQLite and PostgreSQL.

PostgreSQL refuses NUL in text, so NUL is stored (and checked) on SQLite only; a lone surrogate
cannot be stored in either (it is not UTF-8), so it is covered by the unit tests of
`tocsin.core.printable`.
"""

from __future__ import annotations

from collections.abc import Iterator
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient

from tests.conftest import T0
from tests.web.conftest import Browser, set_passwords
from tocsin.clock import FixedClock
from tocsin.core.alerts import AlertAction, AlertEvent
from tocsin.server import create_app
from tocsin.services import incidents, ingest
from tocsin.settings import Settings
from tocsin.store import integrations
from tocsin.store.db import make_engine, make_sessionmaker

BASE = "https://status.example.com"
ATOM = {"a": "http://www.w3.org/2005/Atom"}
# BEL, an ESC sequence, a C1 control, a right-to-left override and an isolate; inside the
# words, since the forms trim the ends.
RAW = ("\x07", "\x1b", "\x9b", "\u202e", "\u2066")
TITLE = "Checkout\x07 is \x1b[31mdown\x9b for \u202eall\u2066 users"
TITLE_SHOWN = "Checkout is [31mdown for all users"
PUBLIC_TITLE = "Payments \u202edegraded\x07 in EU"
PUBLIC_TITLE_SHOWN = "Payments degraded in EU"
UPDATE = "We are\x1b[2J investigating\u2066 failed\x07 payments."
UPDATE_SHOWN = "We are[2J investigating failed payments."
NOTE = "Rolled\x07 back \u202ethe deploy"
ALERT = "Error\x9b rate \x1b]0;owned\x07 above 5%"
ALERT_SHOWN = "Error rate ]0;owned above 5%"
STATUS_TITLE = "Example\x1b status"


@pytest.fixture
def site(db_url: str) -> Iterator[Browser]:
    """The app with a configured public address, served to a client calling it by another."""
    set_passwords(db_url)
    clock = FixedClock(T0)
    settings = Settings(database_url=db_url, base_url=BASE, status_page_title=STATUS_TITLE)
    app = create_app(settings, clock=clock, run_engine=False)
    with TestClient(app, base_url="http://127.0.0.1:8080") as client:
        yield Browser(client, clock, db_url)
    app.state.engine.dispose()


def _incident_with_control_characters(db_url: str) -> str:
    """Declare INC-1 through the store with control characters everywhere; return the NUL."""
    nul = "\x00" if db_url.startswith("sqlite") else ""
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        incidents.declare(
            session, title=TITLE, severity="SEV-1", services=["api-gateway"], actor="alice", now=T0
        )
        incidents.edit(
            session, "INC-1", changes={"public_title": PUBLIC_TITLE}, actor="alice", now=T0
        )
        incidents.post_update(session, "INC-1", UPDATE, visibility="public", actor="alice", now=T0)
        incidents.post_update(session, "INC-1", "Internal\x1b words", actor="alice", now=T0)
        incidents.add_note(session, "INC-1", NOTE, actor="alice", now=T0)
        integration, _key = integrations.create(
            session, service="api-gateway", type="generic", now=T0
        )
        ingest.ingest(
            session,
            integration,
            [AlertEvent(action=AlertAction.TRIGGER, dedup_key="errors", summary=ALERT)],
            now=T0,
        )
        if nul:
            # Stored as older versions let it in; what the database holds is shown cleaned.
            incident = incidents.get(session, "INC-1")
            incident.title = incident.title.replace("Checkout", f"Check{nul}out")
            incident.public_title = incident.public_title.replace("EU", f"E{nul}U")
    engine.dispose()
    return nul


def test_control_characters_never_reach_pages_or_the_feed(site: Browser) -> None:
    nul = _incident_with_control_characters(site.db_url)
    raw = (*RAW, nul) if nul else RAW
    site.login("alice")
    pages = {
        path: site.get(path)
        for path in (
            "/",
            "/live/dashboard",
            "/incidents",
            "/incidents/INC-1",
            "/live/incidents/INC-1",
            "/services/api-gateway",
            "/status",
            "/status/incidents/1",
            "/status/feed.atom",
        )
    }
    for path, response in pages.items():
        assert response.status_code == 200, path
        for character in raw:
            assert character not in response.text, (path, character)
    # The text is otherwise intact.
    assert TITLE_SHOWN in pages["/incidents/INC-1"].text
    assert TITLE_SHOWN in pages["/incidents"].text
    assert UPDATE_SHOWN in pages["/incidents/INC-1"].text
    assert "Rolled back the deploy" in pages["/live/incidents/INC-1"].text
    assert ALERT_SHOWN in pages["/"].text
    assert PUBLIC_TITLE_SHOWN in pages["/status"].text
    assert UPDATE_SHOWN in pages["/status/incidents/1"].text
    assert "Example status" in pages["/status"].text

    feed = ElementTree.fromstring(pages["/status/feed.atom"].content)
    assert feed.findtext("a:title", namespaces=ATOM) == "Example status"
    entries = feed.findall("a:entry", ATOM)
    assert [e.findtext("a:title", namespaces=ATOM) for e in entries] == [
        f"{PUBLIC_TITLE_SHOWN}: Investigating"
    ]
    assert [e.findtext("a:content", namespaces=ATOM) for e in entries] == [UPDATE_SHOWN]


def test_links_come_from_the_base_url_not_the_host_header(site: Browser) -> None:
    _incident_with_control_characters(site.db_url)
    evil = {"Host": "evil.example"}
    answers = [
        site.client.get(path, headers=evil, follow_redirects=False)
        for path in (
            "/status/feed.atom",
            "/status/",  # a trailing-slash redirect
            "/status",
            "/static",
            "/status/incidents/1",
            "/incidents/INC-1",  # to the login form
            "/nothing-here",
            "/healthz",
        )
    ]
    for answer in answers:
        assert "evil.example" not in answer.text, answer.url
        for name, value in answer.headers.items():
            assert "evil.example" not in value, (answer.url, name)
    redirect = answers[1]
    assert redirect.is_redirect
    assert redirect.headers["location"] == "/status"

    feed = ElementTree.fromstring(answers[0].content)
    assert feed.findtext("a:id", namespaces=ATOM) == f"{BASE}/status"
    links = [link.get("href") for link in feed.iter(f"{{{ATOM['a']}}}link")]
    ids = [element.text for element in feed.iter(f"{{{ATOM['a']}}}id")]
    assert links and all(str(href).startswith(f"{BASE}/status") for href in links)
    assert len(ids) == 2 and all(str(i).startswith(f"{BASE}/status") for i in ids)
