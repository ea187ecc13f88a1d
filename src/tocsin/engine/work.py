"""Telling the engines that a transaction wrote due work, so they look at the tables again."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

# The session flag set by `announce_work`; the engine loop wakes after a commit that carries it.
WORK_WRITTEN = "tocsin_work"
# The session key under which a transaction keeps the ids of the outbox rows it wrote; after the
# commit they are handed to this process's engines, which send them before anything else.
NEW_ROWS = "tocsin_new_outbox_rows"
# The PostgreSQL channel every node LISTENs on.
WORK_CHANNEL = "tocsin_work"


def announce_work(session: Session) -> None:
    """Wake the engines when this transaction commits: this process's, and (PostgreSQL NOTIFY)
    every other node's."""
    session.info[WORK_WRITTEN] = True
    if session.get_bind().dialect.name == "postgresql":
        # Delivered only on commit, and once per transaction however often it is called.
        session.execute(text("SELECT pg_notify('tocsin_work', '')"))
