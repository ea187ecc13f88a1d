"""Real local peers for the notification adapters: an HTTP receiver and an SMTP server.

Both listen on 127.0.0.1, record what they get, answer what each test programs, and are shut
down with every socket and thread closed (pytest runs with filterwarnings=error).
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tocsin.notify import Message, verify

SECRET = "s3cret-shared-with-the-receiver"


def page(**changes: Any) -> Message:
    """Return a typical SEV-1 page, with fields replaced by `changes`."""
    fields: dict[str, Any] = {
        "idempotency_key": "INC-7:page:1",
        "subject": "[SEV-1] INC-7 api-gateway: All requests returning 502",
        "text": (
            "Severity: SEV-1\nService: api-gateway\nAll requests returning 502 since 10:30 UTC.\n"
            "Acknowledge: https://tocsin.example/ack/abc\n"
        ),
        "severity": "SEV-1",
        "incident": "INC-7",
        "service": "api-gateway",
        "url": "https://tocsin.example/incidents/INC-7",
        "ack_url": "https://tocsin.example/ack/abc?sig=xyz",
        "runbook_url": "https://runbooks.example/api-gateway",
    }
    fields.update(changes)
    return Message(**fields)


def free_port() -> int:
    """Return a local TCP port that nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- HTTP -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (cut short when the receiver closes)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    client_port: int  # the same port on two requests means one kept-alive connection
    verified: bool | None  # the signature check, when the receiver has a secret


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close, so none outlives its test.
    daemon_threads = False
    block_on_close = True
    receiver: Receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        # A client that timed out hangs up on us; that is the test working, not failing.
        if not isinstance(error, ConnectionError):
            self.receiver.errors.append(repr(error))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do
    timeout = 10  # backstop: an idle connection cannot pin its thread forever
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.receiver.track(self.connection, opened=True)

    def finish(self) -> None:
        self.server.receiver.track(self.connection, opened=False)
        super().finish()

    def do_POST(self) -> None:
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {name.lower(): value for name, value in self.headers.items()}
        verified = None
        if receiver.secret is not None:
            # Exactly what a production receiver does: HMAC of the raw body, before parsing.
            verified = verify(body, receiver.secret, headers.get("x-tocsin-signature", ""))
        receiver.record(
            Recorded("POST", self.path, headers, body, self.client_address[1], verified)
        )
        reply = Reply(401, b"bad signature") if verified is False else receiver.next_reply()
        if reply.delay:
            receiver.released.wait(reply.delay)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean; the receiver records requests itself


class Receiver:
    """A local HTTP server that records requests and answers programmed replies."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.errors: list[str] = []
        self.secret: str | None = None
        self.default = Reply()
        self.released = threading.Event()
        self._replies: deque[Reply] = deque()
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.receiver = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def reply(
        self,
        status: int = 200,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Queue the answer to the next request."""
        self._replies.append(Reply(status, body, headers or {}, delay))

    def next_reply(self) -> Reply:
        with self._lock:
            return self._replies.popleft() if self._replies else self.default

    def record(self, recorded: Recorded) -> None:
        with self._lock:
            self.requests.append(recorded)

    def track(self, connection: socket.socket, *, opened: bool) -> None:
        with self._lock:
            if opened:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close(self) -> None:
        self.released.set()  # wake handlers still "slow" for a timeout test
        self._server.shutdown()
        with self._lock:
            lingering = list(self._connections)
        for connection in lingering:
            # A kept-alive connection parks its handler thread in a read; ending the
            # connection ends the thread, so server_close can join it.
            with contextlib.suppress(OSError):  # already gone
                connection.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    peer = Receiver()
    try:
        yield peer
    finally:
        peer.close()
    assert peer.errors == [], "the receiver failed while handling a request"


@pytest.fixture
def dead_url() -> str:
    """Return an http URL on a port nobody listens on (connection refused)."""
    return f"http://127.0.0.1:{free_port()}/hook"


# --- SMTP -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    mail: EmailMessage


class Mailbox:
    """An aiosmtpd handler that stores mail and can be told to refuse it."""

    def __init__(self) -> None:
        self.delivered: list[Delivered] = []
        self.rcpt_reply: str | None = None  # e.g. "550 5.1.1 mailbox unavailable"
        self.data_reply: str | None = None  # e.g. "451 4.3.0 try again later"
        self.data_delay = 0.0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.data_reply is not None:
            return self.data_reply
        # Store with local line endings, as a delivery agent does; on the wire they are CRLF.
        content = (envelope.original_content or b"").replace(b"\r\n", b"\n")
        mail = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(mail, EmailMessage)
        assert envelope.mail_from is not None
        self.delivered.append(Delivered(envelope.mail_from, list(envelope.rcpt_tos), mail))
        return "250 2.0.0 Message accepted for delivery"


@dataclass(frozen=True)
class SmtpPeer:
    host: str
    port: int
    mailbox: Mailbox


@pytest.fixture
def start_smtp() -> Iterator[Callable[..., SmtpPeer]]:
    """Return a function starting an aiosmtpd server; every server is stopped afterwards."""
    controllers: list[Controller] = []

    def start(**smtp_options: Any) -> SmtpPeer:
        mailbox = Mailbox()
        port = free_port()
        controller = Controller(
            mailbox,
            hostname="127.0.0.1",
            port=port,
            server_hostname="mx.tocsin.test",  # skips a getfqdn() lookup
            **smtp_options,
        )
        controller.start()
        controllers.append(controller)
        return SmtpPeer("127.0.0.1", port, mailbox)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp_peer(start_smtp: Callable[..., SmtpPeer]) -> SmtpPeer:
    return start_smtp()
