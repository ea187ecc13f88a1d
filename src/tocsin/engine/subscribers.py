"""The subscribers' lane of the outbox: status-page mail and webhooks, after the pages.

`SubscriberMessage` rows go pending -> sending (claimed by one node until `claimed_until`) ->
sent | failed, like the pages' outbox (`engine.outbox`), with the same guarantees: a row is
claimed with FOR UPDATE SKIP LOCKED on PostgreSQL, so two nodes never send it at once; every
attempt carries the same idempotency key (the mail's Message-ID and X-Tocsin-Idempotency-Key,
the webhook's Idempotency-Key header); a temporary failure is retried with exponential backoff
and `max_attempts` ends it as failed with `last_error`; a node that died holding a row loses it
when its claim runs out, and another node sends it.

It is a lane of its own so that a long list of subscribers never delays a page to a responder:
the engine runs it after the pages, a bounded batch per pass, and before every message calls
back (`Lane.run_once(may_send=...)`), sending there whatever page can be claimed. So a page due
when a batch starts goes out before any subscriber message of it, and one that falls due during
a batch waits for at most the one message being sent. Messages are claimed one at a time for
that reason.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Select, bindparam, func, or_, select
from sqlalchemy.orm import Session, lazyload, sessionmaker

from tocsin.clock import Clock
from tocsin.core import subscriptions as core
from tocsin.core.printable import printable
from tocsin.core.subscriptions import Kind, MessageKind, MessageStatus, Notice
from tocsin.errors import InvalidInput
from tocsin.notify import Message, Outcome, SendResult
from tocsin.notify.smtp import SmtpAdapter
from tocsin.notify.webhook import USER_AGENT, new_client, post
from tocsin.store.models import StatusSubscriber, SubscriberMessage

log = logging.getLogger("tocsin.engine")

# A claim lasts this long: longer than one send can take (SMTP's 10 s, a webhook's 5 s), so it
# needs no renewal; a dead node's message waits this long before another node sends it.
LEASE = timedelta(seconds=60)
WEBHOOK_TIMEOUT = 5.0

Mailer = Callable[[str], SmtpAdapter]


@dataclass(frozen=True, slots=True)
class Job:
    """One claimed message, with what sending it needs of its subscriber."""

    id: int
    idempotency_key: str
    kind: MessageKind
    message: dict[str, Any]
    subscriber_kind: Kind
    address: str
    token: str
    secret: str


@functools.cache
def _claim_statement() -> Select[SubscriberMessage]:
    """Return the claim's query, built once. Parameters: `now`, `claim_now`, `max_attempts`."""
    when = SubscriberMessage.due_at.type
    return (
        select(SubscriberMessage)
        .options(lazyload(SubscriberMessage.subscriber))  # FOR UPDATE refuses an outer join
        .where(
            or_(
                (SubscriberMessage.status == MessageStatus.PENDING)
                & (SubscriberMessage.due_at <= bindparam("now", type_=when)),
                # a sender died holding it: its claim ran out
                (SubscriberMessage.status == MessageStatus.SENDING)
                & (SubscriberMessage.claimed_until <= bindparam("claim_now", type_=when))
                & (SubscriberMessage.attempts < bindparam("max_attempts")),
            )
        )
        .order_by(SubscriberMessage.due_at, SubscriberMessage.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


class Lane:
    """Sends due subscriber messages, one at a time, while no page waits."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        *,
        mailer: Mailer,
        base_url: str,
        page_title: str,
        node: str = "tocsin",
        claim_clock: Clock | None = None,
        lease: timedelta = LEASE,
        max_attempts: int = 8,
        backoff: timedelta = timedelta(seconds=30),
        max_backoff: timedelta = timedelta(hours=1),
        batch: int = 50,
        http: httpx.Client | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._claim_clock = claim_clock or clock
        self._mailer = mailer
        self.base_url = base_url.rstrip("/")
        self.page_title = page_title
        self.node = node
        self.lease = lease
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.batch = batch
        self._http = http

    def close(self) -> None:
        """Close the webhook connection pool, if one was opened."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def run_once(self, may_send: Callable[[], bool] | None = None) -> int:
        """Send at most `batch` due messages, asking `may_send` before each; return how many
        were handled."""
        handled = 0
        while handled < self.batch:
            if may_send is not None and not may_send():
                break  # a page waits: it goes first, this lane comes round again after it
            job = self.claim()
            if job is None:
                break
            self.record(job, self.deliver(job))
            handled += 1
        return handled

    def claim(self) -> Job | None:
        """Mark the next due message as being sent by this node; return it, or None."""
        now = self._clock.now()
        claim_now = self._claim_clock.now()
        with self._sessions() as session, session.begin():
            self._give_up_exhausted(session, claim_now)
            row = session.scalars(
                _claim_statement(),
                {"now": now, "claim_now": claim_now, "max_attempts": self.max_attempts},
            ).first()
            if row is None:
                return None
            subscriber = session.get(StatusSubscriber, row.subscriber_id)
            if subscriber is None:  # unsubscribed this instant: the row goes with it
                return None
            row.status = MessageStatus.SENDING
            row.attempts += 1
            row.claimed_until = claim_now + self.lease
            row.claimed_by = self.node
            return Job(
                id=row.id,
                idempotency_key=row.idempotency_key,
                kind=MessageKind(row.kind),
                message=dict(row.message),
                subscriber_kind=Kind(subscriber.kind),
                address=subscriber.address,
                token=subscriber.token,
                secret=subscriber.secret,
            )

    def _give_up_exhausted(self, session: Session, claim_now: datetime) -> None:
        """Fail the messages whose every attempt ended with the claim running out (a node died
        on each send, perhaps because of the message itself)."""
        rows = session.scalars(
            select(SubscriberMessage)
            .options(lazyload(SubscriberMessage.subscriber))
            .where(
                SubscriberMessage.status == MessageStatus.SENDING,
                SubscriberMessage.claimed_until <= claim_now,
                SubscriberMessage.attempts >= self.max_attempts,
            )
            .order_by(SubscriberMessage.id)
            .limit(100)
            .with_for_update(skip_locked=True)
        )
        for row in rows:
            row.status = MessageStatus.FAILED
            row.claimed_until = row.claimed_by = None
            row.last_error = (
                row.last_error or f"the sender stopped answering on each of {row.attempts} attempts"
            )

    def deliver(self, job: Job) -> SendResult:
        """Make one attempt at sending `job`; never raises for a delivery failure."""
        now = self._clock.now()
        if job.subscriber_kind is Kind.WEBHOOK:
            return self._post(job, now)
        unsubscribe = f"{self.base_url}/status/unsubscribe/{job.token}"
        if job.kind is MessageKind.CONFIRM:
            email = core.confirmation_email(
                page_title=self.page_title,
                confirm_url=f"{self.base_url}/status/subscribe/confirm/{job.token}",
                unsubscribe_url=unsubscribe,
                expires_at=datetime.fromisoformat(str(job.message["expires_at"])),
            )
        else:
            email = core.notice_email(
                Notice.from_json(job.message).absolute(self.base_url),
                page_title=self.page_title,
                unsubscribe_url=unsubscribe,
            )
        try:
            adapter = self._mailer(job.address)
        except InvalidInput as exc:  # the mail settings or the address cannot work
            return SendResult(Outcome.PERMANENT, exc.message)
        message = Message(
            idempotency_key=job.idempotency_key,
            subject=email.subject,
            text=email.text,
            severity="info",
        )
        try:
            return adapter.send(message, headers=email.headers, html=email.html)
        finally:
            adapter.close()

    def _post(self, job: Job, now: datetime) -> SendResult:
        if job.kind is MessageKind.CONFIRM:  # webhooks are added confirmed; nothing to ask
            return SendResult(Outcome.SENT, "nothing to confirm for a webhook")
        notice = Notice.from_json(job.message).absolute(self.base_url)
        body = core.webhook_body(notice, sent_at=now)
        headers = {
            "Content-Type": "application/json",
            # The signature covers these exact bytes, and the time, against replays.
            core.SIGNATURE_HEADER: core.sign(job.secret, body, at=now),
            core.IDEMPOTENCY_HEADER: job.idempotency_key,
            "User-Agent": USER_AGENT,
        }
        if self._http is None:
            self._http = new_client(WEBHOOK_TIMEOUT)
        return post(
            self._http, job.address, body, headers, timeout=WEBHOOK_TIMEOUT, peer="subscriber"
        )

    def record(self, job: Job, result: SendResult) -> None:
        """Store how the attempt went: sent, to be retried later, or failed for good."""
        now = self._clock.now()
        with self._sessions() as session, session.begin():
            row = session.scalars(
                select(SubscriberMessage)
                .options(lazyload(SubscriberMessage.subscriber))
                .where(SubscriberMessage.id == job.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).first()
            if row is None or row.claimed_by != self.node or row.status != MessageStatus.SENDING:
                return  # unsubscribed meanwhile, or reclaimed by another node: theirs now
            row.claimed_until = row.claimed_by = None
            if result.outcome is Outcome.SENT:
                row.status, row.sent_at, row.last_error = MessageStatus.SENT, now, ""
                return
            row.last_error = printable(_masked(result.detail, job))[:2000]
            if result.outcome is Outcome.TEMPORARY and row.attempts < self.max_attempts:
                row.status = MessageStatus.PENDING
                row.due_at = now + self._delay(row.attempts, result.retry_after)
                return
            row.status = MessageStatus.FAILED
            log.warning(
                "subscriber message %s failed after %d attempts: %s",
                row.idempotency_key,
                row.attempts,
                row.last_error,
            )

    def _delay(self, attempts: int, retry_after: float | None) -> timedelta:
        delay: timedelta = min(self.backoff * 2 ** (attempts - 1), self.max_backoff)
        if retry_after is not None:
            asked = timedelta(seconds=min(retry_after, self.max_backoff.total_seconds()))
            delay = max(delay, asked)
        return delay

    def next_due(self, session: Session) -> datetime | None:
        """Return when the next message falls due, or a claim on one runs out."""
        return next_due(session)

    def anything_to_claim(self, session: Session) -> bool:
        """Return True if a claim now could find a message: a look in `session` (a read session
        will do) before `run_once`, whose claim is a write transaction, so an idle engine pass
        writes nothing (on SQLite, takes no lock that ingestion would queue behind)."""
        due = next_due(session)
        return due is not None and due <= max(self._clock.now(), self._claim_clock.now())


def _masked(detail: str, job: Job) -> str:
    """Return `detail` with the subscriber's address masked: a refusal names the address (the
    server's answer, smtplib's "recipient ... refused"), and it is stored and logged, where
    administrators see addresses only masked."""
    masked = core.mask(job.subscriber_kind, job.address)
    return re.sub(re.escape(job.address), lambda _: masked, detail, flags=re.IGNORECASE)


def next_due(session: Session) -> datetime | None:
    """Return when the next subscriber message falls due, or a claim on one runs out."""
    pending = session.scalar(
        select(func.min(SubscriberMessage.due_at)).where(
            SubscriberMessage.status == MessageStatus.PENDING
        )
    )
    claimed = session.scalar(
        select(func.min(SubscriberMessage.claimed_until)).where(
            SubscriberMessage.status == MessageStatus.SENDING
        )
    )
    found = [t for t in (pending, claimed) if t is not None]
    return min(found) if found else None
