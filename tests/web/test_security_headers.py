"""Security headers on every kind of answer, and pages that work under their policy.

The pages of the three-tier example, with an incident, its postmortem and an error, are read
over HTTP and checked for anything the Content-Security-Policy would block: inline scripts,
event handler attributes, inline styles and `javascript:` links. The real browser test checks
the same pages in Chromium with no violation reported.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.conftest import SQLITE_ONLY, T0
from tests.web.conftest import Browser, set_passwords
from tocsin import config
from tocsin.clock import FixedClock
from tocsin.server import create_app
from tocsin.services import config_apply as apply
from tocsin.services import incidents, postmortems
from tocsin.settings import Settings
from tocsin.store import tokens
from tocsin.store.db import make_engine, make_sessionmaker

# On SQLite only: headers and pages, no storage of their own.
pytestmark = [pytest.mark.usefixtures("db_url"), SQLITE_ONLY]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "three-tier" / "tocsin.yaml"
TABLE = "\n\n| Step | Minutes |\n|:-----|--------:|\n| Detect | 4 |\n| Mitigate | 31 |\n"


def _seed(db_url: str) -> str:
    """Apply the example, run INC-1 to a postmortem with a table; return an API token."""
    set_passwords(db_url)
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        apply.apply(session, config.load(EXAMPLE), now=T0)
        incidents.declare(
            session,
            title="Checkout is down",
            severity="SEV-1",
            services=["api"],
            actor="alice",
            now=T0,
        )
        incidents.post_update(
            session, "INC-1", "Investigating.", visibility="public", actor="alice", now=T0
        )
        incidents.add_note(session, "INC-1", "Rolled back", actor="alice", now=T0)
        later = T0 + timedelta(minutes=30)
        incidents.resolve(session, "INC-1", actor="alice", now=later)
        postmortem = postmortems.draft(session, "INC-1", actor="alice", now=later)
        postmortems.edit(session, "INC-1", postmortem.body + TABLE, now=later)
        _, secret = tokens.create(session, handle="alice", name="ci", scopes=["read"], now=T0)
    engine.dispose()
    return secret


def _client(db_url: str, base_url: str) -> Iterator[Browser]:
    clock = FixedClock(T0 + timedelta(hours=1))
    app = create_app(
        Settings(database_url=db_url, base_url=base_url), clock=clock, run_engine=False
    )
    with TestClient(app, base_url="http://127.0.0.1:8080") as client:
        yield Browser(client, clock, db_url)
    app.state.engine.dispose()


@pytest.fixture
def site(db_url: str) -> Iterator[tuple[Browser, str]]:
    secret = _seed(db_url)
    for browser in _client(db_url, "http://127.0.0.1:8080"):
        yield browser, secret


def _policy(answer: Response) -> dict[str, list[str]]:
    header = answer.headers.get("content-security-policy")
    assert header, answer.url
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


PAGES = (
    "/",
    "/live/dashboard",
    "/incidents",
    "/incidents/new",
    "/incidents/INC-1",
    "/live/incidents/INC-1",
    "/services",
    "/services/database",
    "/schedules",
    "/schedules/primary",
    "/postmortems",
    "/postmortems/INC-1",
    "/reports",
    "/incidents/INC-999",  # the error page
)
PUBLIC = ("/login", "/status", "/status/incidents/1")


class InlineCode(HTMLParser):
    """Collect what a Content-Security-Policy without 'unsafe-inline' would block."""

    def __init__(self) -> None:
        super().__init__()
        self.blocked: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and not values.get("src"):
            self.blocked.append("inline <script>")
        if tag == "style":
            self.blocked.append("inline <style>")
        for name, value in attrs:
            if name.startswith("on"):
                self.blocked.append(f"<{tag} {name}=...>")
            if name == "style":
                self.blocked.append(f"<{tag} style={value!r}>")
            if name in ("href", "src", "action", "formaction") and re.match(
                r"\s*javascript:", value or "", re.I
            ):
                self.blocked.append(f"<{tag} {name}={value!r}>")


def test_every_kind_of_answer_has_the_headers(site: tuple[Browser, str]) -> None:
    browser, secret = site
    anonymous = [browser.client.get(path) for path in PUBLIC]
    anonymous += [
        browser.client.get("/status/feed.atom"),
        browser.client.get("/static/tocsin.css"),
        browser.client.get("/static/tocsin.js"),
        browser.client.get("/healthz"),
        browser.client.get("/api/v1/incidents"),  # 401
        browser.client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {secret}"}),
        browser.client.get(
            "/api/v1/incidents/99999", headers={"Authorization": f"Bearer {secret}"}
        ),
        browser.client.get("/incidents", follow_redirects=False),  # to the login form
        browser.client.get("/openapi.json"),
    ]
    assert [a.status_code for a in anonymous] == [200] * 7 + [401, 200, 404, 303, 200]
    browser.login("alice")
    answers = anonymous + [browser.get(path) for path in PAGES]
    answers.append(browser.client.get("/reports/chart.svg"))
    assert answers[-1].headers["content-type"].startswith("image/svg+xml")
    for answer in answers:
        where = str(answer.url)
        assert answer.headers["x-content-type-options"] == "nosniff", where
        assert answer.headers["x-frame-options"] == "DENY", where
        assert answer.headers["referrer-policy"] == "same-origin", where
        assert "strict-transport-security" not in answer.headers, where  # plain http
        policy = _policy(answer)
        assert policy["frame-ancestors"] == ["'none'"], where
        if answer is answers[-1]:  # an SVG may style itself but never run a script
            assert policy["default-src"] == ["'none'"]
            assert "script-src" not in policy
            continue
        assert policy["default-src"] == ["'self'"], where
        assert policy["script-src"] == ["'self'"], where
        assert policy["style-src"] == ["'self'"], where
        assert policy["base-uri"] == ["'none'"], where
        assert policy["form-action"] == ["'self'"], where
        assert policy["object-src"] == ["'none'"], where


def test_no_page_relies_on_what_the_policy_blocks(site: tuple[Browser, str]) -> None:
    browser, _ = site
    found: dict[str, list[str]] = {}
    answers = {path: browser.client.get(path) for path in PUBLIC}
    browser.login("alice")
    answers.update({path: browser.get(path) for path in PAGES})
    assert answers["/incidents/INC-999"].status_code == 404
    for path, answer in answers.items():
        assert answer.headers["content-type"].startswith("text/html"), path
        parser = InlineCode()
        parser.feed(answer.text)
        if parser.blocked:
            found[path] = parser.blocked
    assert found == {}
    # The postmortem's table keeps its column alignment, through classes.
    postmortem = answers["/postmortems/INC-1"].text
    assert '<th class="align-right">Minutes</th>' in postmortem
    assert '<td class="align-left">Detect</td>' in postmortem
    css = browser.client.get("/static/tocsin.css").text
    assert ".align-right { text-align: right; }" in css


def test_the_api_documentation_allows_exactly_its_own_inline_script(
    site: tuple[Browser, str],
) -> None:
    browser, _ = site
    answer = browser.client.get("/docs")
    assert answer.status_code == 200
    scripts = re.findall(r"<script>(.*?)</script>", answer.text, re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    policy = _policy(answer)
    assert f"'sha256-{digest}'" in policy["script-src"]
    assert "'unsafe-inline'" not in policy["script-src"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_https_deployments_get_strict_transport_security(db_url: str) -> None:
    for browser in _client(db_url, "https://tocsin.example.com"):
        for path in ("/login", "/status", "/healthz", "/static/tocsin.css"):
            answer = browser.client.get(path)
            assert answer.headers["strict-transport-security"] == "max-age=31536000", path
    for browser in _client(db_url, "http://127.0.0.1:8080"):
        https = TestClient(browser.client.app, base_url="https://127.0.0.1:8443")
        assert "strict-transport-security" in https.get("/login").headers
        assert "strict-transport-security" not in browser.client.get("/login").headers
