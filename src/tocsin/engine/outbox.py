"""The outbox sender: claim due notifications, send them, record what happened.

Rows go pending -> sending -> sent | failed. A claim carries a deadline (`claimed_until`): a
sender that dies mid-send leaves its rows to be claimed again once the deadline passes, so a page
is never lost; at most the in-flight ones are sent twice, with the same idempotency key. Claims
use FOR UPDATE SKIP LOCKED on PostgreSQL, so senders on several nodes never take the same row.
Everything due for one contact method of one user goes out as one message (a bundle). A row
may instead call a webhook an escalation level names (`webhook_id`, no user): each such call goes
out alone, never bundled, since each is one fired level its receiver acts on.

A claim is short (`LEASE`, 10 s) and renewed by a background thread while this node works through
it, so a dead node's pages go out again within seconds, while a live node's slow send keeps its
claim. Renewal stops once a send has taken `claim_for` (a hung send: another node may try). A
row's claim is checked and extended when its send begins: one whose claim ran out while it waited
behind slow sends is left to whoever claims it next. A send that raises fails its message alone;
a row whose every attempt ended with its claim running out (the node died on it each time) fails
after `max_attempts` instead of being claimed again forever.
A page waits for the unfinished pages of earlier escalation steps of its incident (see
`store.notifications.waits_for_earlier_page`), so level 2 never arrives before a level-1 page
that a dead node was holding. When a claimed row is finally sent, the sender looks again: a
page of an incident acknowledged or resolved since is withdrawn, and so is a resolve notice to
a user no page reached.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Select, bindparam, exists, func, or_, select, true, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from tocsin.clock import Clock
from tocsin.core import paging, phone
from tocsin.core.incident import EventKind
from tocsin.core.printable import printable
from tocsin.engine import channels
from tocsin.engine.work import announce_work
from tocsin.errors import TocsinError
from tocsin.notify import Adapter, Message, Outcome, SendResult
from tocsin.notify.console import ConsoleAdapter
from tocsin.notify.ntfy import NtfyAdapter
from tocsin.notify.slack import SlackAdapter
from tocsin.notify.slack_app import ChannelOp
from tocsin.notify.smtp import SmtpAdapter
from tocsin.notify.teams import TeamsAdapter
from tocsin.notify.telegram import TelegramAdapter, TelegramBot
from tocsin.notify.webhook import WebhookAdapter
from tocsin.notify.webhook import warm as warm_http
from tocsin.settings import Settings
from tocsin.store import acklinks, swaps
from tocsin.store.contacts import PHONE_TYPES, ContactType
from tocsin.store.models import (
    Alert,
    ContactMethod,
    Escalation,
    Notification,
    TimelineEvent,
    Webhook,
)
from tocsin.store.notifications import NotificationStatus as Status
from tocsin.store.notifications import paged_users, waits_for_earlier_page

log = logging.getLogger("tocsin.outbox")


@dataclass(frozen=True, slots=True)
class UserGroup:
    """A Slack user group to make of `members` (Slack user ids): who a schedule has on call."""

    group: str
    members: tuple[str, ...]

    @property
    def name(self) -> str:
        """What the timeline and logs call it."""
        return f"Slack user group {self.group}"


# Where a message goes: a user's contact method, a webhook an escalation level calls, a
# Slack user group that follows a schedule, or an incident's Slack channel.
Destination = ContactMethod | Webhook | UserGroup | ChannelOp
AdapterFor = Callable[[Destination], Adapter]

# How long a claim holds without renewal: what a dead node's pages wait before another node
# sends them. Renewed every quarter of it, so a renewal may be late three times over (a busy
# database, a starved thread) before a live node loses its claim.
LEASE = timedelta(seconds=10)


def adapter_factory(settings: Settings) -> AdapterFor:
    """Return a function that builds the adapter for a destination, from the settings."""

    def build(method: Destination) -> Adapter:
        if isinstance(method, ChannelOp):
            from tocsin.notify.slack_app import SlackApp, SlackChannelAdapter

            return SlackChannelAdapter(
                SlackApp(settings.slack_bot_token, settings.slack_api_url), method
            )
        if isinstance(method, UserGroup):
            from tocsin.notify.slack_app import SlackApp, SlackUserGroupAdapter

            app = SlackApp(settings.slack_bot_token, settings.slack_api_url)
            return SlackUserGroupAdapter(app, method.group, method.members)
        if isinstance(method, Webhook):
            if method.timeout_seconds is None:
                return WebhookAdapter(method.url, method.secret)
            return WebhookAdapter(method.url, method.secret, timeout=method.timeout_seconds)
        if method.type == "email":
            return SmtpAdapter(
                settings.smtp_host,
                settings.smtp_port,
                sender=settings.smtp_sender,
                recipient=method.target,
                starttls=settings.smtp_starttls,
                username=settings.smtp_username,
                password=settings.smtp_password,
            )
        if method.type == "slack" and not method.target.startswith(("http://", "https://")):
            from tocsin.notify.slack_app import SlackApp, SlackDmAdapter

            app = SlackApp(settings.slack_bot_token, settings.slack_api_url)
            return SlackDmAdapter(app, method.target)
        if method.type == "slack":
            return SlackAdapter(method.target)
        if method.type == "teams":
            return TeamsAdapter(method.target)
        if method.type == ContactType.WEBPUSH:
            # Imported here, like twilio: only a process that pushes pays for the library.
            from tocsin.notify.webpush import VapidKey, WebPushAdapter

            key = VapidKey(settings.vapid_private_key, settings.vapid_subject)
            return WebPushAdapter(key, method.target, method.secret or "")
        if method.type == ContactType.NTFY:
            return NtfyAdapter(method.target, method.secret)
        if method.type == ContactType.TELEGRAM:
            bot = TelegramBot(settings.telegram_bot_token, settings.telegram_base_url)
            return TelegramAdapter(bot, method.target)
        if method.type in PHONE_TYPES:
            # Imported here: the twilio library takes 0.15 s to import, which only a process
            # that texts or calls should pay.
            from tocsin.notify.sms import SmsAdapter, TwilioAccount
            from tocsin.notify.voice import VoiceAdapter

            account = TwilioAccount(
                settings.twilio_account_sid,
                settings.twilio_auth_token,
                settings.twilio_from,
                settings.twilio_base_url,
            )
            if method.type == ContactType.VOICE:
                return VoiceAdapter(account, method.target)
            return SmsAdapter(account, method.target)
        if method.type == "webhook":
            return WebhookAdapter(method.target, method.secret or "")
        return ConsoleAdapter()

    return build


_Shape = tuple[str, str, str | None, float | None]


def _identity(
    method: ContactMethod | Webhook | UserGroup,
) -> tuple[tuple[str, int | str], _Shape]:
    """Return which destination this is, and what its adapter is built from."""
    if isinstance(method, UserGroup):
        return ("usergroup", method.group), ("usergroup", ",".join(method.members), None, None)
    if isinstance(method, Webhook):
        return ("webhook", method.id), (
            "webhook",
            method.url,
            method.secret,
            method.timeout_seconds,
        )
    return ("method", method.id), (method.type, method.target, method.secret, None)


class Adapters:
    """The adapter of each destination (contact method or webhook), built on first use and kept:
    one connection pool per destination, reused by every later send, instead of a new client
    (and TLS handshake) each time. A destination whose type, target, secret or timeout changes
    gets a new adapter; the old one is closed. Safe to share between threads.
    """

    def __init__(self, build: AdapterFor) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._made: dict[tuple[str, int | str], tuple[_Shape, Adapter]] = {}

    for_settings = staticmethod(adapter_factory)

    def __call__(self, method: Destination) -> Adapter:
        """Return `method`'s adapter (raises InvalidInput for a misconfigured method)."""
        if isinstance(method, ChannelOp):
            return self._build(method)  # one operation: nothing to keep between sends
        key, shape = _identity(method)
        with self._lock:
            found = self._made.get(key)
            if found is not None and found[0] == shape:
                return found[1]
        adapter = self._build(method)  # outside the lock: building may resolve or read files
        with self._lock:
            found = self._made.get(key)
            if found is not None and found[0] == shape:
                adapter.close()  # another thread built it first
                return found[1]
            self._made[key] = (shape, adapter)
        if found is not None:
            found[1].close()
        return adapter

    def close(self) -> None:
        """Close every adapter built so far."""
        with self._lock:
            made = [adapter for _shape, adapter in self._made.values()]
            self._made.clear()
        for adapter in made:
            adapter.close()


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed outbox row, detached from its session."""

    id: int
    key: str
    incident_id: int | None
    user_id: int | None
    method_id: int | None
    kind: str
    attempts: int
    message: dict[str, object]
    ack_token: str | None = None
    runbook: str | None = None
    webhook_id: int | None = None

    @property
    def webhook(self) -> str | None:
        """The name of the webhook this row calls (kept if the webhook was removed since)."""
        name = self.message.get("webhook")
        return str(name) if name else None

    @property
    def recipient(self) -> str:
        """Whom this row notifies, as the timeline names them: "alice", "webhook chatops"."""
        return _recipient(self.message, self.user_id)

    def who(self, method: str) -> str:
        """Return whom this row notifies and how: "alice via hook", "webhook chatops"."""
        return _who(self.message, self.user_id, method)


def _recipient(message: dict[str, object], user_id: int | None) -> str:
    name = message.get("webhook")
    if message.get("slack"):
        return f"Slack channel #{message.get('channel_name')}"
    return f"webhook {name}" if name else str(message.get("user") or user_id)


def _who(message: dict[str, object], user_id: int | None, method: str) -> str:
    recipient = _recipient(message, user_id)
    alone = message.get("webhook") or message.get("slack")
    return recipient if alone else f"{recipient} via {method}"


@dataclass(frozen=True, slots=True)
class Destinations:
    """The contact methods and webhooks of claimed rows, detached from their session."""

    methods: dict[int, ContactMethod]
    webhooks: dict[int, Webhook]
    channels: dict[int, str] = field(default_factory=dict)  # incident -> its Slack channel

    def of(self, row: Claimed) -> Destination | None:
        """Return where `row` goes, or None if it was removed since the row was written."""
        if row.kind == channels.KIND:
            params = row.message.get("params")
            return ChannelOp(
                str(row.message.get("slack")),
                str(row.message.get("channel_name")),
                self.channels.get(row.incident_id or 0),
                dict(params) if isinstance(params, dict) else {},
            )
        group = row.message.get("usergroup")
        if group:
            members = row.message.get("members")
            found = members if isinstance(members, list) else []
            return UserGroup(str(group), tuple(str(m) for m in found))
        if row.webhook is not None:
            return self.webhooks.get(row.webhook_id) if row.webhook_id is not None else None
        return self.methods.get(row.method_id) if row.method_id is not None else None


@functools.cache
def _claim_statement(*, targeted: bool) -> Select[Notification]:
    """Return the claim's query, built once (building it took longer than running it).

    Parameters: `now`, `claim_now`, `max_attempts`, `batch`, and `only` (the row ids) when
    `targeted`.
    """
    when = Notification.due_at.type
    return (
        select(Notification)
        .where(
            Notification.id.in_(bindparam("only", expanding=True)) if targeted else true(),
            or_(
                (Notification.status == Status.PENDING)
                & (Notification.due_at <= bindparam("now", type_=when)),
                # a sender died holding these: their claim ran out
                (Notification.status == Status.SENDING)
                & (Notification.claimed_until <= bindparam("claim_now", type_=when))
                & (Notification.attempts < bindparam("max_attempts")),
            ),
            ~waits_for_earlier_page(),
        )
        .order_by(Notification.due_at, Notification.id)
        .limit(bindparam("batch"))
        .with_for_update(skip_locked=True)
    )


@functools.cache
def _anything_to_claim() -> Select[tuple[bool]]:
    """Return the query of `Sender.anything_to_claim`, built once. Parameters: `now`,
    `claim_now`."""
    when = Notification.due_at.type
    return select(
        exists().where(
            or_(
                (Notification.status == Status.PENDING)
                & (Notification.due_at <= bindparam("now", type_=when)),
                (Notification.status == Status.SENDING)
                & (Notification.claimed_until <= bindparam("claim_now", type_=when)),
            )
        )
    )


class _Renewal:
    """Keep one claim's rows claimed while this node is alive and working through them.

    Each row is renewed until its deadline: `claim_for` after the claim, or after its send
    started once it has. Rows this node no longer holds (sent, held back, withdrawn, or taken
    over after a late renewal) are left alone by the renewal's WHERE clause.
    """

    def __init__(self, sender: Sender, rows: list[Claimed], claimed_at: datetime) -> None:
        self._sessions = sender._sessions
        self._clock = sender._clock
        self._claim_clock = sender._claim_clock
        self._node = sender.node
        self._lease = sender.lease
        self._claim_for = sender.claim_for
        self._deadlines = {row.id: claimed_at + sender.claim_for for row in rows}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tocsin-claims", daemon=True)

    def __enter__(self) -> _Renewal:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def sending(self, rows: list[Claimed]) -> None:
        """Note that `rows` are being sent from now: the send may take `claim_for`."""
        deadline = self._clock.now() + self._claim_for
        with self._lock:
            for row in rows:
                self._deadlines[row.id] = max(self._deadlines.get(row.id, deadline), deadline)

    def forget(self, rows: list[Claimed]) -> None:
        """Stop renewing `rows`: this node will not send them (its claim ran out)."""
        with self._lock:
            for row in rows:
                self._deadlines.pop(row.id, None)

    def _run(self) -> None:
        while not self._stop.wait(self._lease.total_seconds() / 4):
            try:
                self.renew()
            except SQLAlchemyError as exc:  # the next renewal may get through; say so
                log.warning("could not renew the claim of %s: %s", self._node, exc)
            except Exception:
                # Whatever went wrong, a thread that ended here would let every claim of this
                # batch run out mid-send, and another node would send the same pages again.
                log.exception("could not renew the claim of %s", self._node)

    def renew(self) -> None:
        """Extend the claim of every row still being worked on by one lease."""
        now = self._clock.now()
        claim_now = self._claim_clock.now()
        with self._lock:
            self._deadlines = {i: d for i, d in self._deadlines.items() if d > now}
            until: dict[datetime, list[int]] = {}
            for row_id, deadline in self._deadlines.items():
                # The deadline is this node's own measure of how long a send may take; the
                # claim written is on the claim clock.
                left = deadline - now
                until.setdefault(claim_now + min(self._lease, left), []).append(row_id)
        if not until:
            return
        ours = (Notification.claimed_by == self._node) & (Notification.status == Status.SENDING)
        with self._sessions() as session, session.begin():
            # Row locks in id order, the order in which `record` updates them: no deadlock.
            session.execute(
                select(Notification.id)
                .where(Notification.id.in_([i for ids in until.values() for i in ids]), ours)
                .order_by(Notification.id)
                .with_for_update()
            )
            for claimed_until, ids in until.items():
                session.execute(
                    update(Notification)
                    .where(Notification.id.in_(ids), ours)
                    .values(claimed_until=claimed_until)
                    .execution_options(synchronize_session=False)
                )


class Sender:
    """Sends what is due; one `run_once` claims, sends and records.

    `claim_for` is the longest one send may hold its rows; `lease` how long a claim lasts
    unless renewed (never more than `claim_for`).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        adapter_for: AdapterFor,
        *,
        node: str = "tocsin",
        base_url: str = "",
        claim_for: timedelta = timedelta(seconds=60),
        lease: timedelta = LEASE,
        max_attempts: int = 8,
        backoff: timedelta = timedelta(seconds=5),
        max_backoff: timedelta = timedelta(minutes=10),
        batch: int = 100,
        secret_key: str | None = None,
        claim_clock: Clock | None = None,
        sms_per_hour: int | None = None,
        calls_per_minute: int | None = None,
    ) -> None:
        self._sessions = sessions
        # At most this many texts to one person in any hour, and calls in any minute; what
        # waits goes out together.
        self.sms_per_hour = sms_per_hour
        self.calls_per_minute = calls_per_minute
        self._clock = clock
        # Claims are compared between nodes: on PostgreSQL the composition root gives the
        # database's clock here, so skewed node clocks still agree on when a claim runs out.
        self._claim_clock = claim_clock or clock
        self._adapter_for = adapter_for
        self.node = node
        self.base_url = base_url
        self.claim_for = claim_for
        self.lease = min(lease, claim_for)
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.batch = batch
        self.secret_key = secret_key
        self._signing_key: bytes | None = None

    def warm(self) -> None:
        """Get ready to send, before the first page has to wait for it."""
        warm_http()

    def anything_to_claim(self, session: Session) -> bool:
        """Return True if a claim now could find a row: one due, or one whose claim ran out.

        A look in `session` (a read session will do) before `run_once`, whose claim is a write
        transaction: with nothing due, the engine's pass then writes nothing. It may say yes
        to rows the claim then passes over (those waiting for an earlier page), never no to
        one it would take.
        """
        return bool(
            session.scalar(
                _anything_to_claim(),
                {"now": self._clock.now(), "claim_now": self._claim_clock.now()},
            )
        )

    def run_once(self, only: Sequence[int] | None = None) -> int:
        """Send everything due now (of the rows `only` names, if given); return how many rows
        were handled."""
        claimed_at = self._clock.now()
        claimed, destinations = self.claim(only)
        if not claimed:
            return 0
        with _Renewal(self, claimed, claimed_at) as renewal:
            self._send(claimed, destinations, renewal)
        return len(claimed)

    def _send(self, claimed: list[Claimed], destinations: Destinations, renewal: _Renewal) -> None:
        groups: dict[tuple[str, int | None, int | None], list[Claimed]] = {}
        for row in claimed:
            # A swap notice goes alone too: bundled with pages it would take their incident
            # link, or lend them its own.
            key = (
                ("webhook", row.id, None)
                if row.webhook is not None
                or row.message.get("usergroup")
                or row.kind in (channels.KIND, swaps.KIND)
                else ("method", row.user_id, row.method_id)
            )
            groups.setdefault(key, []).append(row)
        for group in groups.values():
            rows = self._withdraw_stale(group, renewal)
            if not rows:
                continue
            method = destinations.of(rows[0])
            if method is None:
                what = "webhook" if rows[0].webhook is not None else "contact method"
                result = SendResult(Outcome.PERMANENT, f"the {what} was removed")
                self.record([(rows, result, "?")])
                continue
            if isinstance(method, ContactMethod) and (
                (method.throttle_seconds and self._hold(method, rows))
                or self._hold_for_cap(method, rows)
            ):
                continue
            try:
                result = self._deliver(method, rows)
            except Exception as exc:
                # A message that cannot be built or an adapter's bug fails this message alone.
                # Left SENDING, it would be claimed again and again, holding back the rest of
                # this batch and every later step of its incident (`waits_for_earlier_page`).
                log.exception(
                    "sending notifications %s via %s failed", [r.id for r in rows], method.name
                )
                result = SendResult(Outcome.PERMANENT, f"the sender failed: {exc!r}"[:500])
            # Recorded at once, message by message: if this node dies now, only the message
            # being sent can go out twice (with the same idempotency key), not the whole claim.
            self.record([(rows, result, method.name)])

    def _deliver(self, method: Destination, rows: list[Claimed]) -> SendResult:
        """Send `rows` as one message through `method`'s adapter; return what happened."""
        try:
            adapter = self._adapter_for(method)
        except TocsinError as exc:  # a misconfigured contact method
            return SendResult(Outcome.PERMANENT, exc.message)
        return adapter.send(self._message(rows, method))

    def _hold(self, method: ContactMethod, rows: list[Claimed]) -> bool:
        """Put rows back if this method's throttle forbids a message now; return True if held.

        The core's `paging.bundle` decides; held rows go out together, as one bundle, when the
        throttle allows the next message.
        """
        now = self._clock.now()
        with self._sessions() as session, session.begin():
            last = session.scalar(
                select(func.max(Notification.sent_at)).where(
                    Notification.contact_method_id == method.id
                )
            )
            pair = (str(rows[0].user_id), str(method.id))
            pending = [
                paging.Pending(str(r.id), pair[0], pair[1], now, str(r.message.get("subject")))
                for r in rows
            ]
            ready, later = paging.bundle(
                pending,
                now,
                {pair: last} if last is not None else {},
                timedelta(seconds=method.throttle_seconds or 0),
            )
            if ready:
                return False
            self._put_back(session, rows, later or now)
        return True

    def _cap(self, kind: str) -> tuple[int, timedelta] | None:
        """Return how many messages of a kind one person may get in how long, if capped."""
        if kind == ContactType.SMS and self.sms_per_hour:
            return self.sms_per_hour, timedelta(hours=1)
        if kind == ContactType.VOICE and self.calls_per_minute:
            return self.calls_per_minute, timedelta(minutes=1)
        return None

    def _hold_for_cap(self, method: ContactMethod, rows: list[Claimed]) -> bool:
        """Put rows back until their user's cap of texts (per hour) or calls (per minute) allows
        one more; return True if held. Held rows go out together as one text or call when it
        does: delayed, never dropped."""
        cap = self._cap(method.type)
        if cap is None:
            return False
        limit, window = cap
        now = self._clock.now()
        with self._sessions() as session, session.begin():
            # Every text or call made counts, answered or not: the cap is about the phone.
            sent = session.scalars(
                select(Notification.sent_at)
                .join(ContactMethod, ContactMethod.id == Notification.contact_method_id)
                .where(
                    ContactMethod.user_id == method.user_id,
                    ContactMethod.type == method.type,
                    Notification.sent_at > now - window,
                )
            ).all()
            release = paging.cap_release(
                [t for t in sent if t is not None], now, limit=limit, window=window
            )
            if release is None:
                return False
            self._put_back(session, rows, release)
        return True

    def _put_back(self, session: Session, rows: list[Claimed], due: datetime) -> None:
        """Return held rows to pending, due at `due`; held is not tried, so no attempt counts."""
        for claimed in rows:
            row = session.get(Notification, claimed.id)
            if row is not None and row.claimed_by == self.node:
                row.status = Status.PENDING
                row.due_at = due
                row.claimed_by = row.claimed_until = None
                row.attempts -= 1

    def _withdraw_stale(self, rows: list[Claimed], renewal: _Renewal) -> list[Claimed]:
        """Return the rows still to send now, each claimed for one more lease from now, and
        withdraw those that must not go out.

        Dropped: rows whose claim ran out (another node may have taken them over, or may take
        them at any moment: theirs, or claimed again later). Withdrawn: pages of an incident
        acknowledged or resolved since they were claimed, and resolve notices to a user no page
        of the incident reached (whose page was withdrawn, or failed).
        """
        now = self._clock.now()
        claim_now = self._claim_clock.now()
        with self._sessions() as session, session.begin():
            # Locked (on SQLite the write transaction already is), so that no other node can
            # claim a row between this check and the new deadline written below.
            stored = {
                row.id: row
                for row in session.scalars(
                    select(Notification)
                    .where(Notification.id.in_([r.id for r in rows]))
                    .order_by(Notification.id)
                    .with_for_update()
                )
            }
            ours = [
                r
                for r in rows
                if (row := stored.get(r.id)) is not None
                and row.claimed_by == self.node
                and row.status == Status.SENDING
            ]
            # A row that waited behind slow sends may have outlived its claim: another node's
            # `claim` counts it free, so sending it here could page its user twice.
            lost = {r.id for r in ours if (stored[r.id].claimed_until or claim_now) <= claim_now}
            renewal.forget([r for r in ours if r.id in lost])
            rows = [r for r in ours if r.id not in lost]
            incidents = {r.incident_id for r in rows if r.incident_id is not None}
            stopped: dict[int, str] = {}
            if any(r.kind == "page" for r in rows):
                for incident_id, resolved in session.execute(
                    select(Escalation.incident_id, Escalation.resolved).where(
                        Escalation.incident_id.in_(incidents),
                        Escalation.acknowledged.is_(True) | Escalation.resolved.is_(True),
                    )
                ):
                    stopped[incident_id] = "resolved" if resolved else "acknowledged"
            reached = {
                incident_id: paged_users(session, incident_id)
                for incident_id in {r.incident_id for r in rows if r.kind == "resolved"}
                if incident_id is not None
            }
            keep = []
            for claimed in rows:
                user = claimed.recipient
                why = None
                if claimed.kind == "page" and claimed.incident_id in stopped:
                    why = f"{stopped[claimed.incident_id]} before sending"
                    words = f"Withdrew the page to {user}: {why}"
                elif (
                    claimed.kind == "resolved"
                    and claimed.incident_id is not None
                    and user not in reached[claimed.incident_id]
                ):
                    why = "no page of this incident reached this user"
                    words = f"Did not tell {user} the incident is resolved: no page reached them"
                if why is None:
                    keep.append(claimed)
                    continue
                row = stored[claimed.id]
                row.status = Status.CANCELLED
                row.claimed_by = row.claimed_until = None
                row.last_error = why
                note(session, row, now, words)
            # Claimed afresh now, in the transaction that checked the claim: the renewal thread
            # may not run again for a quarter of a lease. The attempt counts from here, where
            # the send really starts: rows of a batch that a node died on before their turn
            # have not been tried, and must not run out of attempts for it.
            renewal.sending(keep)
            for claimed in keep:
                row = stored[claimed.id]
                row.claimed_until = claim_now + self.lease
                row.attempts += 1
        return keep

    def claim(self, only: Sequence[int] | None = None) -> tuple[list[Claimed], Destinations]:
        """Mark due rows as being sent by this node, until a deadline; return them.

        `only`: claim none but these rows (just written by this process), if they are due.
        """
        now = self._clock.now()
        claim_now = self._claim_clock.now()
        with self._sessions() as session, session.begin():
            if only is None:
                self._give_up_exhausted(session, now, claim_now)
            rows = session.scalars(
                _claim_statement(targeted=only is not None),
                {
                    "now": now,
                    "claim_now": claim_now,
                    "max_attempts": self.max_attempts,
                    "batch": self.batch,
                    **({"only": list(only)} if only is not None else {}),
                },
            ).all()
            claimed = []
            # The runbook scenario the incident's alerts name, read now: the alert row may have
            # been written after the page was queued, in the same transaction.
            incident_ids = {row.incident_id for row in rows if row.incident_id is not None}
            runbooks: dict[int, str] = {}
            if incident_ids:
                for incident_id, ref in session.execute(
                    select(Alert.incident_id, Alert.runbook)
                    .where(Alert.incident_id.in_(incident_ids), Alert.runbook.is_not(None))
                    .order_by(Alert.id)
                ):
                    if incident_id is not None and ref:
                        runbooks.setdefault(incident_id, ref)
            key = self._ack_key(session, now) if any(row.kind == "page" for row in rows) else b""
            for row in rows:
                row.status = Status.SENDING
                row.claimed_until = claim_now + self.lease
                row.claimed_by = self.node
                # Sent again (its last sender died): what the provider said of the last text
                # or call is not about the next one.
                row.provider_sid = row.provider_status = None
                token = None
                if row.kind == "page" and row.incident_id is not None:
                    number = str(row.message.get("incident", "")).removeprefix("INC-")
                    # Whoever acts on a webhook's call (a chat bot's button, a person reading
                    # the ticket it opened) acknowledges on behalf of the webhook.
                    actor = row.message.get("user") or f"webhook:{row.message.get('webhook')}"
                    if number.isdigit():
                        token = acklinks.make_token(
                            key, incident=int(number), user=str(actor), now=now
                        )
                claimed.append(
                    Claimed(
                        row.id,
                        row.idempotency_key,
                        row.incident_id,
                        row.user_id,
                        row.contact_method_id,
                        row.kind,
                        row.attempts,
                        dict(row.message),
                        token,
                        runbooks.get(row.incident_id) if row.incident_id is not None else None,
                        row.webhook_id,
                    )
                )
            ids = {row.contact_method_id for row in rows if row.contact_method_id is not None}
            hooks = {row.webhook_id for row in rows if row.webhook_id is not None}
            destinations = Destinations(
                {
                    m.id: m
                    for m in session.scalars(select(ContactMethod).where(ContactMethod.id.in_(ids)))
                }
                if ids
                else {},
                {w.id: w for w in session.scalars(select(Webhook).where(Webhook.id.in_(hooks)))}
                if hooks
                else {},
                channels.channel_ids(
                    session,
                    {
                        row.incident_id
                        for row in rows
                        if row.kind == channels.KIND and row.incident_id is not None
                    },
                ),
            )
            for found in [*destinations.methods.values(), *destinations.webhooks.values()]:
                session.expunge(found)
        return claimed, destinations

    def _ack_key(self, session: Session, now: datetime) -> bytes:
        """Return the key that signs acknowledge links, kept once stored: it never changes
        then. One made in this transaction is not kept until it is read back committed."""
        if self._signing_key is None:
            self._signing_key = (
                self.secret_key.encode() if self.secret_key else acklinks.stored_key(session)
            )
        return self._signing_key or acklinks.secret_key(session, now=now)

    def _give_up_exhausted(self, session: Session, now: datetime, claim_now: datetime) -> None:
        """Fail the rows whose every attempt ended with the claim running out.

        A node died (or hung) on each of those sends, perhaps because of the message itself:
        claimed again forever, such a page would be retried forever, and every later step of
        its incident would wait for it (`waits_for_earlier_page`).
        """
        rows = session.scalars(
            select(Notification)
            .where(
                Notification.status == Status.SENDING,
                Notification.claimed_until <= claim_now,
                Notification.attempts >= self.max_attempts,
            )
            .order_by(Notification.id)
            .limit(self.batch)
            .with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return
        ids = {row.contact_method_id for row in rows if row.contact_method_id is not None}
        names = {
            method.id: method.name
            for method in session.scalars(select(ContactMethod).where(ContactMethod.id.in_(ids)))
        }
        for row in rows:
            who = _who(row.message, row.user_id, names.get(row.contact_method_id or 0, "?"))
            detail = f"no send finished in {row.attempts} attempts"
            log.warning("gave up notification %s to %s: %s", row.id, who, detail)
            row.status = Status.FAILED
            row.claimed_by = row.claimed_until = None
            row.last_error = detail
            note(session, row, now, f"Could not notify {who}: {detail}")
        # Written before the claim below reads: later steps waiting on these go out now.
        session.flush()

    def _message(self, rows: list[Claimed], method: Destination | None = None) -> Message:
        first = rows[0].message
        incident = str(first.get("incident") or "") or None
        url = f"{self.base_url}/incidents/{incident}" if self.base_url and incident else None
        # A notice of no incident may name its own page (a swap request: its schedule's page).
        path = str(first.get("link") or "")
        if url is None and self.base_url and path.startswith("/"):
            url = self.base_url + path
        # A phone provider reports delivery, and a call's keys, back to us: naming the rows
        # in the URL finds them even before this send is recorded.
        kind = method.type if isinstance(method, ContactMethod) else None
        rows_ref = ".".join(str(r.id) for r in rows)
        hooks = f"{self.base_url}/hooks/twilio" if self.base_url and kind in PHONE_TYPES else None
        status_url = f"{hooks}/status?n={rows_ref}" if hooks else None
        # Keys act on incidents: only a page asks for them, not a notice or a reminder.
        pages = all(r.kind == "page" for r in rows)
        keys_url = (
            f"{hooks}/keys?n={rows_ref}" if hooks and kind == ContactType.VOICE and pages else None
        )
        token = rows[0].ack_token if len(rows) == 1 else None
        ack_url = f"{self.base_url}/ack/{token}" if self.base_url and token else None
        runbook = rows[0].runbook or ""
        runbook_url = None
        if self.base_url and "#" in runbook:
            service, _, slug = runbook.partition("#")
            runbook_url = f"{self.base_url}/api/v1/services/{service}/runbook#{slug}"
        if len(rows) == 1:
            return Message(
                idempotency_key=rows[0].key,
                subject=str(first["subject"]),
                text=str(first["text"])
                + (f"\nOpen: {url}" if url else "")
                + (f"\nAcknowledge in one click: {ack_url}" if ack_url else "")
                + (f"\nRunbook: {runbook_url}" if runbook_url else ""),
                severity=str(first.get("severity") or ""),
                incident=incident,
                service=str(first.get("service") or "") or None,
                url=url,
                ack_url=ack_url,
                runbook_url=runbook_url,
                policy=str(first["policy"]) if first.get("policy") else None,
                level=int(str(first["level"])) if first.get("level") is not None else None,
                status_url=status_url,
                keys_url=keys_url,
            )
        # One message listing everything due for this contact method, not one message each.
        subject = f"{len(rows)} notifications: " + str(first["subject"])
        return Message(
            idempotency_key="bundle-" + "-".join(sorted(r.key[:8] for r in rows))[:240],
            subject=subject[:200],
            text="\n".join(str(r.message["subject"]) for r in rows),
            severity=str(first.get("severity") or ""),
            incident=incident,
            url=url,
            items=tuple(str(r.message["subject"]) for r in rows),
            status_url=status_url,
            keys_url=keys_url,
        )

    def record(self, outcomes: list[tuple[list[Claimed], SendResult, str]]) -> None:
        """Store each outcome and put it on the incident's timeline."""
        now = self._clock.now()
        with self._sessions() as session, session.begin():
            # Locked, all at once in id order as every other writer locks them: a provider's
            # delivery report for these rows may be stored at the same moment
            # (`services.replies.delivery_report`).
            ids = sorted(claimed.id for rows, _result, _method in outcomes for claimed in rows)
            locked = {
                row.id: row
                for row in session.scalars(
                    select(Notification)
                    .where(Notification.id.in_(ids))
                    .order_by(Notification.id)
                    .with_for_update()
                    .execution_options(populate_existing=True)
                )
            }
            for rows, result, method in outcomes:
                for claimed in rows:
                    row = locked.get(claimed.id)
                    if row is None or row.claimed_by != self.node or row.status != Status.SENDING:
                        continue  # reclaimed by another node after our deadline: theirs now
                    who = claimed.who(method)
                    row.claimed_until = None
                    row.claimed_by = None
                    if result.reference is not None:
                        row.provider_sid = result.reference[:64]
                    if result.outcome is Outcome.SENT and row.kind == channels.KIND:
                        # Said in the channel: the timeline has it already, unless it is news.
                        row.sent_at = now
                        row.status, row.last_error = Status.SENT, ""
                        channels.sent(session, row, result.data, result.reference, now=now)
                        continue
                    if result.outcome is Outcome.SENT:
                        row.sent_at = now
                        lost = lost_on_the_way(session, row)
                        if lost is not None:  # reported lost before this send was recorded
                            row.last_error = lost
                            fail(session, row, now, f"Could not reach {who}: {lost}")
                            continue
                        row.status, row.last_error = Status.SENT, ""
                        note(
                            session,
                            row,
                            now,
                            f"Notified {who}"
                            + (" (resolved notice)" if row.kind == "resolved" else ""),
                        )
                        continue
                    # A receiver's answer is quoted back: a NUL in it would fail this commit.
                    detail = printable(result.detail)[:2000]
                    row.last_error = detail
                    if result.outcome is Outcome.TEMPORARY and row.attempts < self.max_attempts:
                        row.status = Status.PENDING
                        row.due_at = now + self._delay(row.attempts, result.retry_after)
                        continue
                    fail(session, row, now, f"Could not notify {who}: {detail}")

    def _delay(self, attempts: int, retry_after: float | None) -> timedelta:
        delay: timedelta = min(self.backoff * 2 ** (attempts - 1), self.max_backoff)
        if retry_after is not None:
            delay = max(
                delay, timedelta(seconds=min(retry_after, self.max_backoff.total_seconds()))
            )
        return delay


def note(session: Session, row: Notification, now: datetime, message: str) -> None:
    """Put what became of a notification on its incident's timeline."""
    if row.incident_id is None:
        return
    session.add(
        TimelineEvent(
            incident_id=row.incident_id,
            at=now,
            actor="tocsin",
            kind=EventKind.NOTIFIED.value,
            message=message,
            data={"notification": row.id, "status": row.status},
        )
    )


def lost_on_the_way(session: Session, row: Notification) -> str | None:
    """Return why a sent text or call reached no one, by the provider's last report, if so."""
    if not row.provider_status or row.contact_method_id is None:
        return None
    method = session.get(ContactMethod, row.contact_method_id)
    if method is None:
        return None
    receipt = phone.receipt(method.type, row.provider_status)
    return receipt.words if receipt.reached is False else None


def fail(session: Session, row: Notification, now: datetime, what: str) -> None:
    """Fail a notification for good and say so on the timeline, trying the user's next method
    at once when this was a page (`fall_through`)."""
    row.status = Status.FAILED
    row.claimed_by = row.claimed_until = None
    note(session, row, now, what + fall_through(session, row, now))


def fall_through(session: Session, row: Notification, now: datetime) -> str:
    """Bring the user's next page of this incident forward to now, after a page that failed for
    good: waiting out its delay would leave them unreached for nothing.

    Return what the timeline says of it ("" when there is no next method).
    """
    if row.kind != "page" or row.user_id is None or row.incident_id is None:
        return ""
    later = session.scalars(
        select(Notification)
        .where(
            Notification.incident_id == row.incident_id,
            Notification.user_id == row.user_id,
            Notification.kind == "page",
            Notification.status == Status.PENDING,
            Notification.due_at > now,
        )
        .order_by(Notification.due_at, Notification.id)
        .limit(1)
    ).first()
    if later is None:
        return ""
    later.due_at = now
    announce_work(session)
    method = (
        session.get(ContactMethod, later.contact_method_id)
        if later.contact_method_id is not None
        else None
    )
    return f"; trying {method.name if method else 'the next method'} now"


def next_due(session: Session) -> datetime | None:
    """Return when the next outbox row falls due, or a claim on one runs out."""
    message = session.scalar(
        select(func.min(Notification.due_at)).where(
            Notification.status == Status.PENDING,
            # a row waiting for an earlier page is due when that page is done (the loop polls)
            # or its claim runs out (`claimed` below), not at once: no busy loop meanwhile
            ~waits_for_earlier_page(),
        )
    )
    claimed = session.scalar(
        select(func.min(Notification.claimed_until)).where(Notification.status == Status.SENDING)
    )
    found = [t for t in (message, claimed) if t is not None]
    return min(found) if found else None
