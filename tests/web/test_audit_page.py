"""The audit log in the browser: what a person does there is recorded as theirs, and only
administrators read the log; on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from sqlalchemy import select

from tests.conftest import T0
from tests.web.conftest import Browser
from tocsin.core.audit import Action, Actor, Via
from tocsin.store import audit
from tocsin.store.db import make_engine, make_sessionmaker
from tocsin.store.models import AuditEntry

ROW = re.compile(r"<tr>\s*<td><time[^>]*>[^<]*</time></td>\s*<td><a [^>]*>([^<]+)</a></td>", re.S)


def logged(db_url: str) -> list[tuple[str, str, str, str, str]]:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.who != "system").order_by(AuditEntry.id)
        )
        found = [(e.who, e.via, e.action, e.object_type, e.object_key) for e in rows]
    engine.dispose()
    return found


def test_sign_ins_and_changes_in_the_browser_are_the_persons_own(browser: Browser) -> None:
    browser.login("alice")
    added = browser.post(
        "/profile/contacts", {"name": "desk", "type": "console", "target": "", "after": "2m"}
    )
    assert added.status_code == 303
    assert browser.post("/profile/contacts/desk/delete").status_code == 303
    assert browser.post("/logout").status_code == 303
    assert logged(browser.db_url) == [
        ("alice", "web", "signed in", "user", "alice"),
        ("alice", "web", "created", "contact method", "@alice/desk"),
        ("alice", "web", "created", "notification rule", "@alice/desk after 120s"),
        ("alice", "web", "deleted", "notification rule", "@alice/desk after 120s"),
        ("alice", "web", "deleted", "contact method", "@alice/desk"),
        ("alice", "web", "signed out", "user", "alice"),
    ]
    # A failed sign-in is refused and changes nothing, the log included.
    assert browser.login("bob", "not the password").status_code == 401
    assert len(logged(browser.db_url)) == 6


def test_only_administrators_see_the_log_and_its_filters_say_what_is_wrong(
    browser: Browser,
) -> None:
    browser.login("alice")
    assert 'href="/audit"' not in browser.get("/").text
    refused = browser.get("/audit")
    assert refused.status_code == 403
    assert "cannot read the audit log; that needs the admin role" in refused.text
    browser.post("/logout")

    browser.login("root")
    assert 'href="/audit"' in browser.get("/").text
    page = browser.get("/audit")
    assert page.status_code == 200
    # The set-up's people (made with no actor: "system"), alice's visit and root's sign-in.
    assert set(ROW.findall(page.text)) == {"system", "alice", "root"}

    mine = browser.get("/audit", params={"who": "alice", "object": "user"})
    assert ROW.findall(mine.text) == ["alice", "alice"]  # her sign-in and sign-out
    assert "signed out" in mine.text and "signed in" in mine.text

    bad = browser.get("/audit", params={"since": "soonish", "object": "gadget:x", "who": "x"})
    assert bad.status_code == 400
    problems = re.search(r'<ul class="field-error" id="audit-problems">(.*?)</ul>', bad.text)
    assert problems is not None
    assert problems.group(1).count("<li>") == 2
    assert "since: &#39;soonish&#39; is not a time" in problems.group(1)
    assert "object: unknown kind &#39;gadget&#39;" in problems.group(1)
    assert bad.text.count('aria-invalid="true"') == 2
    assert 'value="soonish"' in bad.text  # what was typed stays, to correct it


def test_a_long_log_pages_on_with_its_filters(browser: Browser) -> None:
    engine = make_engine(browser.db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        audit.act_as(session, Actor("ops", Via.CLI))
        session.info[audit.CLOCK] = lambda: T0
        for n in range(130):
            audit.record(session, Action.SIGNED_IN, "user", f"user{n:03}")
    engine.dispose()
    browser.login("root")
    first = browser.get("/audit", params={"who": "ops"})
    assert len(ROW.findall(first.text)) == 100
    older = re.search(r'<a class="button" href="([^"]+)" rel="next">', first.text)
    assert older is not None
    url = older.group(1).replace("&amp;", "&")
    assert "who=ops" in url
    second = browser.get(url)
    assert len(ROW.findall(second.text)) == 30
    assert 'rel="next"' not in second.text
    keys = re.findall(r"user(\d{3})</a>", first.text + second.text)
    assert sorted(keys) == [f"{n:03}" for n in range(130)]
