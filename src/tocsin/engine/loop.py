"""The in-process engine loop: sleep until the earliest due work, or until woken.

Due work lives in tables (heartbeat deadlines, escalation steps, the outbox), so a restart
forgets nothing: the loop reads the earliest due time from the database, sleeps until then (at
most `max_sleep`, in case another process wrote work it was not told about, like a CLI command)
and is woken early when this process writes new work.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tocsin.clock import Clock
from tocsin.engine.outbox import Sender
from tocsin.store import alerts, escalation

log = logging.getLogger("tocsin.engine")


class Engine:
    """Runs due work in a background thread of the serving process."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        *,
        sender: Sender | None = None,
        max_sleep: float = 1.0,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._sender = sender
        self._max_sleep = max_sleep
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> datetime | None:
        """Do all work due now; return when the next work falls due (None: nothing waits)."""
        now = self._clock.now()
        with self._sessions() as session, session.begin():
            fired = alerts.missed_heartbeats(session, now=now)
            for result in fired:
                log.warning("heartbeat missed: alert %s (%s)", result.alert_id, result.outcome)
            escalation.due(session, now=now)
        if self._sender is not None:
            # Sent outside any transaction: a slow receiver must not hold database locks.
            while self._sender.run_once():
                pass
        with self._sessions() as session:
            found = [
                t
                for t in (alerts.next_heartbeat_deadline(session), escalation.next_due(session))
                if t is not None
            ]
        return min(found) if found else None

    def wake(self) -> None:
        """Look at the tables again now: new work may be due sooner than the loop thinks."""
        self._wake.set()

    def start(self) -> None:
        """Start the loop in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="tocsin-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                due = self.run_once()
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
