"""The profile page: each person adds, tests and removes their own contact methods, and links
Telegram; on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from tests.conftest import T0
from tests.web.conftest import Browser
from tocsin.clock import FixedClock
from tocsin.engine.outbox import Sender, adapter_factory
from tocsin.settings import Settings
from tocsin.store.db import make_engine, make_sessionmaker


def _rows(html: str) -> list[str]:
    body = html.split('id="contact-methods"', 1)[1].split("</section>", 1)[0]
    body = body.split("<tbody>", 1)[-1]
    return [
        " ".join(re.sub(r"<[^>]+>", " ", row).split())
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def _send_outbox(db_url: str) -> None:
    engine = make_engine(db_url)
    sender = Sender(make_sessionmaker(engine), FixedClock(T0), adapter_factory(Settings()))
    sender.run_once()
    engine.dispose()


def test_add_test_and_remove_a_contact_method(browser: Browser) -> None:
    browser.login("vera")  # a viewer: being reachable needs no role
    page = browser.get("/profile")
    assert "Tocsin has no way to reach you" in page.text

    refused = browser.post(
        "/profile/contacts",
        {"name": "phone", "type": "voice", "target": "0151 1234567", "after": "soon"},
    )
    assert refused.status_code == 400
    assert "a voice method needs a phone number in E.164 form" in refused.text
    assert "&#39;soon&#39; is not a duration" in refused.text
    assert 'value="0151 1234567"' in refused.text  # what was typed stays, to correct it
    assert "Tocsin has no way to reach you" in refused.text  # nothing was added

    added = browser.post(
        "/profile/contacts",
        {"name": "desk", "type": "console", "target": "", "after": "2m"},
    )
    assert added.status_code == 303
    assert _rows(browser.get("/profile").text) == [
        "desk console — 2m never tested Send test Remove"
    ]

    assert browser.post("/profile/contacts/desk/test").status_code == 303
    assert "test message to desk queued" in browser.get("/profile").text.lower()
    assert _rows(browser.get("/profile").text)[0].startswith("desk console — 2m pending")
    _send_outbox(browser.db_url)
    assert _rows(browser.get("/profile").text)[0].startswith("desk console — 2m sent")

    assert browser.post("/profile/contacts/desk/delete").status_code == 303
    assert "Tocsin has no way to reach you" in browser.get("/profile").text


def test_changes_need_the_sessions_csrf_token(browser: Browser) -> None:
    browser.login("alice")
    browser.get("/profile")
    forged = browser.post(
        "/profile/contacts", {"name": "x", "type": "console", "target": ""}, csrf=False
    )
    assert forged.status_code == 403
    assert "Tocsin has no way to reach you" in browser.get("/profile").text


def test_the_telegram_section_says_when_no_bot_is_set_up(browser: Browser) -> None:
    browser.login("alice")
    text = browser.get("/profile").text
    assert "This Tocsin has no Telegram bot" in text
    assert "Link Telegram" not in text


def test_a_browser_subscription_becomes_a_webpush_method(browser: Browser) -> None:
    import json

    browser.login("alice")
    assert "This Tocsin has no VAPID key" in browser.get("/profile").text
    worker = browser.get("/sw.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    assert 'addEventListener("push"' in worker.text
    subscription = {
        "endpoint": "https://push.example.net/wpush/v2/gAAAAABk",
        "expirationTime": None,
        "keys": {"p256dh": "B" + "A" * 86, "auth": "A" * 22},
    }
    added = browser.post(
        "/profile/push", {"name": "laptop", "subscription": json.dumps(subscription)}
    )
    assert added.status_code == 303
    # The endpoint is a capability (whoever has it can push): shown by host only.
    assert _rows(browser.get("/profile").text) == [
        "laptop webpush https://push.example.net/… 0m never tested Send test Remove"
    ]
    bad = browser.post("/profile/push", {"name": "x", "subscription": '{"endpoint": "http://a"}'})
    assert bad.status_code == 400
    assert "endpoint is an https URL" in bad.text and "needs its keys" in bad.text


def test_slack_linking_is_offered_when_the_app_is_set_up(db_url: str) -> None:
    from fastapi.testclient import TestClient

    from tests.conftest import T0
    from tests.web.conftest import set_passwords
    from tocsin.clock import FixedClock
    from tocsin.server import create_app

    set_passwords(db_url)
    settings = Settings(database_url=db_url, slack_bot_token="xoxb-1", slack_signing_secret="s")
    app = create_app(settings, clock=FixedClock(T0), run_engine=False)
    with TestClient(app, base_url="http://127.0.0.1:8080") as client:
        browser = Browser(client, FixedClock(T0), db_url)
        browser.login("alice")
        assert "Link Slack" in browser.get("/profile").text
        shown = browser.post("/profile/slack/link")
        assert shown.status_code == 200
        code = re.search(r"/tocsin link ([A-Z0-9]{10})", shown.text)
        assert code is not None  # what to run in Slack, once
    app.state.engine.dispose()
