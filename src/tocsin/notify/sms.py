"""SMS through a Twilio-compatible Messages API, sent with the `twilio` library.

The provider is Twilio or anything that speaks its REST API: the base URL is a setting, so a
compatible provider (or a local fake in tests) stands in for api.twilio.com. A text has room
for little: the subject (severity, incident, service, summary) and the one-click ack link.

Twilio answers errors as JSON with its own code (21211: the 'To' number is not a valid phone
number, 21610: the recipient replied STOP, 20003: bad credentials) and that code is carried
into `SendResult.detail`. A 429 or a 5xx is worth trying again; any other refusal is not.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Self

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from tocsin.core.phone import E164
from tocsin.errors import InvalidInput
from tocsin.notify import Message, Outcome, SendResult, http_outcome
from tocsin.notify.webhook import check_timeout, check_url

__all__ = ["E164", "PhoneAdapter", "SmsAdapter", "TwilioAccount", "refused", "text"]

# The library logs every request at INFO: numbers and page texts, which do not belong in logs.
logging.getLogger("twilio.http_client").setLevel(logging.WARNING)

# One SMS segment holds 160 GSM-7 characters; a page is kept to two segments, link included.
TEXT_LIMIT = 300


class TwilioAccount:
    """The provider account every SMS and call is sent through (the `TOCSIN_TWILIO_*` settings)."""

    def __init__(self, account_sid: str, auth_token: str, from_number: str, base_url: str) -> None:
        problems = []
        if not account_sid.strip():
            problems.append("TOCSIN_TWILIO_ACCOUNT_SID is not set")
        if not auth_token.strip():
            problems.append("TOCSIN_TWILIO_AUTH_TOKEN is not set")
        if not E164.fullmatch(from_number):
            problems.append(
                f"TOCSIN_TWILIO_FROM {from_number!r} is not a phone number in E.164 form"
                " (+ and 8 to 15 digits)"
            )
        if problems:
            raise InvalidInput.of(problems)
        self.account_sid = account_sid.strip()
        self.auth_token = auth_token.strip()
        self.from_number = from_number
        self.base_url = check_url(base_url, "TOCSIN_TWILIO_BASE_URL").rstrip("/")

    def __repr__(self) -> str:  # the token must never reach a log line
        return f"TwilioAccount({self.account_sid!r}, from {self.from_number}, {self.base_url})"

    def client(self, timeout: float) -> Client:
        """Return a client of this account's REST API, with its own connection pool."""
        client = Client(
            self.account_sid, self.auth_token, http_client=TwilioHttpClient(timeout=timeout)
        )
        client.api.base_url = self.base_url
        return client


def refused(what: str, exc: Exception) -> SendResult:
    """Classify what the provider's library raised for a request: its error answer, or no
    answer at all."""
    if isinstance(exc, TwilioRestException):
        outcome = http_outcome(exc.status)
        if outcome is Outcome.SENT:  # an error raised with a 2xx status: not a delivery
            outcome = Outcome.TEMPORARY
        return SendResult(outcome, f"{what} provider refused ({exc.status}, code {exc.code})")
    # Connection refused or reset, DNS, a timeout: the request may not have arrived.
    return SendResult(Outcome.TEMPORARY, f"{what} provider unreachable: {type(exc).__name__}")


def text(message: Message) -> str:
    """Return the SMS text of a message: its subject (which names the severity, incident and
    service, "[SEV-1] INC-12 checkout: ..."), the lines of a bundle, how to answer it by SMS,
    and the link that acknowledges it."""
    number = (message.incident or "").removeprefix("INC-")
    reply = f" Reply ACK {number} or RES {number}." if number.isdigit() else ""
    tail = reply + (f" {message.ack_url}" if message.ack_url else "")
    head = message.subject
    if message.items:
        head += ": " + "; ".join(message.items)
    room = TEXT_LIMIT - len(tail)
    return (head if len(head) <= room else head[: room - 1] + "…") + tail


class PhoneAdapter:
    """What the SMS and call adapters share: one number to reach, through one account's client
    (and connection pool), closed with the adapter."""

    def __init__(self, account: TwilioAccount, to_number: str, *, timeout: float = 10.0) -> None:
        if not E164.fullmatch(to_number):
            raise InvalidInput(
                f"{to_number!r} is not a phone number in E.164 form (+ and 8 to 15 digits)"
            )
        self.to_number = to_number
        self.account = account
        self.timeout = check_timeout(timeout)
        self._client = account.client(self.timeout)

    def close(self) -> None:
        session = getattr(self._client.http_client, "session", None)
        if session is not None:
            session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()


class SmsAdapter(PhoneAdapter):
    """Send each message as one SMS to one phone number."""

    def send(self, message: Message) -> SendResult:
        """Ask the provider to send the SMS once and classify its answer."""
        extra = {"status_callback": message.status_url} if message.status_url else {}
        try:
            sent = self._client.messages.create(
                to=self.to_number, from_=self.account.from_number, body=text(message), **extra
            )
        except (TwilioException, OSError) as exc:
            return refused("SMS", exc)
        return SendResult(Outcome.SENT, f"SMS {sent.sid} {sent.status}", reference=sent.sid)
