"""Status-page subscriptions, decided from values: addresses, interests, limits and messages.

Someone outside subscribes with an email address (double opt-in: nothing is sent but the
confirmation until its link is opened) or an administrator adds a webhook. A subscriber names
the status components it cares about; none named means all of them, and a notice that names no
component concerns everyone.

The subscribe form must not become a way to mail-bomb an address or to learn who subscribed:
the limits below are decided here from counts and times the caller reads, and the form's answer
is the same whatever they decide (only a client over its own limit is told to wait).

Messages carry only public words: the public title and update text, component names and the
public link, exactly what the status page shows. Every email carries its unsubscribe link in
the body and in the `List-Unsubscribe` / `List-Unsubscribe-Post` headers (RFC 2369, RFC 8058).

Webhook bodies are signed like this, so a receiver can tell they are ours and fresh::

    X-Tocsin-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

A receiver splits the header on commas, recomputes the HMAC over the timestamp, a dot and the
raw body bytes with the secret shown when the webhook was added, compares it in constant time
with `v1`, and refuses a timestamp more than a few minutes old (a replayed delivery).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from html import escape
from typing import Any
from urllib.parse import urlsplit

from tocsin.errors import InvalidInput

# The confirmation link of an email subscription is good for a day.
CONFIRM_LIFETIME = timedelta(hours=24)
# No second confirmation mail to one address within a minute (a double click, a reload)...
RESEND_INTERVAL = timedelta(seconds=60)
# ...and at most this many to one address in a day, whoever asks.
CONFIRMATIONS_PER_DAY = 3
# One client may use the form this often an hour; a person needs one or two.
ATTEMPTS_PER_CLIENT_HOUR = 10
# Rate-limit records are kept this long, which is the longest window above.
ATTEMPT_RETENTION = timedelta(days=1)

EMAIL_MAX = 254  # RFC 5321's limit on a forward path
URL_MAX = 2000  # the column's length
SIGNATURE_HEADER = "X-Tocsin-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"

_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+\.[^@\s<>()\[\],;:\"\\.]+$")


class Kind(StrEnum):
    """How a subscriber hears: by email or by webhook."""

    EMAIL = "email"
    WEBHOOK = "webhook"


class Topic(StrEnum):
    """What a notice is about."""

    INCIDENT = "incident"
    MAINTENANCE = "maintenance"


class MessageKind(StrEnum):
    """What a queued subscriber message is: the values `SubscriberMessage.kind` holds."""

    CONFIRM = "confirm"
    UPDATE = "update"
    MAINTENANCE = "maintenance"


class MessageStatus(StrEnum):
    """Where a queued subscriber message is: the values `SubscriberMessage.status` holds."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


def normalise_email(address: str) -> str:
    """Return `address` trimmed with its domain lower-cased, or raise InvalidInput."""
    address = address.strip()
    if not address:
        raise InvalidInput("enter an email address")
    if len(address) > EMAIL_MAX:
        raise InvalidInput(f"an email address has at most {EMAIL_MAX} characters")
    if not _EMAIL.match(address) or any(ord(c) < 32 for c in address):
        raise InvalidInput(f"{address!r} is not an email address")
    local, domain = address.rsplit("@", 1)
    # The local part may be case-sensitive (RFC 5321 2.4); the domain never is.
    return f"{local}@{domain.lower()}"


def normalise_url(url: str) -> str:
    """Return a webhook URL trimmed, http or https with a host, or raise InvalidInput."""
    url = url.strip()
    if not url:
        raise InvalidInput("enter a webhook URL")
    if len(url) > URL_MAX:
        raise InvalidInput(f"a webhook URL has at most {URL_MAX} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        raise InvalidInput(f"{url!r} is not a URL") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(f"a webhook URL must start with http:// or https://, not {url!r}")
    if not parts.hostname:
        raise InvalidInput(f"the webhook URL {url!r} has no host")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise InvalidInput(f"the webhook URL {url!r} contains spaces or control characters")
    return url


def address_key(kind: Kind, normalised: str) -> str:
    """Return the key one address is known by (unique per kind): a SHA-256 of it."""
    # Email addresses compare without case in practice, though RFC 5321 allows otherwise:
    # one person should not be two subscribers because of a capital letter.
    text = normalised.lower() if kind is Kind.EMAIL else normalised
    return hashlib.sha256(f"{kind.value}:{text}".encode()).hexdigest()


def mailbox(normalised: str) -> str:
    """Return the mailbox an email address delivers to, as the per-address limits count it:
    without case and without a "+tag" (most providers deliver `jane+x@` to `jane@`), so that
    variants of one address cannot each be sent their own confirmations."""
    local, _, domain = normalised.lower().rpartition("@")
    return f"{local.split('+', 1)[0] or local}@{domain}"


def keyed_hash(key: bytes, value: str) -> str:
    """Return the keyed hash a client or address is counted under (nothing to reverse)."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def mask(kind: Kind, address: str) -> str:
    """Return an address as administrators see it in lists: `j***@example.com`."""
    if kind is Kind.EMAIL:
        local, _, domain = address.rpartition("@")
        return f"{local[:1]}***@{domain}"
    parts = urlsplit(address)
    return f"{parts.scheme}://{parts.hostname or ''}/***"


def check_components(chosen: Collection[str], known: Collection[str]) -> list[str]:
    """Return the chosen component slugs in a stable order, or raise InvalidInput."""
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise InvalidInput(f"no status component {', '.join(unknown)}")
    return sorted(set(chosen))


def interested(subscribed: Collection[str], notice: Collection[str]) -> bool:
    """Return whether a subscriber of `subscribed` components hears of a notice on `notice`."""
    if not subscribed or not notice:
        return True
    return bool(set(subscribed) & set(notice))


# ---- rate limits -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientVerdict:
    """Whether a client may use the form now; if not, when it may again."""

    allowed: bool
    retry_at: datetime | None = None


def client_allowed(attempts: Sequence[datetime], *, now: datetime) -> ClientVerdict:
    """Decide whether a client with `attempts` (its uses of the form) may use it now."""
    window = [a for a in attempts if a > now - timedelta(hours=1)]
    if len(window) < ATTEMPTS_PER_CLIENT_HOUR:
        return ClientVerdict(True)
    oldest = sorted(window)[len(window) - ATTEMPTS_PER_CLIENT_HOUR]
    return ClientVerdict(False, oldest + timedelta(hours=1))


def may_send_confirmation(sent: Sequence[datetime], *, now: datetime) -> bool:
    """Decide whether an address that was sent confirmations at `sent` may get one more now."""
    day = [s for s in sent if s > now - timedelta(days=1)]
    if len(day) >= CONFIRMATIONS_PER_DAY:
        return False
    return not any(s > now - RESEND_INTERVAL for s in day)


# ---- messages --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notice:
    """One public notice to subscribers, as queued: only public words."""

    topic: Topic
    subject: str
    text: str
    link: str
    event_key: str
    components: tuple[str, ...]

    def absolute(self, base_url: str) -> Notice:
        """Return the notice with its link made absolute, if it is a path of this site."""
        if not self.link.startswith("/"):
            return self
        return replace(self, link=base_url.rstrip("/") + self.link)

    def as_json(self) -> dict[str, Any]:
        """Return the notice as stored in `SubscriberMessage.message`."""
        return {
            "topic": self.topic.value,
            "subject": self.subject,
            "text": self.text,
            "link": self.link,
            "event": self.event_key,
            "components": list(self.components),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Notice:
        """Return the notice stored by `as_json`."""
        return cls(
            topic=Topic(data["topic"]),
            subject=str(data["subject"]),
            text=str(data["text"]),
            link=str(data["link"]),
            event_key=str(data["event"]),
            components=tuple(str(c) for c in data.get("components", ())),
        )


def incident_notice(
    *, title: str, status: str, message: str, components: Sequence[str]
) -> tuple[str, str]:
    """Return (subject, text) of a public incident update, in the status page's words."""
    label = status.replace("_", " ").capitalize()
    subject = f"[{label}] {title}"
    lines = [title, "", f"Status: {label}"]
    if components:
        lines.append(f"Affected: {', '.join(components)}")
    if message:
        lines += ["", message]
    return subject, "\n".join(lines)


def resolution_notice(*, title: str, components: Sequence[str]) -> tuple[str, str]:
    """Return (subject, text) telling subscribers an incident is over, with no public words."""
    lines = [title, "", "Status: Resolved", "", "This incident has been resolved."]
    if components:
        lines.insert(3, f"Affected: {', '.join(components)}")
    return f"[Resolved] {title}", "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Email:
    """A rendered email to one subscriber."""

    subject: str
    text: str
    html: str
    headers: dict[str, str]


def _html(paragraphs: Sequence[str], links: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<p>{escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    body += "".join(f'<p><a href="{escape(url)}">{escape(label)}</a></p>' for label, url in links)
    return f'<!doctype html><html><body style="font-family:sans-serif">{body}</body></html>'


def unsubscribe_headers(unsubscribe_url: str) -> dict[str, str]:
    """Return the one-click unsubscribe headers of RFC 2369 and RFC 8058."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def notice_email(notice: Notice, *, page_title: str, unsubscribe_url: str) -> Email:
    """Return the email of `notice` to one subscriber, with its own unsubscribe link."""
    footer = (
        f"You receive this because you subscribed to updates of {page_title}.\n"
        f"Unsubscribe or choose components: {unsubscribe_url}"
    )
    return Email(
        subject=notice.subject,
        text=f"{notice.text}\n\nDetails: {notice.link}\n\n--\n{footer}\n",
        html=_html(
            [*notice.text.split("\n\n"), footer.split("\n")[0]],
            [("Details", notice.link), ("Unsubscribe or choose components", unsubscribe_url)],
        ),
        headers=unsubscribe_headers(unsubscribe_url),
    )


def confirmation_email(
    *, page_title: str, confirm_url: str, unsubscribe_url: str, expires_at: datetime
) -> Email:
    """Return the mail asking to confirm a subscription (it names no address)."""
    text = (
        f"Someone, hopefully you, asked to receive status updates of {page_title} at this "
        "address.\n\n"
        f"To confirm, open this link (valid until {expires_at:%Y-%m-%d %H:%M} UTC):\n"
        f"{confirm_url}\n\n"
        "If you did not ask for this, ignore this mail: nothing more will be sent."
    )
    return Email(
        subject=f"Confirm your subscription to {page_title}",
        text=f"{text}\n\n--\nCancel this request: {unsubscribe_url}\n",
        html=_html(
            [
                f"Someone, hopefully you, asked to receive status updates of {page_title} at "
                "this address.",
                f"The link is valid until {expires_at:%Y-%m-%d %H:%M} UTC. If you did not ask "
                "for this, ignore this mail: nothing more will be sent.",
            ],
            [("Confirm my subscription", confirm_url), ("Cancel this request", unsubscribe_url)],
        ),
        headers=unsubscribe_headers(unsubscribe_url),
    )


def webhook_body(notice: Notice, *, sent_at: datetime) -> bytes:
    """Return the JSON body of `notice` for a webhook subscriber."""
    data = {
        "type": notice.topic.value,
        "id": notice.event_key,
        "subject": notice.subject,
        "text": notice.text,
        "link": notice.link,
        "components": list(notice.components),
        "sent_at": sent_at.isoformat().replace("+00:00", "Z"),
    }
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, body: bytes, *, at: datetime) -> str:
    """Return the `X-Tocsin-Signature` header value of `body` sent at `at`."""
    stamp = int(at.timestamp())
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def verify(secret: str, body: bytes, header: str, *, now: datetime, tolerance: int = 300) -> bool:
    """Return whether `header` signs `body` with `secret` within `tolerance` seconds of `now`.

    What a receiver does; kept here so the contract above is tested as a receiver uses it.
    """
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        stamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now.timestamp() - stamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", ""))


def idempotency_key(event_key: str, subscriber_id: int) -> str:
    """Return the idempotency key of one notice to one subscriber (at most 80 characters)."""
    key = f"{event_key}:{subscriber_id}"
    if len(key) <= 80:
        return key
    digest = hashlib.sha256(event_key.encode()).hexdigest()[:40]
    return f"{digest}:{subscriber_id}"
