"""Engines, sessions and migrations for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import fcntl
import functools
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tocsin.errors import InvalidInput, NotMigrated, TocsinError
from tocsin.store import audit as _audit  # noqa: F401  (its session listeners keep the audit log)

# The execution option that marks an engine's connections as read-only (make_read_sessionmaker).
READ_ONLY = "tocsin_read_only"


# SQLite's durability settings (TOCSIN_SQLITE_SYNCHRONOUS). In WAL mode, NORMAL syncs the WAL
# only at checkpoints: a killed process loses nothing committed, a power loss may lose the last
# commits. FULL syncs the WAL at every commit, so a commit survives power loss too.
SQLITE_SYNCHRONOUS = ("normal", "full")


# Rows per multi-row INSERT on SQLite. Each row count makes another statement, which the driver
# keeps prepared (128 per connection): at SQLAlchemy's 1,000 rows those held 180 MB of a busy
# server's memory after a million alerts; at 32 they hold a few, and ingestion is as fast.
SQLITE_INSERT_ROWS = 32


def make_engine(url: str, *, sqlite_synchronous: str = "normal") -> Engine:
    """Return an engine for `url`; SQLite files get WAL, foreign keys, a busy timeout and the
    `sqlite_synchronous` level ("normal" or "full")."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidInput(f"TOCSIN_DATABASE_URL {url!r} is not a database URL") from exc
    if sqlite_synchronous not in SQLITE_SYNCHRONOUS:
        raise InvalidInput(
            f"TOCSIN_SQLITE_SYNCHRONOUS {sqlite_synchronous!r} is not one of:"
            f" {', '.join(SQLITE_SYNCHRONOUS)}"
        )
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, insertmanyvalues_page_size=SQLITE_INSERT_ROWS, **kwargs)
        event.listen(
            engine, "connect", functools.partial(_sqlite_pragmas, sqlite_synchronous.upper())
        )
        queue = None
        if database and database != ":memory:":
            queue = _WriteQueue(
                Path(database).expanduser().with_name(Path(database).name + ".lock")
            )
            event.listen(engine, "commit", queue.release)
            event.listen(engine, "rollback", queue.release)
        event.listen(engine, "begin", functools.partial(_sqlite_begin, queue))
        return engine
    if parsed.get_backend_name() == "postgresql":
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=20)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _postgres_timeouts)
        return engine
    raise InvalidInput(
        f"unsupported database {parsed.get_backend_name()!r}; use sqlite:/// or postgresql+psycopg://"
    )


# A node that stops while holding row locks (SIGSTOP, a frozen VM) would hold every other node's
# writes that need those rows for as long as it is stopped. idle_in_transaction_session_timeout
# ends its session, and so its locks, after 10 s; lock_timeout makes a waiter give up after
# 3 s (SQLSTATE 55P03), which the ingest writer retries like a deadlock. Our transactions
# never wait on anything but the database (notifications are sent outside them) and take
# milliseconds, so neither limit touches normal work.
POSTGRES_LOCK_TIMEOUT = "3s"
POSTGRES_IDLE_IN_TRANSACTION_TIMEOUT = "10s"


def _postgres_timeouts(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute(f"SET lock_timeout = '{POSTGRES_LOCK_TIMEOUT}'")
        cursor.execute(
            f"SET idle_in_transaction_session_timeout = '{POSTGRES_IDLE_IN_TRANSACTION_TIMEOUT}'"
        )
    dbapi_connection.commit()


def _sqlite_pragmas(synchronous: str, dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module, which would otherwise BEGIN late
    # and break SAVEPOINTs; SQLAlchemy then emits our own BEGIN (below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run while a writer commits; busy_timeout makes a second writer wait its
    # turn instead of failing with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(queue: _WriteQueue | None, connection: Any) -> None:
    if connection.get_execution_options().get(READ_ONLY):
        # A read runs on a WAL snapshot: a deferred BEGIN takes no write lock, so a slow read
        # never holds up a writer and a writer never holds up a read. query_only makes a write
        # in such a transaction fail at once (SQLITE_READONLY) instead of queueing for a lock
        # that a deferred transaction could never safely upgrade to.
        _sqlite_query_only(connection, True)
        connection.exec_driver_sql("BEGIN")
        return
    _sqlite_query_only(connection, False)
    if queue is not None:
        queue.begin(connection)
    else:
        _sqlite_begin_immediate(connection)


def _sqlite_query_only(connection: Any, on: bool) -> None:
    # Pooled connections serve reads and writes alike; switch only when the kind changes.
    info = connection.connection.info
    if info.get("tocsin_query_only", False) != on:
        connection.exec_driver_sql(f"PRAGMA query_only={int(on)}")
        info["tocsin_query_only"] = on


def _sqlite_begin_immediate(connection: Any) -> None:
    # A deferred transaction that reads and then writes fails with SQLITE_BUSY_SNAPSHOT when
    # another writer committed in between, and busy_timeout cannot help it. Taking the write
    # lock at BEGIN makes writing transactions queue up instead; reads go through the read
    # sessions, which never write (make_read_sessionmaker).
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class _WriteQueue:
    """Make SQLite writers, in any thread or process, wait their turn in a queue.

    SQLite's own busy handler sleeps and retries (1, 2, 5 ... 100 ms), so under load a waiting
    writer sleeps long after the lock is free. An exclusive flock on a file beside the database,
    taken before BEGIN IMMEDIATE and given back at commit or rollback, wakes the next writer at
    once; SQLite's lock stays the arbiter of correctness, this only orders the queue.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def begin(self, connection: Any) -> None:
        info = connection.connection.info
        fd = info.get("tocsin_lock_fd")
        if fd is None:
            fd = info["tocsin_lock_fd"] = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        info["tocsin_locked"] = True
        try:
            _sqlite_begin_immediate(connection)
        except BaseException:
            self.release(connection)
            raise

    def release(self, connection: Any) -> None:
        info = connection.connection.info
        if info.pop("tocsin_locked", False):
            fcntl.flock(info["tocsin_lock_fd"], fcntl.LOCK_UN)


def make_sessionmaker(
    engine: Engine, *, info: Mapping[str, Any] | None = None
) -> sessionmaker[Session]:
    """Return the session factory for work that writes (on SQLite: one writer at a time).

    Every session starts with a copy of `info` (what the composition root binds to sessions).
    """
    return sessionmaker(engine, expire_on_commit=False, info=dict(info or {}))


class ReadOnlySession(RuntimeError):
    """Code tried to write through a read session: a bug, reported loudly instead of waiting."""


def make_read_sessionmaker(
    engine: Engine, *, info: Mapping[str, Any] | None = None
) -> sessionmaker[Session]:
    """Return the session factory for work that only reads.

    On SQLite its transactions read a WAL snapshot without the write lock (a deferred BEGIN,
    `PRAGMA query_only`); on PostgreSQL they are READ ONLY transactions. Flushing a change
    raises ReadOnlySession, and a write in SQL the database refuses: reads never queue
    behind writers, and a write slipped into a read fails at once instead of deadlocking.
    """
    reader = engine.execution_options(**{READ_ONLY: True})
    if engine.dialect.name == "postgresql":
        event.listen(reader, "begin", _postgres_read_only)
    factory = sessionmaker(reader, expire_on_commit=False, info=dict(info or {}))
    event.listen(factory, "before_flush", _refuse_flush)
    return factory


def _postgres_read_only(connection: Any) -> None:
    connection.exec_driver_sql("SET TRANSACTION READ ONLY")


def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    changed = [*session.new, *session.dirty, *session.deleted]
    raise ReadOnlySession(
        f"a read session tried to write {', '.join(sorted({type(o).__name__ for o in changed}))}; "
        "writes need a session from make_sessionmaker"
    )


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Yield a session whose work is committed on success and rolled back on any error."""
    with factory() as session, session.begin():
        yield session


def _alembic_config(engine: Engine) -> Config:
    cfg = Config()
    location = resources.files("tocsin.store") / "migrations"
    cfg.set_main_option("script_location", str(location))
    cfg.attributes["engine"] = engine
    return cfg


@functools.cache
def head_revision() -> str:
    """Return the newest migration this version of Tocsin knows."""
    location = resources.files("tocsin.store") / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(location))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to `revision` (the newest by default)."""
    command.upgrade(_alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """Return the database's migration revision, or None for an empty database."""
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        raise TocsinError(f"cannot open the database: {exc.orig}") from exc


def require_migrated(engine: Engine) -> None:
    """Raise NotMigrated unless the database is at the newest migration."""
    current = current_revision(engine)
    head = head_revision()
    if current != head:
        state = "has no Tocsin schema" if current is None else f"is at revision {current}"
        raise NotMigrated(
            f"the database {engine.url.render_as_string(hide_password=True)} {state}; "
            f"run `tocsin db upgrade` to migrate it to {head}"
        )


class DatabaseClock:
    """The database server's clock, for what several nodes compare (outbox claims).

    Each node's wall clock may be off by seconds; a claim stamped by a node whose clock runs
    ahead would look expired to the others, and its pages would go out twice. Read from the
    one database every node shares, claim times agree however skewed the nodes are.
    """

    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("the database clock needs PostgreSQL")
        self._engine = engine

    def now(self) -> datetime:
        """Return the database server's current instant (not its transaction's start)."""
        with self._engine.connect() as connection:
            found = connection.execute(text("SELECT clock_timestamp()")).scalar_one()
        assert isinstance(found, datetime)
        return found.astimezone(UTC)
