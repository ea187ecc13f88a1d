"""Notification delivery: one protocol, `Adapter`, and the values it speaks in.

The adapters live in submodules: `tocsin.notify.webhook`, `tocsin.notify.slack`,
`tocsin.notify.smtp` and `tocsin.notify.console`. Deciding *when* to send, and when to retry, is
the caller's business; an adapter makes exactly one delivery attempt and says how it went.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from tocsin.errors import InvalidInput

__all__ = [
    "Adapter",
    "Message",
    "Outcome",
    "SendResult",
    "http_outcome",
    "parse_retry_after",
    "sign",
    "verify",
]

# The key travels in an HTTP header (RFC 9110 §5.5 field value) and a mail header, so it is kept
# to visible ASCII; 255 leaves room under every receiver's header size limit.
_MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Message:
    """One notification, rendered by each adapter in its own format.

    Line breaks in `subject` and in each of `items` are folded into single spaces. A blank
    subject, or an `idempotency_key` that is not 1-255 visible ASCII characters, raises
    `InvalidInput`.
    """

    idempotency_key: str
    subject: str
    text: str
    severity: str
    incident: str | None = None
    service: str | None = None
    url: str | None = None
    ack_url: str | None = None
    runbook_url: str | None = None
    items: tuple[str, ...] = ()
    # Set when an escalation level calls a webhook: which policy, and which level (from 1).
    policy: str | None = None
    level: int | None = None
    # Where a phone provider reports how the text or call went (delivered, no answer), and
    # where a call sends the key the person pressed; set for phone methods when Tocsin has a
    # public URL.
    status_url: str | None = None
    keys_url: str | None = None

    def __post_init__(self) -> None:
        # The subject becomes a mail header and a Slack header block, and each item one line
        # of a list; a line break would be refused by `email` (its header-injection guard) or
        # would break the layout. Subjects carry alert titles written by other systems, so
        # breaks are folded into spaces here rather than failing the page.
        object.__setattr__(self, "subject", _one_line(self.subject))
        object.__setattr__(self, "items", tuple(_one_line(item) for item in self.items))
        problems = []
        key = self.idempotency_key
        if not key or len(key) > _MAX_KEY_LENGTH or not all("!" <= c <= "~" for c in key):
            limit = _MAX_KEY_LENGTH
            problems.append(f"idempotency_key must be 1-{limit} visible ASCII characters: {key!r}")
        if not self.subject:
            problems.append("subject must not be blank")
        if problems:
            raise InvalidInput.of(problems)


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


class Outcome(StrEnum):
    """How one delivery attempt ended."""

    SENT = "sent"
    TEMPORARY = "temporary"
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one delivery attempt, with a human-readable reason."""

    outcome: Outcome
    detail: str
    retry_after: float | None = None
    # The peer's id of what it accepted (an SMS's MessageSid, a call's CallSid), which its
    # later delivery reports name.
    reference: str | None = None
    # What else the peer answered that Tocsin keeps (a message's text read back from a chat).
    data: dict[str, str] | None = None


@runtime_checkable
class Adapter(Protocol):
    """Deliver one `Message` to one destination, and classify what happened.

    Contract of `send(message)`:

    * **One attempt.** `send` makes exactly one delivery attempt. It never retries, sleeps or
      queues: retry policy (backoff, give-up time, fallback to another channel) belongs to the
      caller, which has the clock and the escalation policy.

    * **Never raises for delivery failures.** Anything the network or the peer can do to us --
      refused or reset connections, DNS failures, timeouts, error statuses, SMTP refusals -- is
      returned as a `SendResult`. An exception out of `send` means a bug in Tocsin. Bad
      configuration (a malformed URL, an address without a domain) is refused with
      `tocsin.errors.InvalidInput` when the adapter is *constructed*, not at send time, and a
      `Message` no transport can carry (a blank subject, a key that is not visible ASCII) is
      refused when the `Message` is built.

    * **Outcomes.**

      - `Outcome.SENT`: the peer took responsibility for the message (HTTP 2xx, SMTP 250 after
        DATA). It says nothing about whether a human has read it.
      - `Outcome.TEMPORARY`: the attempt failed in a way that may clear up by itself (timeout,
        connection refused or reset, DNS failure, HTTP 408/425/429/5xx, SMTP 4xx). Send the
        *same* `Message` again later; when `retry_after` is set the peer asked for that many
        seconds of quiet, and the caller should wait at least that long.
      - `Outcome.PERMANENT`: sending the same message the same way cannot succeed (other HTTP
        4xx, SMTP 5xx such as a recipient refused with 550, bad credentials). Do not retry;
        show `detail` to an operator and fall back to another channel.

    * **Ambiguity resolves to TEMPORARY.** When the request may have reached the peer but no
      answer came back (a read timeout), the outcome is TEMPORARY: a duplicate page is cheaper
      than a lost one. To let peers drop duplicates, every retry of one notification must reuse
      the same `Message`, hence the same `idempotency_key`, which adapters forward
      (`Idempotency-Key` header, a deterministic mail `Message-ID`).

    * **Bounded time.** Connecting and every read and write are bounded by the adapter's
      `timeout`; host name resolution is left to the system resolver.

    * **Lifetime.** An adapter is built once per destination and used for many sends (the
      outbox keeps one per contact method). The adapters in this package may be shared by
      several threads. `close()` releases what the adapter keeps open (the webhook and Slack
      adapters' connection pools); an adapter that keeps nothing open does nothing there.

    `detail` is one line for humans ("HTTP 503 from receiver", "550 mailbox unavailable"); do
    not parse it.

    Example -- an adapter that keeps messages in memory, and a caller honouring the contract::

        class Memory:
            def __init__(self) -> None:
                self.messages: list[Message] = []

            def send(self, message: Message) -> SendResult:
                self.messages.append(message)
                return SendResult(Outcome.SENT, "kept in memory")

            def close(self) -> None:
                pass

        result = adapter.send(message)
        if result.outcome is Outcome.TEMPORARY:
            retry_at = now + max(backoff, result.retry_after or 0.0)  # same message, same key
        elif result.outcome is Outcome.PERMANENT:
            log.error("page %s not delivered: %s", message.idempotency_key, result.detail)
    """

    def send(self, message: Message) -> SendResult:
        """Make one delivery attempt and classify its outcome."""
        ...

    def close(self) -> None:
        """Release what the adapter keeps open; it is not used after this."""
        ...


def sign(body: bytes, secret: str) -> str:
    """Return the signature header value "sha256=<hex HMAC-SHA256 of body>" for a body."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(body: bytes, secret: str, signature: str) -> bool:
    """Return whether a signature header value matches the body, in constant time."""
    # compare_digest refuses non-ASCII str; comparing bytes keeps a hostile header from raising.
    return hmac.compare_digest(sign(body, secret).encode("ascii"), signature.encode("utf-8"))


# RFC 9110 §15.5.9 (408), RFC 8470 §5.2 (425 Too Early) and RFC 6585 §4 (429) all invite the
# client to repeat the request; every other 4xx says the request itself is at fault.
_RETRYABLE_CLIENT_ERRORS = frozenset({408, 425, 429})


def http_outcome(status: int) -> Outcome:
    """Classify an HTTP response status for a notification POST."""
    if 200 <= status <= 299:
        return Outcome.SENT
    if status in _RETRYABLE_CLIENT_ERRORS or 500 <= status <= 599:
        return Outcome.TEMPORARY
    # Redirects are not followed (a 301/302 would turn the POST into a GET and drop the body,
    # RFC 9110 §15.4.2-3), and repeating the same POST to the same URL meets the same redirect:
    # like the remaining 4xx, only a configuration change helps.
    return Outcome.PERMANENT


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Return the seconds a Retry-After header value asks for, or None if absent or invalid."""
    if value is None:
        return None
    value = value.strip()
    # RFC 9110 §10.2.3: Retry-After = HTTP-date / delay-seconds, and delay-seconds = 1*DIGIT
    # (ASCII digits only: str.isdigit alone would accept Arabic-Indic digits).
    if value.isascii() and value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" parses as naive; HTTP dates are always GMT (§5.6.7)
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds)
