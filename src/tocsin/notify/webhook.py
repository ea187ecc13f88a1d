"""Signed JSON webhooks, and the HTTP plumbing the Slack adapter shares.

A receiver checks a delivery like this (the secret is the one configured on both sides)::

    from tocsin.notify import verify

    if not verify(request_body_bytes, secret, request.headers["X-Tocsin-Signature"]):
        return 401
    key = request.headers["Idempotency-Key"]  # the same on every retry: drop repeats
"""

from __future__ import annotations

import functools
import json
import math
import os
import ssl
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Any, Self

import httpx

from tocsin import __version__
from tocsin.errors import InvalidInput
from tocsin.notify import Message, Outcome, SendResult, http_outcome, parse_retry_after, sign

__all__ = [
    "SIGNATURE_HEADER",
    "USER_AGENT",
    "Poster",
    "WebhookAdapter",
    "check_timeout",
    "check_url",
    "new_client",
    "payload",
    "post",
]

SIGNATURE_HEADER = "X-Tocsin-Signature"
USER_AGENT = f"Tocsin/{__version__}"

# Enough of an error body to name the problem ("invalid_blocks", a JSON error) in `detail`
# without holding a hostile receiver's megabytes in memory.
_SNIPPET_BYTES = 1024
_SNIPPET_CHARS = 200


def payload(message: Message) -> dict[str, object]:
    """Return the JSON object a webhook receiver gets for a message."""
    # The key order is part of the documented format; receivers may rely on every key being
    # present, so optional fields are sent as null rather than left out.
    return {
        "idempotency_key": message.idempotency_key,
        "subject": message.subject,
        "text": message.text,
        "severity": message.severity,
        "incident": message.incident,
        "service": message.service,
        "url": message.url,
        "ack_url": message.ack_url,
        "runbook_url": message.runbook_url,
        "items": list(message.items),
        "policy": message.policy,
        "level": message.level,
    }


class Poster(ABC):
    """An adapter that POSTs each message to one URL over one kept-alive connection pool.

    Subclasses say what the URL is (`what`, for errors), whom they talk to (`peer`, for
    details) and the body (`payload`); `send` posts it as JSON and classifies the answer.
    """

    what = "url"
    peer = "receiver"
    default_timeout = 5.0

    def __init__(
        self, url: str, *, timeout: float | None = None, client: httpx.Client | None = None
    ) -> None:
        self.url = check_url(url, self.what)
        self.timeout = check_timeout(self.default_timeout if timeout is None else timeout)
        self._owns_client = client is None
        self._client = client if client is not None else new_client(self.timeout)

    @abstractmethod
    def payload(self, message: Message) -> dict[str, Any]:
        """Return the JSON body that carries `message` to this peer."""

    def headers(self, message: Message, body: bytes) -> dict[str, str]:
        """Return the request's headers for this body."""
        return {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}

    def send(self, message: Message) -> SendResult:
        """POST the message once and classify the answer."""
        body = json.dumps(self.payload(message), ensure_ascii=False, separators=(",", ":")).encode()
        return post(
            self._client,
            self.url,
            body,
            self.headers(message, body),
            timeout=self.timeout,
            peer=self.peer,
        )

    def close(self) -> None:
        """Close the connection pool, unless the caller supplied the client."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class WebhookAdapter(Poster):
    """POST each message as signed JSON to one URL, over one kept-alive connection pool."""

    what = "webhook url"

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float = 5.0,
        client: httpx.Client | None = None,
    ) -> None:
        if not secret:
            # An empty HMAC key signs nothing a receiver could trust.
            raise InvalidInput("webhook secret must not be empty")
        super().__init__(url, timeout=timeout, client=client)
        self._secret = secret

    def payload(self, message: Message) -> dict[str, Any]:
        return payload(message)

    def headers(self, message: Message, body: bytes) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            # The signature covers these exact bytes; nothing may re-encode the body after this.
            SIGNATURE_HEADER: sign(body, self._secret),
            # draft-ietf-httpapi-idempotency-key-header: the same key on every retry lets the
            # receiver drop the duplicates that TEMPORARY-on-timeout can produce.
            "Idempotency-Key": message.idempotency_key,
            "User-Agent": USER_AGENT,
        }


def check_url(url: str, what: str) -> str:
    """Return an absolute http(s) URL unchanged, or raise InvalidInput."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise InvalidInput(f"{what} is not a valid URL: {url!r}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidInput(f"{what} must be an absolute http:// or https:// URL, got {url!r}")
    return url


def new_client(timeout: float) -> httpx.Client:
    """Return an httpx client configured for notification POSTs."""
    context = _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    return httpx.Client(timeout=timeout, follow_redirects=False, verify=context)


def warm() -> None:
    """Make now what the first send would otherwise make while a page waits: the TLS context
    (the CA bundle takes tens of milliseconds to load) and the HTTP transport's modules."""
    new_client(Poster.default_timeout).close()


@functools.lru_cache(maxsize=4)
def _tls_context(_cert_file: str | None, _cert_dir: str | None) -> ssl.SSLContext:
    # Loading the CA bundle took most of a page's send time (tens of milliseconds, measured
    # under bench/latency.py); one context serves every client, and is made again only if the
    # trust settings httpx reads from the environment change.
    return httpx.create_ssl_context()


def post(
    client: httpx.Client,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    peer: str,
) -> SendResult:
    """POST a body once and classify the response or the transport failure."""
    try:
        # follow_redirects=False even on a caller's client: see http_outcome on redirects.
        with client.stream(
            "POST", url, content=body, headers=headers, timeout=timeout, follow_redirects=False
        ) as response:
            snippet = _snippet(response)
    except httpx.TransportError as exc:
        return _transport_failure(exc, peer, timeout)
    status = response.status_code
    outcome = http_outcome(status)
    detail = f"HTTP {status} from {peer}"
    if response.is_redirect:
        detail += f" (redirects to {response.headers.get('Location', '?')}; configure that URL)"
    if snippet:
        detail += f": {snippet}"
    retry_after = None
    # RFC 6585 §4 (429) and RFC 9110 §15.6.4 (503) are the statuses that carry Retry-After.
    if status in (429, 503):
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
    return SendResult(outcome, detail, retry_after)


def _snippet(response: httpx.Response) -> str:
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= _SNIPPET_BYTES:
                break
    except httpx.HTTPError:
        # The status line and headers already arrived and decide the outcome; a body that
        # breaks off or fails to decompress only costs us the detail text.
        pass
    text = b"".join(chunks)[:_SNIPPET_BYTES].decode("utf-8", errors="replace")
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET_CHARS else text[: _SNIPPET_CHARS - 1] + "…"


def _transport_failure(exc: httpx.TransportError, peer: str, timeout: float) -> SendResult:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        # The request could not even be formed or sent as HTTP: the same request fails again.
        return SendResult(Outcome.PERMANENT, f"cannot send to {peer}: {reason}")
    if isinstance(exc, httpx.TimeoutException):
        # A read timeout may come after the receiver got the body; TEMPORARY all the same, per
        # the protocol's "ambiguity resolves to TEMPORARY" (the Idempotency-Key dedups).
        return SendResult(
            Outcome.TEMPORARY, f"no answer from {peer} within {timeout:g} s ({type(exc).__name__})"
        )
    if isinstance(exc, httpx.ConnectError):
        # Refused connections and DNS failures both land here; both may clear up.
        return SendResult(Outcome.TEMPORARY, f"cannot connect to {peer}: {reason}")
    return SendResult(Outcome.TEMPORARY, f"{type(exc).__name__} talking to {peer}: {reason}")


def check_timeout(timeout: float) -> float:
    """Return a timeout as float seconds, or raise InvalidInput unless it is positive."""
    if not 0 < timeout < math.inf:
        raise InvalidInput(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)
