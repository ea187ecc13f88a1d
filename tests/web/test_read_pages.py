"""Pages read a snapshot: a writer holding the lock does not stop them; the idle deadline slides."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import T0
from tests.web.conftest import Browser
from tocsin.store import users, web_sessions
from tocsin.store.db import make_engine, make_sessionmaker
from tocsin.store.models import WebSession

HANG = 30.0  # only a page waiting for the writer gets near this


def _get(browser: Browser, path: str) -> Any:
    out: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: out.update(page=browser.get(path)), daemon=True)
    thread.start()
    thread.join(HANG)
    if thread.is_alive():
        pytest.fail(f"GET {path} waited for the writer holding the lock")
    return out["page"]


def test_pages_answer_while_a_writer_holds_the_lock(browser: Browser) -> None:
    assert browser.login("alice").status_code == 303
    engine = make_engine(browser.db_url)
    try:
        with make_sessionmaker(engine)() as writer, writer.begin():
            users.create(writer, handle="dave", now=T0)
            for path in ("/", "/incidents", "/services", "/schedules", "/status"):
                assert _get(browser, path).status_code == 200, path
    finally:
        engine.dispose()


def test_reading_pages_slides_the_idle_deadline(browser: Browser) -> None:
    assert browser.login("alice").status_code == 303
    browser.clock.advance(minutes=6)
    assert browser.get("/incidents").status_code == 200
    engine = make_engine(browser.db_url)
    try:
        with make_sessionmaker(engine)() as session:
            row = session.scalars(select(WebSession)).one()
            assert row.last_seen_at == browser.clock.now()
            assert row.expires_at == browser.clock.now() + web_sessions.IDLE
    finally:
        engine.dispose()
