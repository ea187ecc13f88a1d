"""GET requests read a snapshot: a writer holding SQLite's write lock does not stop them."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.api.conftest import Api
from tests.conftest import T0
from tocsin.store import users
from tocsin.store.db import make_engine, make_sessionmaker

# Only a hang reaches this: the request would wait for as long as the writer holds the lock.
HANG = 30.0


def _get(api: Api, path: str) -> Any:
    out: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: out.update(answer=api.client.get(path, headers=api.reader)), daemon=True
    )
    thread.start()
    thread.join(HANG)
    if thread.is_alive():
        pytest.fail(f"GET {path} waited for the writer holding the lock")
    return out["answer"]


def test_reads_answer_while_a_writer_holds_the_lock(api: Api, db_url: str) -> None:
    engine: Engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as writer, writer.begin():
            users.create(writer, handle="dave", now=T0)  # not committed yet
            listed = _get(api, "/api/v1/users")
            assert listed.status_code == 200
            handles = [u["handle"] for u in listed.json()]
            assert "alice" in handles and "dave" not in handles
            assert _get(api, "/api/v1/incidents").status_code == 200
        assert "dave" in [u["handle"] for u in _get(api, "/api/v1/users").json()]
    finally:
        engine.dispose()


def test_the_first_ack_link_opened_may_still_create_the_signing_key(api: Api) -> None:
    # A GET that must write (the installation's key, made on first use) gets a writing session.
    opened = api.client.get("/ack/not.valid")
    assert opened.status_code == 400
    assert "this acknowledge link is not valid" in opened.text


def test_an_ack_link_opened_again_reads_without_the_write_lock(api: Api, db_url: str) -> None:
    # Anyone may open an ack link; once the key exists, doing so must not queue for the writer.
    assert api.client.get("/ack/not.valid").status_code == 400  # makes the key
    engine: Engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as writer, writer.begin():
            users.create(writer, handle="dave", now=T0)  # holds the write lock, uncommitted
            opened = _get(api, "/ack/not.valid")
            assert opened.status_code == 400
            assert "this acknowledge link is not valid" in opened.text
    finally:
        engine.dispose()
