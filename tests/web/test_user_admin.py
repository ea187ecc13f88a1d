"""Administrators manage people in the browser: add, change role and teams, reset passwords,
disable and enable, revoke tokens; with the CLI's checks and audit entries. SQLite and
PostgreSQL."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import T0
from tests.web.conftest import PASSWORD, Browser
from tocsin.store import teams, tokens
from tocsin.store.db import make_engine, make_sessionmaker
from tocsin.store.models import AuditEntry

BASE = "http://127.0.0.1:8080"
PASSWORD_SHOWN = re.compile(
    r'<section class="card notice" id="new-password">.*?<code>([^<]+)</code>', re.S
)


def web_entries(db_url: str) -> list[tuple[str, str, str, str]]:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.via == "web").order_by(AuditEntry.id)
        )
        found = [(e.who, e.action, e.object_type, e.object_key) for e in rows]
    engine.dispose()
    return found


def test_an_admin_adds_a_user_gives_them_a_password_a_role_and_teams(browser: Browser) -> None:
    engine = make_engine(browser.db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        teams.create(session, slug="platform", name="Platform", members=["alice"], now=T0)
        teams.create(session, slug="data", name="Data", members=[], now=T0)
    engine.dispose()
    browser.login("root")
    assert 'href="/admin/users"' in browser.get("/").text

    refused = browser.post(
        "/admin/users",
        {"handle": "Dora Q", "name": "", "email": "dora", "time_zone": "Mars/Base"},
    )
    assert refused.status_code == 400
    assert "handle &#39;Dora Q&#39; must be 1-40 lowercase letters" in refused.text
    assert "email &#39;dora&#39; is not an email address" in refused.text
    assert "unknown time zone &#39;Mars/Base&#39;" in refused.text
    assert refused.text.count('aria-invalid="true"') == 3
    assert "@dora" not in browser.get("/admin/users").text

    added = browser.post(
        "/admin/users",
        {"handle": "dora", "name": "Dora", "email": "dora@example.com", "role": "viewer"},
    )
    assert added.status_code == 303 and added.headers["location"] == "/admin/users/dora"
    taken = browser.post("/admin/users", {"handle": "dora", "name": "Dora again"})
    assert taken.status_code == 409 and "already exists" in taken.text

    changed = browser.client.post(
        "/admin/users/dora",
        data={
            "csrf_token": browser.csrf,
            "name": "Dora Explorer",
            "email": "dora@example.com",
            "time_zone": "Europe/Lisbon",
            "role": "responder",
            "team:platform": "admin",
            "team:data": "responder",
        },
        follow_redirects=False,
    )
    assert changed.status_code == 303
    shown = browser.get("/admin/users/dora").text
    assert "Dora Explorer" in shown and "Europe/Lisbon" in shown
    assert '<option value="admin" selected>' in shown
    assert '<option value="responder" selected>' in shown

    reset = browser.post("/admin/users/dora/password")
    assert reset.status_code == 200
    found = PASSWORD_SHOWN.search(reset.text)
    assert found is not None
    assert "tocsin_flash" not in reset.headers.get("set-cookie", "")  # never kept in a cookie
    browser.post("/logout")
    assert browser.login("dora", found.group(1)).status_code == 303

    assert web_entries(browser.db_url)[1:6] == [
        ("root", "created", "user", "dora"),
        ("root", "changed", "user", "dora"),
        ("root", "created", "team member", "platform/@dora"),
        ("root", "created", "team member", "data/@dora"),
        ("root", "changed", "user", "dora"),  # the password: (secret)
    ]


def test_a_disabled_user_is_logged_out_and_kept_out_until_enabled(browser: Browser) -> None:
    engine = make_engine(browser.db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        _row, secret = tokens.create(session, handle="alice", name="laptop", now=T0)
    engine.dispose()
    bearer = {"Authorization": f"Bearer {secret}"}
    assert browser.client.get("/api/v1/incidents", headers=bearer).status_code == 200

    # Alice in her own browser (its own cookies), on the same running application.
    alice = Browser(TestClient(browser.client.app, base_url=BASE), browser.clock, browser.db_url)
    assert alice.login("alice").status_code == 303
    assert alice.get("/").status_code == 200

    browser.login("root")
    assert browser.post("/admin/users/alice/disable").status_code == 303
    assert 'id="disabled"' in browser.get("/admin/users/alice").text

    assert alice.get("/", follow_redirects=False).status_code == 303  # to the login page
    kept_out = alice.login("alice")
    assert kept_out.status_code == 403
    assert "This account is disabled" in kept_out.text
    assert alice.login("alice", "wrong password!").status_code == 401  # says nothing more
    refused = browser.client.get("/api/v1/incidents", headers=bearer)
    assert refused.status_code == 401 and "disabled user" in refused.json()["detail"]

    assert browser.post("/admin/users/alice/enable").status_code == 303
    assert alice.login("alice", PASSWORD).status_code == 303
    assert browser.client.get("/api/v1/incidents", headers=bearer).status_code == 200

    token_id = re.search(r'/tokens/(\d+)/revoke"', browser.get("/admin/users/alice").text)
    assert token_id is not None
    revoked = browser.post(f"/admin/users/alice/tokens/{token_id.group(1)}/revoke")
    assert revoked.status_code == 303
    assert browser.client.get("/api/v1/incidents", headers=bearer).status_code == 401


def test_the_last_admin_stays_and_only_admins_administer(browser: Browser) -> None:
    browser.login("alice")
    for path in ("/admin/users", "/admin/users/bob"):
        refused = browser.get(path)
        assert refused.status_code == 403
        assert "cannot administer users; that needs the admin role" in refused.text
    assert browser.post("/admin/users/bob/disable").status_code == 403
    assert 'href="/admin/users"' not in browser.get("/").text
    browser.post("/logout")

    browser.login("root")
    demoted = browser.post(
        "/admin/users/root", {"name": "Root", "email": "", "time_zone": "UTC", "role": "viewer"}
    )
    assert demoted.status_code == 400
    assert "@root is the last enabled administrator" in demoted.text
    for spelled in ("root", "ROOT"):
        refused = browser.post(f"/admin/users/{spelled}/disable")
        assert refused.status_code == 400
        assert "@root cannot disable themselves" in refused.text
    assert 'id="disabled"' not in browser.get("/admin/users/root").text


def test_a_disabled_person_cannot_acknowledge_with_a_link_from_a_page(browser: Browser) -> None:
    from tocsin.services import incidents
    from tocsin.services import users as people
    from tocsin.store import acklinks

    engine = make_engine(browser.db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        incidents.declare(session, title="Disk full", severity="SEV-2", actor="bob", now=T0)
        key = acklinks.secret_key(session, now=T0)
        token = acklinks.make_token(key, incident=1, user="alice", now=T0)
        people.disable(session, "alice", now=T0)
    engine.dispose()
    refused = browser.client.post(f"/ack/{token}")
    assert refused.status_code == 400
    assert "@alice is disabled in Tocsin and cannot acknowledge" in refused.text
    engine = make_engine(browser.db_url)
    with make_sessionmaker(engine)() as session:
        assert incidents.get(session, "INC-1").acknowledged_at is None
    engine.dispose()
