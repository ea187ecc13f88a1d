"""Status-page subscriptions: subscribe, confirm, unsubscribe, and tell subscribers of notices.

The public pages (`web.status`) call `subscribe`, `confirm`, `change` and `unsubscribe`; the
incident flow and public maintenance call `announce`; administrators add and remove webhooks
from the CLI (`tocsin subscriber`) and the API. Messages are rows of the subscribers' lane
(`engine.subscribers`), queued in the caller's transaction, so a notice is sent if and only if
what it tells of was committed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tocsin.core import statuspage as page
from tocsin.core import subscriptions as core
from tocsin.core.audit import Action
from tocsin.core.incident import IncidentStatus, PublicStatus
from tocsin.core.statuspage import PublicIncident
from tocsin.core.subscriptions import Kind, MessageKind, Notice, Topic
from tocsin.engine.work import announce_work
from tocsin.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tocsin.store import access, acklinks, audit, statuspage
from tocsin.store import subscriptions as store
from tocsin.store.models import Incident, StatusSubscriber

_MESSAGE_KIND = {Topic.INCIDENT: MessageKind.UPDATE, Topic.MAINTENANCE: MessageKind.MAINTENANCE}


def announce(
    session: Session,
    *,
    topic: str,
    components: Collection[str],
    subject: str,
    text: str,
    link: str,
    event_key: str,
    now: datetime,
) -> int:
    """Queue one message to every confirmed subscriber interested in any of `components`
    (status-component slugs; empty: it concerns everyone), in the caller's transaction; return
    how many were queued. `topic` is "incident" or "maintenance"; `link` is the absolute public
    URL of the incident/maintenance (a path such as "/status/incidents/7" is made absolute
    with the configured public address when sent); `event_key` makes it idempotent (a second
    call with the same key queues nothing for a subscriber already queued)."""
    try:
        kind = Topic(topic)
    except ValueError:
        raise InvalidInput(f"no notice topic {topic!r}: incident or maintenance") from None
    notice = Notice(
        topic=kind,
        subject=subject,
        text=text,
        link=link,
        event_key=event_key,
        components=tuple(sorted(set(components))),
    )
    audience = [
        s for s in store.confirmed(session) if core.interested(s.components, notice.components)
    ]
    keys = {s.id: core.idempotency_key(event_key, s.id) for s in audience}
    already = store.queued_keys(session, keys.values())
    queued = 0
    body = notice.as_json()
    for subscriber in audience:
        if keys[subscriber.id] in already:
            continue
        store.add_message(
            session,
            subscriber=subscriber,
            kind=_MESSAGE_KIND[kind].value,
            idempotency_key=keys[subscriber.id],
            message=body,
            now=now,
        )
        queued += 1
    if queued:
        announce_work(session)
    return queued


# ---- the incident flow (followers of `services.events`) ---------------------------------


def _published(session: Session, incident: Incident) -> tuple[PublicIncident, list[str]] | None:
    """Return the incident as the status page shows it, with the slugs of its components; None
    if customers never saw it (never published, or a drill)."""
    if incident.is_drill:
        return None
    facts = statuspage.incident_facts(session, since=datetime.min, numbers=[incident.number])
    if not facts:
        return None
    components = statuspage.components(session)
    shown = page.public(facts[0], components)
    if shown is None:
        return None
    slugs = [c.slug for c in components if c.services & facts[0].services]
    return shown, slugs


def _resolution_key(incident: Incident) -> str:
    # One per resolution: reopened and resolved again, it is news again.
    at = incident.resolved_at or incident.updated_at
    return f"incident:{incident.number}:resolved:{int(at.timestamp())}"


def on_public_update(session: Session, incident: Incident, *, now: datetime) -> int:
    """Tell the subscribers of the incident's components of the public update just posted, in
    the words of the status page; return how many messages were queued."""
    found = _published(session, incident)
    if found is None:
        return 0
    shown, slugs = found
    latest = store.latest_public_update(session, incident.id)
    if latest is None or latest.public_status is None:
        return 0
    status = PublicStatus(latest.public_status)
    key = f"status-update:{latest.id}"
    if status is PublicStatus.RESOLVED and not IncidentStatus(incident.status).is_open:
        # Resolved inside Tocsin first: subscribers were told then, under this key; once.
        key = _resolution_key(incident)
    subject, text = core.incident_notice(
        title=shown.title,
        status=status.value,
        message=latest.message,
        components=shown.components,
    )
    return announce(
        session,
        topic=Topic.INCIDENT,
        components=slugs,
        subject=subject,
        text=text,
        link=_incident_link(incident.number),
        event_key=key,
        now=now,
    )


def on_resolved(session: Session, incident: Incident, *, now: datetime) -> int:
    """Tell subscribers a public incident is over when it was resolved inside Tocsin without a
    public "resolved" update (the status page shows it resolved all the same)."""
    found = _published(session, incident)
    if found is None:
        return 0
    shown, slugs = found
    if shown.updates[0].status is PublicStatus.RESOLVED:
        return 0  # the public update said so, and its notice went out with it
    subject, text = core.resolution_notice(title=shown.title, components=shown.components)
    return announce(
        session,
        topic=Topic.INCIDENT,
        components=slugs,
        subject=subject,
        text=text,
        link=_incident_link(incident.number),
        event_key=_resolution_key(incident),
        now=now,
    )


def _incident_link(number: int) -> str:
    # A path: the lane makes it absolute with the configured public address when it sends.
    return f"/status/incidents/{number}"


# ---- the public form -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscribed:
    """What the subscribe form answers: nothing about the address, only whether the client
    must wait (`retry_at`, over its own limit) and, for tests and logs, whether mail was queued.
    """

    retry_at: datetime | None = None
    mailed: bool = False


def component_slugs(session: Session) -> list[str]:
    """Return the slugs of the status components subscribers may choose from."""
    return [c.slug for c in statuspage.components(session)]


def _key(session: Session, now: datetime, override: str | None) -> bytes:
    return acklinks.secret_key(session, now=now, override=override)


def _checked(
    session: Session,
    normalise: Callable[[str], str],
    address: str,
    components: Collection[str],
) -> tuple[str, list[str]]:
    """Return the normalised address and the chosen components, or raise InvalidInput listing
    every problem of both."""
    problems: list[str] = []
    normalised = ""
    chosen: list[str] = []
    try:
        normalised = normalise(address)
    except InvalidInput as exc:
        problems += exc.problems
    try:
        chosen = core.check_components(components, component_slugs(session))
    except InvalidInput as exc:
        problems += exc.problems
    if problems:
        raise InvalidInput.of(problems)
    return normalised, chosen


def subscribe(
    session: Session,
    *,
    address: str,
    components: Collection[str],
    client: str,
    now: datetime,
    secret_key: str | None = None,
) -> Subscribed:
    """Ask for an email subscription from the public form, within the limits.

    `client` is who asks (the form passes the client's address, as the login throttle counts
    it); it is kept only as a keyed hash. Raises InvalidInput for a malformed address or an
    unknown component (nothing recorded); otherwise the answer says nothing of the address.
    """
    normalised, chosen = _checked(session, core.normalise_email, address, components)
    key = _key(session, now, secret_key)
    client_key = core.keyed_hash(key, f"client:{client}")
    verdict = core.client_allowed(
        store.attempts_by_client(session, client_key=client_key, since=now - timedelta(hours=1)),
        now=now,
    )
    if not verdict.allowed:
        return Subscribed(retry_at=verdict.retry_at)
    # An attempt that mails a confirmation is recorded under its mailbox, the others under no
    # address: the per-address limits count the mails one mailbox was sent, whichever spelling
    # of it ("Jane+1@", "jane+2@") each request used.
    mailbox_key = core.keyed_hash(key, f"address:{core.mailbox(normalised)}")
    address_key = core.address_key(Kind.EMAIL, normalised)
    subscriber = store.get_by_address_key(session, kind=Kind.EMAIL, address_key=address_key)
    if subscriber is not None and subscriber.confirmed_at is not None:
        # Already subscribed: nothing is mailed, or the form would mail anyone on the list at
        # will. Every message they get carries the link to change or end it.
        store.add_attempt(session, address_key="", client_key=client_key, now=now)
        return Subscribed()
    sent = store.attempts_by_address(
        session, address_key=mailbox_key, since=now - timedelta(days=1)
    )
    if not core.may_send_confirmation(sent, now=now):
        store.add_attempt(session, address_key="", client_key=client_key, now=now)
        return Subscribed()
    store.add_attempt(session, address_key=mailbox_key, client_key=client_key, now=now)
    if subscriber is None:
        subscriber = StatusSubscriber(
            kind=Kind.EMAIL.value,
            address=normalised,
            address_key=address_key,
            components=chosen,
            token=secrets.token_urlsafe(32),
            secret="",
            created_at=now,
        )
        try:
            with session.begin_nested():
                session.add(subscriber)
                session.flush()
        except IntegrityError:
            # The same address asked at the same instant from elsewhere: that request mails.
            return Subscribed()
    else:
        # A new link: the one in an earlier mail, expired or not, must not work again.
        subscriber.token = secrets.token_urlsafe(32)
    subscriber.components = chosen
    subscriber.confirm_sent_at = now
    subscriber.confirm_expires_at = now + core.CONFIRM_LIFETIME
    session.flush()
    store.add_message(
        session,
        subscriber=subscriber,
        kind=MessageKind.CONFIRM.value,
        idempotency_key=f"confirm:{subscriber.id}:{int(now.timestamp())}",
        message={"expires_at": subscriber.confirm_expires_at.isoformat()},
        now=now,
    )
    announce_work(session)
    return Subscribed(mailed=True)


class Confirmation(StrEnum):
    """What opening a confirmation link did."""

    CONFIRMED = "confirmed"
    ALREADY = "already"
    EXPIRED = "expired"


def confirm(session: Session, token: str, *, now: datetime) -> Confirmation:
    """Confirm the subscription whose link carries `token`; raise NotFound for an unknown one."""
    subscriber = _by_token(session, token)
    if subscriber.confirmed_at is not None:
        return Confirmation.ALREADY
    if subscriber.confirm_expires_at is None or subscriber.confirm_expires_at <= now:
        return Confirmation.EXPIRED
    subscriber.confirmed_at = now
    subscriber.confirm_expires_at = None
    return Confirmation.CONFIRMED


def get(session: Session, token: str) -> StatusSubscriber:
    """Return the subscription whose link carries `token`, or raise NotFound."""
    return _by_token(session, token)


def change(session: Session, token: str, components: Collection[str]) -> StatusSubscriber:
    """Set which components the subscription of `token` hears of (none chosen: all)."""
    subscriber = _by_token(session, token)
    subscriber.components = core.check_components(components, component_slugs(session))
    return subscriber


def unsubscribe(session: Session, token: str) -> None:
    """End the subscription of `token` at once: its row and its queued messages go."""
    session.delete(_by_token(session, token))


def _by_token(session: Session, token: str) -> StatusSubscriber:
    subscriber = store.get_by_token(session, token)
    if subscriber is None:
        raise NotFound("no such subscription: the link is unknown, expired, or already used")
    return subscriber


# ---- administrators --------------------------------------------------------------------

_AUDIT_KIND = "status subscriber"


def _require_admin(session: Session) -> None:
    principal = access.principal_in(session)
    if principal is not None and not principal.unrestricted:
        raise PermissionDenied(
            f"@{principal.handle} may not manage status-page subscribers: administrators only"
        )


@dataclass(frozen=True, slots=True)
class Listed:
    """One subscriber as administrators see it: never the whole address."""

    id: int
    kind: Kind
    address: str  # masked
    components: list[str]
    confirmed: bool
    created_at: datetime
    pending: int
    failed: int


@dataclass(frozen=True, slots=True)
class Listing:
    """Every subscriber, and how many there are of each kind."""

    subscribers: list[Listed]
    email_confirmed: int
    email_unconfirmed: int
    webhooks: int


def list_(session: Session) -> Listing:
    """Return every subscriber with masked addresses, and the counts."""
    _require_admin(session)
    backlog = store.message_counts(session)
    listed = [
        Listed(
            id=s.id,
            kind=Kind(s.kind),
            address=core.mask(Kind(s.kind), s.address),
            components=list(s.components),
            confirmed=s.confirmed_at is not None,
            created_at=s.created_at,
            pending=backlog.get((s.id, "pending"), 0) + backlog.get((s.id, "sending"), 0),
            failed=backlog.get((s.id, "failed"), 0),
        )
        for s in store.list_(session)
    ]
    return Listing(
        subscribers=listed,
        email_confirmed=sum(1 for s in listed if s.kind is Kind.EMAIL and s.confirmed),
        email_unconfirmed=sum(1 for s in listed if s.kind is Kind.EMAIL and not s.confirmed),
        webhooks=sum(1 for s in listed if s.kind is Kind.WEBHOOK),
    )


@dataclass(frozen=True, slots=True)
class AddedWebhook:
    """A webhook just added, with its signing secret (shown this once)."""

    subscriber: StatusSubscriber
    secret: str


def add_webhook(
    session: Session, *, url: str, components: Collection[str], now: datetime
) -> AddedWebhook:
    """Add a webhook subscriber, active at once; return it with its new signing secret."""
    _require_admin(session)
    normalised, chosen = _checked(session, core.normalise_url, url, components)
    address_key = core.address_key(Kind.WEBHOOK, normalised)
    if store.get_by_address_key(session, kind=Kind.WEBHOOK, address_key=address_key):
        raise Conflict(f"the webhook {core.mask(Kind.WEBHOOK, normalised)} is already subscribed")
    secret = secrets.token_hex(32)
    subscriber = StatusSubscriber(
        kind=Kind.WEBHOOK.value,
        address=normalised,
        address_key=address_key,
        components=chosen,
        token=secrets.token_urlsafe(32),
        secret=secret,
        created_at=now,
        confirmed_at=now,
    )
    session.add(subscriber)
    session.flush()
    audit.record(
        session,
        Action.CREATED,
        _AUDIT_KIND,
        f"#{subscriber.id} {core.mask(Kind.WEBHOOK, normalised)}",
        {"components": [None, chosen or "all"]},
    )
    return AddedWebhook(subscriber, secret)


def remove(session: Session, subscriber_id: int) -> None:
    """Remove subscriber `subscriber_id` (email or webhook) and its queued messages."""
    _require_admin(session)
    subscriber = store.get(session, subscriber_id)
    if subscriber is None:
        raise NotFound(f"no status-page subscriber {subscriber_id}")
    kind = Kind(subscriber.kind)
    audit.record(
        session,
        Action.DELETED,
        _AUDIT_KIND,
        f"#{subscriber.id} {core.mask(kind, subscriber.address)}",
    )
    session.delete(subscriber)


# ---- housekeeping, as one kind of the engine's due work ----------------------------------


def update_all(session: Session, *, now: datetime) -> int:
    """Delete unconfirmed subscriptions a day after their link expired (until then the link
    says it expired, rather than that it is unknown), and rate-limit records past use."""
    expired, old = store.purge(session, before=now - core.ATTEMPT_RETENTION)
    return expired + old


def next_due(session: Session) -> datetime | None:
    """Return when `update_all` next has something to delete."""
    return store.next_purge(session, retention=core.ATTEMPT_RETENTION)
