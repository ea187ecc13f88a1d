"""Group commit for ingestion: one writer thread, many senders' events per transaction.

Each ingest request parses its body on the event loop, then hands the events to the writer and
awaits the answer. The writer takes everything queued and hands it to the alert pipeline
(`services.ingest.ingest_many`: each distinct key authenticated once, all events in one batch),
then commits once; only then are the requests answered (2xx means committed). One writer per
process also means SQLite never sees two of our writers fight over its lock. A full queue is
overload: the request gets 503 and Retry-After at once.

One request's failure is only that request's answer. A batch that lost a lock race with another
node (deadlock, serialization failure, lock timeout) is tried again. A batch the database
refused for any other reason is split in halves and each half tried on its own, down to the one
request at fault: the others are committed and answered 2xx, that one gets 4xx when the database
refused its data, 503 otherwise. Only a database that is away (a lost connection, a locked
SQLite file) answers 503 to everyone, without splitting.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import exc as sa
from sqlalchemy.orm import Session, sessionmaker

from tocsin.clock import Clock
from tocsin.core.alerts import AlertEvent
from tocsin.errors import InvalidInput, Unauthenticated
from tocsin.services import ingest
from tocsin.store import integrations
from tocsin.store.integrations import IntegrationType

log = logging.getLogger("tocsin.ingest")


class Overloaded(Exception):
    """The writer cannot take more work now; the sender should retry shortly."""


Answer = list[ingest.Result] | BaseException

# PostgreSQL's answers to a transaction that lost a lock race: deadlock_detected,
# serialization_failure, lock_not_available (lock_timeout ran out). Trying again succeeds.
LOCK_RACES = {"40P01", "40001", "55P03"}
ATTEMPTS = 5  # per batch that keeps losing lock races, before its senders hear 503
LOCK_TIMEOUT_ATTEMPTS = 4  # 4 x lock_timeout outlasts a stuck session (see store.db)


class KeyCache:
    """Integration keys seen valid lately (by hash), so routes can refuse bad keys cheaply.

    Only a hint to answer 401 before reading a body: the writer authenticates every key again
    in its transaction, so a key removed within `ttl` is still refused there.
    """

    def __init__(self, *, ttl: float = 30.0, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._types: dict[str, tuple[str, float]] = {}

    def type_of(self, key_hash: str) -> str | None:
        """Return the integration type of a key seen valid within `ttl`, else None."""
        found = self._types.get(key_hash)
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]

    def add(self, key_hash: str, type: str) -> None:
        """Remember that the key with this hash is valid, for an integration of `type`."""
        if len(self._types) >= self.size:
            self._types.clear()  # rare: as many live keys as that; starting over is cheap
        self._types[key_hash] = (type, time.monotonic() + self.ttl)


@dataclass
class Job:
    """One request's events for one integration key."""

    key: str | None
    expect: IntegrationType | None
    events: Sequence[AlertEvent]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[ingest.Result]] = field(init=False)

    def __post_init__(self) -> None:
        self.future = self.loop.create_future()


class Writer:
    """Runs ingest jobs in one thread, as few transactions as the load allows."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        *,
        max_batch: int = 500,
        max_pending: int = 5000,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._max_batch = max_batch
        self.max_pending = max_pending
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.keys = KeyCache()

    def start(self) -> None:
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._run, name="tocsin-ingest", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish what is queued, then stop."""
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=30)

    def check_key(self, key: str | None, expect: IntegrationType | None) -> bool:
        """Return True if `key` was seen valid lately; raise if it is not for this route.

        False means unknown here: `authenticate` (in a thread) decides.
        """
        if not key or not key.strip():
            raise Unauthenticated("missing integration key")
        kind = self.keys.type_of(integrations.hash_key(key))
        if kind is None:
            return False
        integrations.check_type(kind, expect)
        return True

    def authenticate(
        self, session: Session, key: str | None, expect: IntegrationType | None
    ) -> None:
        """Raise Unauthenticated or InvalidInput unless `key` may send on this route."""
        kind = integrations.type_of_key(session, key)
        self.keys.add(integrations.hash_key(key or ""), kind)
        integrations.check_type(kind, expect)

    async def submit(
        self,
        key: str | None,
        expect: IntegrationType | None,
        events: Sequence[AlertEvent],
    ) -> list[ingest.Result]:
        """Queue one request's events; return their results once committed."""
        with self._lock:
            if self._pending >= self.max_pending:
                raise Overloaded
            self._pending += 1
        job = Job(key, expect, events, asyncio.get_running_loop())
        self._queue.put(job)
        return await job.future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            stop = False
            while len(jobs) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                jobs.append(more)
            self._write(jobs)
            if stop:
                return

    def _write(self, jobs: list[Job]) -> None:
        try:
            answers = self._answers(jobs)
        except Exception:  # never let the writer thread die: every later request would hang
            log.exception("the ingest writer failed on a batch of %d requests", len(jobs))
            answers = [(job, Overloaded()) for job in jobs]
        with self._lock:
            self._pending -= len(jobs)
        for job, answer in answers:
            job.loop.call_soon_threadsafe(_settle, job.future, answer)

    def _answers(self, jobs: list[Job]) -> list[tuple[Job, Answer]]:
        """Commit what `jobs` can commit; return each request's answer (see the docstring)."""
        failure: Exception | None = None
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return self._commit(jobs)
            except Exception as exc:
                failure = exc
                race = _lock_race(exc)
                limit = LOCK_TIMEOUT_ATTEMPTS if race == "55P03" else ATTEMPTS
                if race is None or attempt >= limit:
                    break
                # An expected outcome between nodes, not an error: try again after a pause
                # that keeps the two from meeting in the same order again.
                log.info("ingest batch lost a lock race (%s), attempt %d", race, attempt)
                time.sleep(random.uniform(0.005, 0.03) * attempt)
        assert failure is not None
        if _lock_race(failure) or _unavailable(failure):
            log.warning(
                "ingest batch of %d requests failed, asking senders to retry: %s",
                len(jobs),
                _first_line(failure),
            )
            return [(job, Overloaded()) for job in jobs]
        if len(jobs) > 1:
            middle = len(jobs) // 2
            return self._answers(jobs[:middle]) + self._answers(jobs[middle:])
        refused = _refused_data(failure)
        if refused is not None:
            log.warning("the database refused an ingest request's data: %s", refused)
            return [(jobs[0], refused)]
        log.error("an ingest request failed, asking its sender to retry", exc_info=failure)
        return [(jobs[0], Overloaded())]

    def _commit(self, jobs: list[Job]) -> list[tuple[Job, Answer]]:
        """Apply every job in one transaction and commit; raise whatever the database raised."""
        with self._sessions() as session, session.begin():
            answers = ingest.ingest_many(
                session,
                [ingest.Submission(job.key, job.expect, job.events) for job in jobs],
                now=self._clock.now(),
                seen=lambda found: self.keys.add(found.key_hash, found.type),
            )
        # committed: only now may the senders hear 2xx
        return list(zip(jobs, answers, strict=True))


def _lock_race(exc: BaseException) -> str | None:
    """Return the SQLSTATE if `exc` is a lost lock race worth trying again, else None."""
    if isinstance(exc, sa.DBAPIError):
        state = getattr(exc.orig, "sqlstate", None)
        if state in LOCK_RACES:
            return str(state)
    return None


def _unavailable(exc: BaseException) -> bool:
    """Return True if the database, not the data, failed: every request would fail now."""
    if isinstance(
        exc, sa.OperationalError | sa.InterfaceError | sa.TimeoutError | sa.DisconnectionError
    ):
        return True
    # 25P03: our own session sat idle too long inside a transaction and the server ended it.
    return isinstance(exc, sa.DBAPIError) and (
        exc.connection_invalidated or getattr(exc.orig, "sqlstate", None) == "25P03"
    )


def _refused_data(exc: BaseException) -> InvalidInput | None:
    """Return the 4xx for a request whose data the database refused, else None."""
    cause: BaseException = exc
    if isinstance(exc, sa.StatementError) and exc.orig is not None:
        cause = exc.orig
    if isinstance(exc, InvalidInput):
        # The sender's data was checked before it was queued: an InvalidInput raised while
        # applying it comes from this installation's configuration, and a 4xx would make the
        # sender drop the alert for good. Answer "retry" (the log says what to fix).
        return None
    if isinstance(exc, sa.DataError) or isinstance(cause, UnicodeError | ValueError):
        return InvalidInput(f"the database cannot store this request's data: {_first_line(cause)}")
    return None


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


def _settle(future: asyncio.Future[list[ingest.Result]], answer: Answer) -> None:
    if future.done():  # the request went away
        return
    if isinstance(answer, BaseException):
        future.set_exception(answer)
    else:
        future.set_result(answer)
