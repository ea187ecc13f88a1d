"""A whole incident run from a real browser (headless Chromium driven by Playwright).

Needs Debian's `chromium`; the test skips where it is missing, except under CI=true, where
`.ci/run` installs it. Screenshots of the main pages are saved under `build/screenshots/`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SQLITE_ONLY, LiveServer, need
from tests.web.conftest import PASSWORD, set_passwords
from tocsin.services import incidents
from tocsin.store.db import make_engine, make_sessionmaker

# On SQLite only: what a browser adds is the page's script, policy and forms; the same flows run
# over HTTP on both databases in test_pages.
pytestmark = SQLITE_ONLY

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


@pytest.fixture(scope="module")
def chromium_process() -> Iterator[Any]:
    """One headless Chromium for the module: starting one takes a second or more."""
    executable = shutil.which("chromium") or (CHROMIUM if os.path.exists(CHROMIUM) else None)
    if executable is None:
        need("chromium is not installed (apt install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def chromium(chromium_process: Any) -> Iterator[Any]:
    """The module's Chromium; the browser contexts a test opens (its cookies) close after it."""
    yield chromium_process
    for context in chromium_process.contexts:
        context.close()


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "three-tier" / "tocsin.yaml"


@pytest.fixture
def site(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """The three-tier example served for real, with passwords for alice, root and vera.

    Its live parts poll every second instead of every five: the tests wait for polls.
    """
    from datetime import UTC, datetime

    from tests.conftest import _serve
    from tocsin import config
    from tocsin.services import config_apply as applier
    from tocsin.web import pages

    monkeypatch.setattr(pages, "LIVE_SECONDS", 1)

    set_passwords(db_url)
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        applier.apply(session, config.load(EXAMPLE), now=datetime.now(UTC))
    engine.dispose()
    yield from _serve(db_url, tmp_path, tls=False, seed=False)


def shot(page: Any, name: str, db_url: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    backend = db_url.split(":", 1)[0].split("+", 1)[0]
    page.screenshot(path=str(SHOTS / f"{name}-{backend}.png"), full_page=True)


# Generous waits: a loaded 2-core CI machine can take seconds to serve a page; a real failure
# still fails, just later.
WAIT_MS = 90_000


def open_page(chromium: Any, **options: Any) -> Any:
    """Return a new page in its own browser context (its own cookies)."""
    context = chromium.new_context(**options)
    context.set_default_timeout(WAIT_MS)
    return context.new_page()


def submit(page: Any, selector: str) -> None:
    """Press a form's button and wait for the page it leads to."""
    with page.expect_navigation():
        page.click(selector)


def log_in(page: Any, url: str, handle: str) -> None:
    page.goto(f"{url}/")
    assert "/login" in page.url
    page.fill("#handle", handle)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{url}/")


def watch_policy(page: Any, found: list[str]) -> None:
    """Add to `found` what the Content-Security-Policy blocks on `page` (Chromium logs it)."""

    def on_console(message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            found.append(message.text)

    page.on("console", on_console)


@pytest.mark.slow
def test_a_whole_incident_from_the_browser(chromium: Any, site: LiveServer) -> None:
    url = site.url
    page = open_page(chromium, viewport={"width": 1400, "height": 900})
    context = page.context
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    watch_policy(page, errors)
    log_in(page, url, "alice")
    cookie = next(c for c in context.cookies() if c["name"] == "tocsin_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"

    page.click("text=Declare incident")
    page.click("button:has-text('Declare')")  # empty: errors next to the fields
    assert page.locator("text=Say in a line what is broken.").is_visible()
    page.fill("#title", "All requests returning 502 <script>alert(1)</script>")
    page.select_option("#severity", "SEV-1")
    page.select_option("#service", "api")
    page.fill("#impact", "Every customer sees errors")
    page.click("button:has-text('Declare')")
    page.wait_for_url(f"{url}/incidents/INC-1")
    assert page.locator("h1").inner_text() == (
        "INC-1 All requests returning 502 <script>alert(1)</script>"
    )
    assert page.locator(".badge.b-unacked").is_visible()

    submit(page, "#ack")
    assert page.locator(".badge.b-unacked").count() == 0
    page.select_option("#commander-user", "alice")
    submit(page, "button:has-text('Assign commander')")
    assert page.locator("#commander").inner_text().startswith("@alice")

    page.check("input[name=visibility][value=internal]")
    page.fill("#update-message", "Failing over db-7; Carol is on the replica")
    submit(page, "button:has-text('Post update')")
    page.check("input[name=visibility][value=public]")
    page.fill("#public-title", "Errors on the API")
    page.fill("#update-message", "We are investigating elevated errors on the API.")
    submit(page, "button:has-text('Post update')")
    page.fill("#note", "Rollback started")
    submit(page, "button:has-text('Add note')")
    timeline = page.locator("#timeline").inner_text()
    assert "Failing over db-7" in timeline
    assert "We are investigating elevated errors on the API." in timeline
    assert timeline.index("Rollback started") < timeline.index("Failing over db-7")  # newest first
    notification = page.locator("#notification").input_value()
    assert "INCIDENT NOTIFICATION" in notification
    shot(page, "incident", site.db_url)

    public = open_page(chromium)  # a customer: no login
    watch_policy(public, errors)
    public.goto(f"{url}/status")
    text = public.locator("main").inner_text()
    assert "We are investigating elevated errors on the API." in text
    assert "Errors on the API" in text
    assert "Major outage" in public.locator("#component-api").inner_text()
    assert "Operational" in public.locator("#component-website").inner_text()
    for secret in ("Failing over", "db-7", "Carol", "Rollback started", "alice", "502"):
        assert secret not in text, secret
    shot(public, "status", site.db_url)

    page.fill("#resolution", "Rolled back the nginx config")
    submit(page, "button:has-text('Resolve incident')")
    assert "Resolved" in page.locator(".tags").inner_text()
    public.reload()
    assert public.locator("#banner").inner_text() == "All systems operational"
    assert "Operational" in public.locator("#component-api").inner_text()
    assert "This incident has been resolved." in public.locator("#history").inner_text()

    page.goto(f"{url}/")
    shot(page, "dashboard", site.db_url)
    page.goto(f"{url}/services/database")
    assert page.locator(".toc a").count() == 3  # the runbook's three scenarios
    shot(page, "service", site.db_url)
    page.goto(f"{url}/schedules/primary")
    assert page.locator("svg.schedule text.label").all_text_contents()[-1] == "Final schedule"
    shot(page, "schedule", site.db_url)
    page.goto(f"{url}/reports")
    shot(page, "metrics", site.db_url)

    assert errors == []


def test_a_viewer_cannot_press_the_buttons(chromium: Any, site: LiveServer) -> None:
    engine = make_engine(site.db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        from tests.conftest import T0

        incidents.declare(session, title="Disk full", severity="SEV-3", actor="alice", now=T0)
    engine.dispose()
    page = open_page(chromium)
    log_in(page, site.url, "vera")
    page.goto(f"{site.url}/incidents/INC-1")
    assert page.locator("#read-only").is_visible()
    for button in ("#ack", "button:has-text('Assign commander')", "button:has-text('Add note')"):
        assert page.locator(button).is_disabled(), button
    shot(page, "incident-viewer", site.db_url)
    # Sending the form by hand, with the real CSRF token, is refused by the server too.
    token = page.locator("input[name=csrf_token]").first.input_value()
    response = page.request.post(
        f"{site.url}/incidents/INC-1/notes", form={"csrf_token": token, "message": "sneaky"}
    )
    assert response.status == 403
    page.goto(f"{site.url}/incidents/INC-1")
    assert "sneaky" not in page.locator("#timeline").inner_text()


def test_the_live_dashboard_updates_without_a_reload(chromium: Any, site: LiveServer) -> None:
    page = open_page(chromium)
    log_in(page, site.url, "alice")
    assert "No open incidents." in page.locator("#dashboard").inner_text()
    engine = make_engine(site.db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        from datetime import UTC, datetime

        incidents.declare(
            session, title="Checkout is down", severity="SEV-1", actor="bob", now=datetime.now(UTC)
        )
    engine.dispose()
    page.wait_for_function(
        # A function, not an expression: the page's CSP forbids eval, which an expression needs.
        "() => document.querySelector('#dashboard').innerText.includes('Checkout is down')",
        timeout=WAIT_MS,
    )
    assert page.url == f"{site.url}/"  # no navigation happened


def test_pages_work_under_the_content_security_policy(chromium: Any, site: LiveServer) -> None:
    page = open_page(chromium)
    blocked: list[str] = []
    watch_policy(page, blocked)
    log_in(page, site.url, "alice")
    page.goto(f"{site.url}/incidents/INC-404")  # the error page's Go back comes from the script
    page.click("a:has-text('Go back')")
    page.wait_for_url(f"{site.url}/")
    page.goto(f"{site.url}/status")
    assert blocked == []
    # What the policy would block is reported: an inline script neither runs nor goes unseen.
    with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        page.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'document.body.dataset.ran = 1'; document.head.append(s); }"
        )
        assert page.evaluate("() => document.body.dataset.ran") is None
    assert len(blocked) == 1 and "script-src" in blocked[0]


def test_an_administrator_filters_the_audit_log(chromium: Any, site: LiveServer) -> None:
    page = open_page(chromium)
    blocked: list[str] = []
    watch_policy(page, blocked)
    log_in(page, site.url, "root")
    page.click("header nav a:has-text('Audit log')")
    page.wait_for_url(f"{site.url}/audit")
    page.fill("input[name=object]", "service:web")
    submit(page, "button:has-text('Filter')")
    assert "object=service%3Aweb" in page.url
    rows = page.locator("table#audit tbody tr")
    assert rows.count() == 1
    assert "created" in rows.first.inner_text()
    # A created object folds its fields away; opening them shows the values.
    changes = rows.first.locator("details")
    assert not changes.locator("dl").is_visible()
    changes.locator("summary").click()
    assert "escalation_policy" in changes.locator("dl").inner_text()
    shot(page, "audit", site.db_url)
    # The person's name filters by them: root's own sign-in.
    page.fill("input[name=object]", "")
    page.fill("input[name=who]", "root")
    submit(page, "button:has-text('Filter')")
    assert rows.count() == 1 and "signed in" in rows.first.inner_text()
    # A filter it cannot read says which, in place.
    page.fill("input[name=since]", "last tuesday")
    submit(page, "button:has-text('Filter')")
    assert "since: 'last tuesday' is not a time" in page.locator("#audit-problems").inner_text()
    assert page.locator("input[name=since]").get_attribute("aria-invalid") == "true"
    assert blocked == []


def test_single_sign_on_round_trip_in_a_real_browser(
    chromium: Any, db_url: str, tmp_path: Path
) -> None:
    from tests.conftest import _serve
    from tests.fakes.oidc import CLIENT_ID, CLIENT_SECRET, fake_oidc
    from tocsin.store import users

    set_passwords(db_url)
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        users.update(session, users.get_by_handle(session, "alice"), email="alice@example.com")
    engine.dispose()
    with fake_oidc() as idp:
        settings = {
            "oidc_issuer": idp.url,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": CLIENT_SECRET,
            "oidc_label": "Example SSO",
            "password_login": "off",
            "break_glass": ("root",),
        }
        for served in _serve(db_url, tmp_path, tls=False, seed=False, settings=settings):
            page = open_page(chromium)
            page.goto(f"{served.url}/incidents")
            assert "/login" in page.url
            shot(page, "login-sso", db_url)
            page.click("#sso")
            page.wait_for_url(f"{idp.url}/authorize*")
            page.click("#approve")
            page.wait_for_url(f"{served.url}/incidents")
            assert "@alice" in page.locator("header.top").inner_text()
            page.click("button:has-text('Log out')")
            page.wait_for_url(f"{served.url}/login")
            # Back at the provider with a token for another application: refused, in words.
            idp.audience = "another-app"
            page.click("#sso")
            page.wait_for_url(f"{idp.url}/authorize*")
            page.click("#approve")
            page.wait_for_url(f"{served.url}/login/sso/callback*")
            assert "not for this Tocsin" in page.locator("#login-error").inner_text()
            page.goto(f"{served.url}/")
            assert "/login" in page.url


# The browser's push service (FCM for Chromium) cannot be reached here: the stub stands in for
# PushManager.subscribe only, and checks it was called with the server's VAPID key.
PUSH_STUB = """
PushManager.prototype.subscribe = function (options) {
  var key = Array.from(new Uint8Array(options.applicationServerKey));
  window.sessionStorage.setItem("vapid", key.length + "," + key[0]);
  return Promise.resolve({
    toJSON: function () {
      return {
        endpoint: "https://push.example.net/wpush/v2/browser-test",
        expirationTime: null,
        keys: { p256dh: "B" + "A".repeat(86), auth: "A".repeat(22) },
      };
    },
  });
};
"""


def test_push_is_enabled_from_the_profile_page(chromium: Any, db_url: str, tmp_path: Path) -> None:
    from tests.conftest import _serve
    from tocsin.notify.webpush import generate

    set_passwords(db_url)
    private, _public = generate()
    settings = {"vapid_private_key": private, "vapid_subject": "mailto:oncall@example.com"}
    serving = _serve(db_url, tmp_path, tls=False, seed=False, settings=settings)
    server = next(serving)
    try:
        page = open_page(chromium)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        watch_policy(page, errors)
        page.context.add_init_script(PUSH_STUB)
        log_in(page, server.url, "alice")
        page.click("a[href='/profile']")
        page.wait_for_url(f"{server.url}/profile")
        page.fill("#push-name", "laptop")
        with page.expect_navigation():
            page.click("#push-enable")
        # Subscribed with the server's public key: 65 bytes, an uncompressed P-256 point.
        assert page.evaluate("window.sessionStorage.getItem('vapid')") == "65,4"
        assert "Push enabled on this device as laptop" in page.content()
        row = page.locator("#contact-methods tbody tr").first.inner_text()
        assert row.split("\t")[:3] == ["laptop", "webpush", "https://push.example.net/…"]
        assert errors == []
    finally:
        serving.close()
