"""The in-process engine loop: sleep until the earliest due work, or until woken.

Due work lives in tables (escalation steps, reminders, heartbeat deadlines, the outbox), so a
restart forgets nothing: the loop reads the earliest due time from the database, sleeps until
then (at most `max_sleep`, in case another process wrote work it was not told about, like a CLI
command) and is woken early when this process writes new work. Each kind of work is a `Task`
with its own transaction; the composition root (`tocsin.app`) says which tasks a node runs.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine as SqlEngine
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tocsin.clock import Clock
from tocsin.engine import outbox
from tocsin.engine.outbox import Sender
from tocsin.engine.subscribers import Lane
from tocsin.engine.work import NEW_ROWS, WORK_CHANNEL, WORK_WRITTEN
from tocsin.store.models import Notification

log = logging.getLogger("tocsin.engine")

# How long the LISTEN thread waits for a notification before it looks at the stop flag again:
# `stop` joins that thread, so every server and engine took up to this long to shut down.
LISTEN_POLL = 0.1

# Engines of this process, woken after any commit that wrote due work (see announce_work).
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


@event.listens_for(Session, "after_flush")
def _note_new_rows(session: Session, _context: object) -> None:
    # Ids are known once flushed; the rows are handed over only if the transaction commits.
    new = [row.id for row in session.new if isinstance(row, Notification)]
    if new:
        session.info.setdefault(NEW_ROWS, []).extend(new)


@event.listens_for(Session, "after_commit")
def _wake_after_work(session: Session) -> None:
    rows: list[int] = session.info.pop(NEW_ROWS, [])
    if session.info.pop(WORK_WRITTEN, False) or rows:
        bind = session.get_bind()
        for engine in list(_ENGINES):
            engine.wake(rows if engine.bound_to(bind) else ())


@event.listens_for(Session, "after_rollback")
def _forget_work(session: Session) -> None:
    session.info.pop(WORK_WRITTEN, None)
    session.info.pop(NEW_ROWS, None)


class PassFailed(Exception):
    """Some of a pass's due work failed (and was logged); the rest was done."""


class Task(Protocol):
    """One kind of due work (a module: escalations, reminders, heartbeats)."""

    __name__: str

    def update_all(self, session: Session, *, now: datetime) -> int:
        """Do everything of this kind due at `now`, in the caller's transaction."""
        ...

    def next_due(self, session: Session) -> datetime | None:
        """Return when the next work of this kind falls due (None: nothing waits)."""
        ...


class Engine:
    """Runs due work in a background thread of the serving process."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        tasks: Sequence[Task],
        *,
        sender: Sender | None = None,
        max_sleep: float = 1.0,
        read_sessions: sessionmaker[Session] | None = None,
        lane: Lane | None = None,
    ) -> None:
        self._sessions = sessions
        self._read_sessions = read_sessions or sessions
        self._clock = clock
        self._tasks = tuple(tasks)
        self._sender = sender
        self._lane = lane
        self._max_sleep = max_sleep
        _ENGINES.add(self)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handed: set[int] = set()
        self._handed_lock = threading.Lock()

    def bound_to(self, bind: object) -> bool:
        """Return True if this engine works on the database `bind` (an engine or connection)
        is on."""
        ours = self._sessions.kw.get("bind")
        theirs = getattr(bind, "engine", bind)
        return ours is theirs or (
            isinstance(ours, SqlEngine) and isinstance(theirs, SqlEngine) and ours.url == theirs.url
        )

    def run_once(self) -> datetime | None:
        """Do all work due now; return when the next work falls due (None: nothing waits).

        Outbox rows written by this process since the last pass go out first, claimed by their
        ids: a page written by an alert does not wait for the other kinds of work, nor for a
        look through the whole outbox.
        """
        failed: BaseException | None = None
        with self._handed_lock:
            handed, self._handed = self._handed, set()
        if handed and self._sender is not None:
            # Failing, like any task, only this part of the pass: the full look below finds
            # the rows again.
            try:
                self._sender.run_once(only=sorted(handed))
            except OperationalError as exc:
                log.warning("engine: sending new notifications failed, retrying: %s", exc.orig)
                failed = exc
            except Exception as exc:
                log.exception("engine: sending new notifications failed")
                failed = exc
        now = self._clock.now()
        due = self._next_due()
        moved = False  # whether work done since `due` was read may have moved the times
        for i, task in enumerate(self._tasks):
            if moved:
                # What the kind before wrote may be due at once for this one (a level that
                # paged someone brings the incident's chat channel up to date): this pass.
                due, moved = self._next_due(), False
            at = due[i]
            if at is None or at > now:
                continue  # nothing due: no write transaction for it (on SQLite, no lock)
            moved = True
            # Each kind in its own transaction: a reminder that cannot be written must not roll
            # back the escalation steps fired before it, nor keep the heartbeats from firing.
            try:
                with self._sessions() as session, session.begin():
                    task.update_all(session, now=now)
            except OperationalError as exc:  # the database is busy or away: try again soon
                log.warning("engine: %s failed, retrying: %s", task.__name__, exc.orig)
                failed = failed or exc
            except Exception as exc:
                log.exception("engine: %s failed", task.__name__)
                failed = failed or exc
        if self._sender is not None:
            # Sent outside any transaction: a slow receiver must not hold database locks.
            while self._anything_to_claim(self._sender) and self._sender.run_once():
                moved = True
        if self._lane is not None:
            # Subscribers after the pages, a bounded batch (the loop comes round again at once
            # for the rest), and any page that falls due meanwhile before the next message.
            try:
                if self._lane_has_work(self._lane) and self._lane.run_once(
                    may_send=self._pages_first
                ):
                    moved = True
            except OperationalError as exc:
                log.warning("engine: subscriber messages failed, retrying: %s", exc.orig)
                failed = failed or exc
            except Exception as exc:
                log.exception("engine: subscriber messages failed")
                failed = failed or exc
        if moved:
            due = self._next_due()
        if failed is not None:
            raise PassFailed(f"{type(failed).__name__}: {failed}") from failed
        found = [t for t in due if t is not None]
        return min(found) if found else None

    def _next_due(self) -> list[datetime | None]:
        """Return when each task's next work falls due, in the order of the tasks, then the
        outbox's (if this engine sends), then the subscribers' lane's (if it has one).

        Read in a read session, which on SQLite takes no write lock: an idle pass writes
        nothing, so ingestion never queues behind it.
        """
        with self._read_sessions() as session:
            due = [task.next_due(session) for task in self._tasks]
            if self._sender is not None:
                due.append(outbox.next_due(session))
            if self._lane is not None:
                due.append(self._lane.next_due(session))
            return due

    def _pages_first(self) -> bool:
        """Send every page that can be claimed now; return whether the subscribers' lane may
        send its next message (not if sending the pages failed: the next pass retries).

        Asked before each subscriber message, so a page that falls due during a long list
        waits for at most the one message being sent. A page the outbox cannot claim yet (it
        waits for an earlier page of its incident) does not hold the lane back.
        """
        if self._sender is None:
            return True
        with self._handed_lock:
            handed, self._handed = self._handed, set()
        try:
            if handed:
                self._sender.run_once(only=sorted(handed))
            while self._anything_to_claim(self._sender) and self._sender.run_once():
                pass
        except OperationalError as exc:
            log.warning("engine: sending notifications failed, retrying: %s", exc.orig)
            return False
        except Exception:
            log.exception("engine: sending notifications failed")
            return False
        return True

    def _lane_has_work(self, lane: Lane) -> bool:
        with self._read_sessions() as session:
            return lane.anything_to_claim(session)

    def _anything_to_claim(self, sender: Sender) -> bool:
        with self._read_sessions() as session:
            return sender.anything_to_claim(session)

    def wake(self, new_rows: Sequence[int] = ()) -> None:
        """Look at the tables again now: new work may be due sooner than the loop thinks.

        `new_rows` are outbox rows just committed, to be sent before anything else.
        """
        if new_rows:
            with self._handed_lock:
                self._handed.update(new_rows)
        self._wake.set()

    def start(self) -> None:
        """Start the loop in a daemon thread (and the PostgreSQL listener, if any)."""
        self._listen()
        self._thread = threading.Thread(target=self._loop, name="tocsin-engine", daemon=True)
        self._thread.start()

    def run_forever(self) -> None:
        """Run the loop in this thread until `stop` is called (from a signal handler)."""
        self._listen()
        self._loop()

    def stop(self) -> None:
        """Stop the loop and wait for it."""
        self._stop.set()
        self._wake.set()
        for thread in (self._thread, self._listener):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=10)

    _listener: threading.Thread | None = None

    def _listen(self) -> None:
        bind = self._sessions.kw.get("bind")
        if isinstance(bind, SqlEngine) and bind.dialect.name == "postgresql":
            url = bind.url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._listener = threading.Thread(
                target=self._listen_loop, args=(url,), name="tocsin-listen", daemon=True
            )
            self._listener.start()

    def _listen_loop(self, url: str) -> None:
        """Wake the loop whenever any node writes due work (NOTIFY tocsin_work)."""
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as connection:
                    connection.execute(f"LISTEN {WORK_CHANNEL}")
                    while not self._stop.is_set():
                        for _ in connection.notifies(timeout=LISTEN_POLL, stop_after=1):
                            self._wake.set()
            except psycopg.Error as exc:  # the poll still runs; reconnect shortly
                log.warning("LISTEN connection lost, retrying: %s", exc)
                self._stop.wait(1.0)

    def _loop(self) -> None:
        if self._sender is not None:
            try:
                self._sender.warm()
            except Exception:  # only a head start: the first send does it otherwise
                log.exception("engine: could not get the sender ready")
        while not self._stop.is_set():
            self._wake.clear()
            try:
                due = self.run_once()
            except PassFailed:  # logged where it failed; look again shortly
                due = None
            except OperationalError as exc:  # the database is busy or away: try again soon
                log.warning("engine pass failed, retrying: %s", exc.orig)
                due = None
            except Exception:
                log.exception("engine pass failed")
                due = None
            delay = self._max_sleep
            if due is not None:
                delay = min(delay, max(0.0, (due - self._clock.now()).total_seconds()))
            self._wake.wait(timeout=delay)
