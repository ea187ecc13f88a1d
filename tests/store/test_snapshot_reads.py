"""Read sessions: they see the last committed state while a writer holds the lock, never write."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import DBAPIError

from tests.conftest import T0
from tocsin.store import users
from tocsin.store.db import ReadOnlySession, make_read_sessionmaker, make_sessionmaker
from tocsin.store.models import User

# Only a hang reaches this: a read waiting on the writer would wait until the writer ends.
HANG = 30.0


def _in_thread(work: Callable[[], Any]) -> Any:
    """Run `work` on another thread and return its result, or fail if it never finishes."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = work()
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG)
    if thread.is_alive():
        return pytest.fail("the read waited for the writer to finish")
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_a_read_sees_the_last_commit_while_a_writer_holds_the_lock(engine: Engine) -> None:
    writes, reads = make_sessionmaker(engine), make_read_sessionmaker(engine)
    with writes() as session, session.begin():
        users.create(session, handle="alice", now=T0)
    with writes() as writer, writer.begin():
        users.create(writer, handle="bob", now=T0)  # the write lock is held from here on

        def read() -> list[str]:
            with reads() as reader:
                return list(reader.scalars(select(User.handle).order_by(User.handle)))

        seen = _in_thread(read)
        assert seen == ["alice"]
    with reads() as reader:
        assert list(reader.scalars(select(User.handle).order_by(User.handle))) == [
            "alice",
            "bob",
        ]


def test_a_write_through_a_read_session_is_refused(engine: Engine) -> None:
    reads = make_read_sessionmaker(engine)
    with reads() as reader, pytest.raises(ReadOnlySession, match="read session tried to write"):
        users.create(reader, handle="carol", now=T0)
    # Past the ORM too: the database itself refuses the transaction's write.
    with reads() as reader, pytest.raises(DBAPIError, match=r"(?i)read-?only"):
        reader.execute(
            insert(User).values(
                handle="dave", name="Dave", time_zone="UTC", role="viewer", created_at=T0
            )
        )
    with make_sessionmaker(engine)() as session:
        assert session.scalars(select(User.handle)).all() == []


def test_read_and_write_sessions_share_connections_without_mixing_up(engine: Engine) -> None:
    writes, reads = make_sessionmaker(engine), make_read_sessionmaker(engine)
    for n in range(3):
        with reads() as reader:
            assert reader.scalar(select(User.handle).where(User.handle == f"u{n}")) is None
        with writes() as session, session.begin():
            users.create(session, handle=f"u{n}", now=T0)  # a pooled connection, read-only before
    with reads() as reader:
        assert reader.scalars(select(User.handle).order_by(User.handle)).all() == ["u0", "u1", "u2"]
