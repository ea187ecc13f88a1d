"""Email over SMTP (RFC 5321), one connection per message.

Classification follows the reply code's first digit (RFC 5321 §4.2.1): 4yz is a transient
failure and 5yz a permanent one, whichever command drew it. So a recipient refused with 550 is
PERMANENT, but one refused with 450/451 (greylisting, RFC 6647) is TEMPORARY, as is a sender or
DATA refused with 4yz; a failed login is 535 (PERMANENT) or 454 (TEMPORARY, RFC 4954 §6).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import smtplib
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr

from tocsin.errors import InvalidInput
from tocsin.notify import Message, Outcome, SendResult

__all__ = ["SmtpAdapter"]

# cte_type="7bit": a non-ASCII body goes out quoted-printable instead of as raw 8-bit data,
# which RFC 6152 allows only towards servers that announce 8BITMIME.
_POLICY = SMTP_POLICY.clone(cte_type="7bit")


class SmtpAdapter:
    """Mail each message to one recipient through one SMTP server."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        recipient: str,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        problems = []
        if not host:
            problems.append("SMTP host must not be empty")
        if not 0 < port < 65536:
            problems.append(f"SMTP port must be 1-65535, got {port!r}")
        if (username is None) != (password is None):
            problems.append("SMTP username and password go together: give both or neither")
        if not 0 < timeout < math.inf:
            problems.append(f"timeout must be a positive number of seconds, got {timeout!r}")
        addresses = []
        for value, what in ((sender, "sender"), (recipient, "recipient")):
            try:
                addresses.append(_address(value, what))
            except InvalidInput as exc:
                problems.extend(exc.problems)
        if problems:
            raise InvalidInput.of(problems)
        self._sender, self._recipient = addresses
        try:
            # The Message-ID's right-hand side must be ASCII (RFC 5322 §3.6.4).
            self._domain = self._sender.domain.encode("idna").decode("ascii").lower()
        except UnicodeError as exc:
            raise InvalidInput(f"sender domain is not a valid host name: {sender!r}") from exc
        self.host = host
        self.port = port
        self.starttls = starttls
        self.username = username
        self._password = password
        self.timeout = float(timeout)

    def close(self) -> None:
        """Nothing to release: each send opens its own SMTP session and quits it."""

    def message_id(self, message: Message) -> str:
        """Return the Message-ID every attempt of this message carries."""
        # A hash, not the key itself: the key may hold characters a msg-id forbids
        # (RFC 5322 §3.6.4 dot-atom-text); the raw key travels in X-Tocsin-Idempotency-Key.
        digest = hashlib.sha256(message.idempotency_key.encode("utf-8")).hexdigest()[:32]
        return f"<tocsin.{digest}@{self._domain}>"

    def compose(
        self,
        message: Message,
        *,
        now: datetime | None = None,
        headers: Mapping[str, str] | None = None,
        html: str | None = None,
    ) -> EmailMessage:
        """Return the mail for a message, as it would be sent at `now`.

        `headers` are added as they are (a mailing list's List-Unsubscribe); `html` becomes an
        alternative to the plain text, which stays first for clients that show only text.
        """
        mail = EmailMessage(policy=_POLICY)
        mail["Subject"] = message.subject
        mail["From"] = self._sender
        mail["To"] = self._recipient
        mail["Date"] = format_datetime(now or datetime.now(UTC))
        # Deterministic, so a retried send is recognisably the same mail (and threads as one).
        mail["Message-ID"] = self.message_id(message)
        mail["X-Tocsin-Idempotency-Key"] = message.idempotency_key
        # RFC 3834 §5: keeps vacation responders from answering a page.
        mail["Auto-Submitted"] = "auto-generated"
        for name, value in (headers or {}).items():
            mail[name] = value
        mail.set_content(_body(message))
        if html is not None:
            mail.add_alternative(html, subtype="html")
        return mail

    def send(
        self,
        message: Message,
        *,
        headers: Mapping[str, str] | None = None,
        html: str | None = None,
    ) -> SendResult:
        """Mail the message once and classify the server's answer (`compose` says what
        `headers` and `html` add)."""
        mail = self.compose(message, headers=headers, html=html)
        where = f"{self.host}:{self.port}"
        smtp: smtplib.SMTP | None = None
        try:
            # Connecting in the constructor is what gives STARTTLS the host name to verify the
            # certificate against; smtplib closes the socket itself when the greeting fails.
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username is not None and self._password is not None:
                smtp.login(self.username, self._password)
            smtp.send_message(
                mail, from_addr=self._sender.addr_spec, to_addrs=[self._recipient.addr_spec]
            )
        except smtplib.SMTPServerDisconnected as exc:
            # smtplib reports a reply that never came as a disconnection; say which it was.
            if isinstance(exc.__context__, TimeoutError):
                detail = f"no answer from {where} within {self.timeout:g} s"
            else:
                detail = f"{where} closed the connection: {_one_line(str(exc))}"
            return SendResult(Outcome.TEMPORARY, detail)
        except smtplib.SMTPRecipientsRefused as exc:
            _quit_quietly(smtp)
            code, reply = next(iter(exc.recipients.values()))
            return _by_code(code, reply, f"recipient {self._recipient.addr_spec} refused")
        except smtplib.SMTPResponseException as exc:
            # Includes SMTPConnectError: a 554 greeting is permanent, a 421 one is not (§3.1).
            _quit_quietly(smtp)
            return _by_code(exc.smtp_code, exc.smtp_error, _stage(exc))
        except smtplib.SMTPException as exc:
            # What is left is the client's own refusal: STARTTLS or AUTH asked of a server that
            # does not offer it, no common AUTH mechanism. Only a configuration change helps.
            _quit_quietly(smtp)
            return SendResult(Outcome.PERMANENT, f"cannot use {where}: {_one_line(str(exc))}")
        except OSError as exc:
            # Connection refused or reset, DNS failure, timeout, TLS handshake: all may clear up
            # (SMTPException is an OSError too, hence this clause comes last).
            reason = _one_line(str(exc)) or type(exc).__name__
            return SendResult(Outcome.TEMPORARY, f"cannot reach {where}: {reason}")
        else:
            _quit_quietly(smtp)
            return SendResult(Outcome.SENT, f"accepted by {where} for {self._recipient.addr_spec}")
        finally:
            if smtp is not None:
                smtp.close()  # idempotent; after a QUIT there is nothing left to close


def _address(value: str, what: str) -> Address:
    name, addr_spec = parseaddr(value)
    try:
        address = Address(display_name=name, addr_spec=addr_spec)
    except (ValueError, IndexError, HeaderParseError) as exc:
        raise InvalidInput(f"{what} is not an email address: {value!r}") from exc
    if not address.username or not address.domain:
        raise InvalidInput(f"{what} must be user@domain, got {value!r}")
    return address


def _body(message: Message) -> str:
    body = message.text.rstrip("\n") + "\n"
    if message.items:
        body += "\n" + "".join(f"- {item}\n" for item in message.items)
    return body


def _by_code(code: int, reply: bytes | str, what: str) -> SendResult:
    text = _one_line(reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply)
    # RFC 5321 §4.2.1: 5yz is a permanent negative completion. Anything else that is not
    # success -- 4yz, or no proper reply code at all -- may succeed when tried again.
    outcome = Outcome.PERMANENT if 500 <= code <= 599 else Outcome.TEMPORARY
    return SendResult(outcome, f"{code} {text} ({what})")


def _stage(exc: smtplib.SMTPResponseException) -> str:
    if isinstance(exc, smtplib.SMTPConnectError):
        return "greeting"
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return "sender refused"
    if isinstance(exc, smtplib.SMTPDataError):
        return "message refused"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return "authentication failed"
    if isinstance(exc, smtplib.SMTPHeloError):
        return "EHLO/HELO refused"
    return "refused"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _quit_quietly(smtp: smtplib.SMTP | None) -> None:
    # RFC 5321 §4.1.1.10 asks for a QUIT, but once the outcome is known, a failing QUIT must
    # not change it (a mail already accepted with 250 is delivered, whatever QUIT answers).
    if smtp is not None:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.quit()
