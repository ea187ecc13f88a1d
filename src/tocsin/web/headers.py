"""Security headers on every answer, and no absolute link built from the request's Host.

`SecurityHeaders` is a pure ASGI middleware (it never buffers a body, except on the OpenAPI
documentation pages, whose inline script it must hash). It adds:

- `Content-Security-Policy`: scripts and styles only from our own files, so an injection that
  slipped past autoescaping still cannot run (no inline script, no `javascript:` URL, no
  inline style); `frame-ancestors 'none'` against clickjacking, `base-uri 'none'`,
  `form-action 'self'`. SVG answers get a policy of their own: no script at all, and their
  inline styles (charts drawn by matplotlib) allowed.
- `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` (frame-ancestors for older
  browsers) and `Referrer-Policy: same-origin`: incident URLs never leave for other sites.
- `Strict-Transport-Security` when the configured base URL or the request is https; browsers
  ignore it over plain http anyway (RFC 6797 section 8.1).

It also makes a `Location` built from the Host header (Starlette's trailing-slash redirect)
relative, so `Host: evil.example` cannot put that name into an answer a cache may keep.
Headers a route set itself are left alone.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    )
)
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
# The interactive API documentation is FastAPI's page: its script and styles come from a CDN,
# and its inline script is allowed by its hash (computed per answer, since it names the URLs).
# Its styles may be inline: the page holds no user text, and ReDoc writes style elements.
DOCS_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' https://cdn.jsdelivr.net {hashes}",
        "style-src 'self' https://cdn.jsdelivr.net https://fonts.googleapis.com 'unsafe-inline'",
        "font-src 'self' https://fonts.gstatic.com",
        "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    )
)
HSTS = "max-age=31536000"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)

FIXED = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


def script_hashes(html: bytes) -> str:
    """Return the CSP source expressions that allow the inline scripts of `html`."""
    found = {
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(html)
    }
    return " ".join(sorted(found))


def _encoded(policy: str) -> tuple[tuple[bytes, bytes], ...]:
    fixed = [(name.encode(), value.encode()) for name, value in FIXED.items()]
    return ((b"content-security-policy", policy.encode()), *fixed)


_PAGE_HEADERS = _encoded(PAGE_POLICY)
_SVG_HEADERS = _encoded(SVG_POLICY)


def _relative_location(headers: MutableHeaders, scope: Scope, location: str) -> None:
    """Make a `Location` that names the request's own Host relative (a path on this site)."""
    host = Headers(scope=scope).get("host", "")
    parts = urlsplit(location)
    if host and parts.netloc and parts.netloc.lower() == host.lower():
        # One leading slash: "//other.example/" would be another site.
        headers["location"] = "/" + parts._replace(scheme="", netloc="").geturl().lstrip("/")


class SecurityHeaders:
    """Add the security headers to every HTTP answer of `app`."""

    def __init__(self, app: ASGIApp, *, https: bool, docs_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.https = https
        self.docs_paths = frozenset(docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer through `app`, adding the headers to the start of the answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = self.https or scope.get("scheme") == "https"

        def secure(message: Message) -> None:
            # Every answer passes here, ingestion's hot path included: one scan of the raw
            # headers, then appends, instead of a MutableHeaders look-up per header.
            raw: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
            have = {name.lower(): value for name, value in raw}
            svg = have.get(b"content-type", b"").startswith(b"image/svg+xml")
            wanted = _SVG_HEADERS if svg else _PAGE_HEADERS
            raw += [(name, value) for name, value in wanted if name not in have]
            if https and b"strict-transport-security" not in have:
                raw.append((b"strict-transport-security", HSTS.encode()))
            message["headers"] = raw
            location = have.get(b"location")
            if location:
                _relative_location(MutableHeaders(scope=message), scope, location.decode("latin-1"))

        if scope["path"] in self.docs_paths:
            await self._docs(scope, receive, send, secure)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                secure(message)
            await send(message)

        await self.app(scope, receive, send_secured)

    async def _docs(
        self, scope: Scope, receive: Receive, send: Send, secure: Callable[[Message], None]
    ) -> None:
        """Answer a documentation page, whose policy names the hashes of its inline code."""
        start: Message | None = None
        chunks: list[bytes] = []

        async def collect(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            headers = MutableHeaders(scope=start)
            headers.setdefault(
                "content-security-policy", DOCS_POLICY.format(hashes=script_hashes(body))
            )
            secure(start)
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, collect)
