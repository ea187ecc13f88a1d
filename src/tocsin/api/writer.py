"""Group commit for ingestion: one writer thread, many senders' events per transaction.

Each ingest request parses its body on the event loop, then hands the events to the writer
and awaits the answer. The writer takes everything queued, authenticates each distinct key once,
applies all events in one `dedup.Batch` and commits once; only then are the requests answered
(2xx means committed). One writer per process also means SQLite never sees two of our writers
fight over its lock. A full queue is overload: the request gets 503 and Retry-After at once.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from tocsin.clock import Clock
from tocsin.core.alerts import AlertEvent
from tocsin.errors import TocsinError
from tocsin.store import dedup, integrations
from tocsin.store.integrations import IntegrationType
from tocsin.store.models import Integration

log = logging.getLogger("tocsin.ingest")


class Overloaded(Exception):
    """The writer cannot take more work now; the sender should retry shortly."""


Adjust = Callable[[Integration, Sequence[AlertEvent]], Sequence[AlertEvent]]


@dataclass
class Job:
    """One request's events for one integration key."""

    key: str | None
    expect: IntegrationType | None
    events: Sequence[AlertEvent]
    adjust: Adjust | None
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[dedup.Result]] = field(init=False)

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

    def start(self) -> None:
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._run, name="tocsin-ingest", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish what is queued, then stop."""
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=30)

    async def submit(
        self,
        key: str | None,
        expect: IntegrationType | None,
        events: Sequence[AlertEvent],
        *,
        adjust: Adjust | None = None,
    ) -> list[dedup.Result]:
        """Queue one request's events; return their results once committed.

        `adjust` may rewrite the events once the integration is known (Alertmanager reads the
        severity from a label the service names).
        """
        with self._lock:
            if self._pending >= self.max_pending:
                raise Overloaded
            self._pending += 1
        job = Job(key, expect, events, adjust, asyncio.get_running_loop())
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
        answers: list[tuple[Job, list[dedup.Result] | BaseException]] = []
        try:
            with self._sessions() as session, session.begin():
                now: datetime = self._clock.now()
                batch = dedup.Batch(session, now=now)
                ready: list[tuple[Job, Integration, Sequence[AlertEvent]]] = []
                known: dict[str | None, Integration | TocsinError] = {}
                for job in jobs:
                    if job.key not in known:
                        try:
                            known[job.key] = integrations.authenticate(session, job.key)
                        except TocsinError as exc:
                            known[job.key] = exc
                    found = known[job.key]
                    try:
                        if isinstance(found, TocsinError):
                            raise found
                        integrations.check_type(found, job.expect)
                    except TocsinError as exc:
                        answers.append((job, exc))
                        continue
                    events = job.adjust(found, job.events) if job.adjust else job.events
                    ready.append((job, found, events))
                # One look-up per integration for the whole batch, not one per request.
                keys: dict[int, list[str]] = {}
                for _job, integration, events in ready:
                    keys.setdefault(integration.id, []).extend(e.dedup_key for e in events)
                for integration_id, wanted in keys.items():
                    batch.prefetch(integration_id, wanted)
                pending = [batch.apply(integration, events) for _j, integration, events in ready]
                batch.finish()
                results = batch.results(*pending)
                answers += [
                    (job, result) for (job, _i, _e), result in zip(ready, results, strict=True)
                ]
            # committed: only now may the senders hear 2xx
        except Exception as exc:
            log.warning(
                "ingest batch of %d requests failed, asking senders to retry: %s", len(jobs), exc
            )
            answers = [(job, Overloaded()) for job in jobs]
        with self._lock:
            self._pending -= len(jobs)
        for job, answer in answers:
            job.loop.call_soon_threadsafe(_settle, job.future, answer)


def _settle(
    future: asyncio.Future[list[dedup.Result]], answer: list[dedup.Result] | BaseException
) -> None:
    if future.done():  # the request went away
        return
    if isinstance(answer, BaseException):
        future.set_exception(answer)
    else:
        future.set_result(answer)
