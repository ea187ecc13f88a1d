"""The SMTP adapter against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.notify.conftest import SmtpPeer, free_port, page
from tocsin.errors import InvalidInput
from tocsin.notify import Adapter, Outcome
from tocsin.notify.smtp import SmtpAdapter

SENDER = "Tocsin <pager@tocsin.example>"
RECIPIENT = "oncall@ops.example"


def adapter_for(peer: SmtpPeer, **options: Any) -> SmtpAdapter:
    options.setdefault("timeout", 2.0)
    return SmtpAdapter(peer.host, peer.port, sender=SENDER, recipient=RECIPIENT, **options)


def body_of(mail: EmailMessage) -> str:
    # A base64 text body decodes to its canonical CRLF line breaks (RFC 2045 §6.8); a mail
    # client shows those as plain line breaks, and so does this.
    text: str = mail.get_content()
    return text.replace("\r\n", "\n")


def test_mail_is_delivered_with_headers_and_body(smtp_peer: SmtpPeer) -> None:
    adapter = adapter_for(smtp_peer)
    message = page(items=("INC-7 api-gateway: 502s", "INC-8 billing: backlog"))

    result = adapter.send(message)

    assert result.outcome is Outcome.SENT
    assert result.detail == f"accepted by 127.0.0.1:{smtp_peer.port} for {RECIPIENT}"
    [delivered] = smtp_peer.mailbox.delivered
    assert delivered.mail_from == "pager@tocsin.example"
    assert delivered.rcpt_tos == [RECIPIENT]
    mail = delivered.mail
    assert mail["Subject"] == "[SEV-1] INC-7 api-gateway: All requests returning 502"
    assert mail["From"] == SENDER
    assert mail["To"] == RECIPIENT
    assert mail["Message-ID"] == adapter.message_id(message)
    assert mail["Message-ID"].startswith("<tocsin.")
    assert mail["Message-ID"].endswith("@tocsin.example>")
    assert mail["X-Tocsin-Idempotency-Key"] == "INC-7:page:1"
    assert mail["Auto-Submitted"] == "auto-generated"
    sent_at = mail["Date"].datetime
    assert abs((datetime.now(UTC) - sent_at).total_seconds()) < 60
    assert mail.get_content_type() == "text/plain"
    assert body_of(mail) == (
        message.text + "\n- INC-7 api-gateway: 502s\n- INC-8 billing: backlog\n"
    )


def test_retries_carry_the_same_message_id(smtp_peer: SmtpPeer) -> None:
    adapter = adapter_for(smtp_peer)

    for message in (page(), page(), page(idempotency_key="INC-7:page:2")):
        assert adapter.send(message).outcome is Outcome.SENT

    first, retry, other = (d.mail["Message-ID"] for d in smtp_peer.mailbox.delivered)
    assert first == retry
    assert other != first


def test_non_ascii_subject_and_body_survive(smtp_peer: SmtpPeer) -> None:
    message = page(subject="[SEV-2] INC-9 paiement: échecs à 40 % 🔥", text="Détails: ça brûle.\n")

    assert adapter_for(smtp_peer).send(message).outcome is Outcome.SENT

    mail = smtp_peer.mailbox.delivered[0].mail
    assert mail["Subject"] == "[SEV-2] INC-9 paiement: échecs à 40 % 🔥"
    assert body_of(mail) == "Détails: ça brûle.\n"
    # 7-bit on the wire: no 8BITMIME needed from the server (RFC 6152).
    assert mail["Content-Transfer-Encoding"] in ("quoted-printable", "base64")


def test_compose_is_deterministic_but_for_the_date(smtp_peer: SmtpPeer) -> None:
    adapter = adapter_for(smtp_peer)
    at = datetime(2024, 6, 20, 10, 30, tzinfo=UTC)

    one, two = adapter.compose(page(), now=at), adapter.compose(page(), now=at)

    assert one.as_bytes() == two.as_bytes()
    assert one["Date"] == "Thu, 20 Jun 2024 10:30:00 +0000"


@pytest.mark.parametrize(
    ("rcpt_reply", "data_reply", "outcome", "detail"),
    [
        pytest.param(
            "550 5.1.1 mailbox unavailable",
            None,
            Outcome.PERMANENT,
            f"550 5.1.1 mailbox unavailable (recipient {RECIPIENT} refused)",
            id="rcpt-550",
        ),
        pytest.param(
            "451 4.7.1 greylisted, try again later",
            None,
            Outcome.TEMPORARY,
            f"451 4.7.1 greylisted, try again later (recipient {RECIPIENT} refused)",
            id="rcpt-451",
        ),
        pytest.param(
            None,
            "451 4.3.0 local error, try again",
            Outcome.TEMPORARY,
            "451 4.3.0 local error, try again (message refused)",
            id="data-451",
        ),
        pytest.param(
            None,
            "554 5.7.1 message rejected as spam",
            Outcome.PERMANENT,
            "554 5.7.1 message rejected as spam (message refused)",
            id="data-554",
        ),
        pytest.param(
            None,
            "552 5.3.4 message too big",
            Outcome.PERMANENT,
            "552 5.3.4 message too big (message refused)",
            id="data-552",
        ),
    ],
)
def test_refusals_are_classified_by_reply_code(
    smtp_peer: SmtpPeer,
    rcpt_reply: str | None,
    data_reply: str | None,
    outcome: Outcome,
    detail: str,
) -> None:
    smtp_peer.mailbox.rcpt_reply = rcpt_reply
    smtp_peer.mailbox.data_reply = data_reply

    result = adapter_for(smtp_peer).send(page())

    assert (result.outcome, result.detail, result.retry_after) == (outcome, detail, None)
    assert smtp_peer.mailbox.delivered == []


def test_connection_refused_is_temporary() -> None:
    port = free_port()
    adapter = SmtpAdapter("127.0.0.1", port, sender=SENDER, recipient=RECIPIENT, timeout=2.0)

    result = adapter.send(page())

    assert result.outcome is Outcome.TEMPORARY
    assert result.detail.startswith(f"cannot reach 127.0.0.1:{port}: ")
    assert "refused" in result.detail.lower()


class _Greeter(socketserver.StreamRequestHandler):
    """Answer the connection with one fixed greeting line, then wait for the client to go."""

    timeout = 5
    server: _GreetingServer

    def handle(self) -> None:
        self.wfile.write(self.server.greeting)
        with contextlib.suppress(OSError):
            self.rfile.read()  # until the client hangs up


class _GreetingServer(socketserver.TCPServer):
    greeting = b""


@pytest.fixture
def greeter() -> Iterator[_GreetingServer]:
    server = _GreetingServer(("127.0.0.1", 0), _Greeter)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize(
    ("greeting", "outcome"),
    [
        pytest.param(b"421 4.3.2 too busy, come back later\r\n", Outcome.TEMPORARY, id="421"),
        pytest.param(b"554 5.3.2 no SMTP service here\r\n", Outcome.PERMANENT, id="554"),
    ],
)
def test_greeting_refusal(greeter: _GreetingServer, greeting: bytes, outcome: Outcome) -> None:
    greeter.greeting = greeting
    port = greeter.server_address[1]
    adapter = SmtpAdapter("127.0.0.1", port, sender=SENDER, recipient=RECIPIENT, timeout=2.0)

    result = adapter.send(page())

    assert result.outcome is outcome
    assert result.detail == f"{greeting.decode().strip()} (greeting)"


def test_slow_server_times_out_temporarily(smtp_peer: SmtpPeer) -> None:
    smtp_peer.mailbox.data_delay = 1.0

    result = adapter_for(smtp_peer, timeout=0.2).send(page())

    assert result.outcome is Outcome.TEMPORARY
    assert result.detail == f"no answer from 127.0.0.1:{smtp_peer.port} within 0.2 s"


def test_starttls_unsupported_is_permanent(smtp_peer: SmtpPeer) -> None:
    result = adapter_for(smtp_peer, starttls=True).send(page())

    assert result.outcome is Outcome.PERMANENT
    assert "STARTTLS" in result.detail
    assert smtp_peer.mailbox.delivered == []


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    good = isinstance(auth_data, LoginPassword) and auth_data == (b"tocsin", b"correct horse")
    # handled=False makes aiosmtpd answer the failure itself (535 5.7.8).
    return AuthResult(success=good, handled=False)


@pytest.fixture
def auth_peer(start_smtp: Callable[..., SmtpPeer]) -> SmtpPeer:
    # auth_require_tls=False only because this test server has no certificate; the
    # STARTTLS test below covers login over TLS.
    return start_smtp(authenticator=_authenticator, auth_require_tls=False)


@pytest.mark.parametrize(
    ("password", "outcome"),
    [
        pytest.param("correct horse", Outcome.SENT, id="good-password"),
        pytest.param("wrong horse", Outcome.PERMANENT, id="535-bad-password"),
    ],
)
def test_login(auth_peer: SmtpPeer, password: str, outcome: Outcome) -> None:
    adapter = adapter_for(auth_peer, username="tocsin", password=password)

    result = adapter.send(page())

    assert result.outcome is outcome
    if outcome is Outcome.PERMANENT:
        assert result.detail.startswith("535 ")
        assert result.detail.endswith("(authentication failed)")
        assert auth_peer.mailbox.delivered == []
    else:
        assert len(auth_peer.mailbox.delivered) == 1


def test_starttls_then_login(
    start_smtp: Callable[..., SmtpPeer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    peer = start_smtp(
        tls_context=server_context, require_starttls=True, authenticator=_authenticator
    )
    # The adapter trusts the system store, as in production; point that store at the test CA.
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))

    adapter = adapter_for(peer, starttls=True, username="tocsin", password="correct horse")
    result = adapter.send(page())

    assert result.outcome is Outcome.SENT, result.detail
    assert len(peer.mailbox.delivered) == 1


def test_is_an_adapter(smtp_peer: SmtpPeer) -> None:
    assert isinstance(adapter_for(smtp_peer), Adapter)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"sender": "root"}, id="sender-without-domain"),
        pytest.param({"recipient": ""}, id="empty-recipient"),
        pytest.param({"recipient": "a b@c.example"}, id="recipient-with-space"),
        pytest.param({"username": "tocsin"}, id="username-without-password"),
        pytest.param({"port": 0}, id="port-zero"),
        pytest.param({"host": ""}, id="empty-host"),
        pytest.param({"timeout": -1.0}, id="negative-timeout"),
    ],
)
def test_bad_configuration_is_refused_at_construction(options: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 25,
        "sender": SENDER,
        "recipient": RECIPIENT,
        **options,
    }
    with pytest.raises(InvalidInput):
        SmtpAdapter(**arguments)
