"""Request body limits, enforced before any route reads a byte of the body.

A pure ASGI middleware (a BaseHTTPMiddleware would buffer and hide the stream): a declared
`Content-Length` over the route's limit is refused with 413 at once, without reading the
body; a body of unknown length (chunked) is read only up to the limit, then refused with 413.
API writes also need a known bearer token before their body is read (401 otherwise), so a
stranger cannot make the server read megabytes. Refusals close the connection, since the
rest of the body is never read. Ingestion routes (`/hooks/`, `/v2/`) pass through: they
check the sender's key and bound the body on their own, answering in each sender's shape.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tocsin.errors import Unauthenticated
from tocsin.http.errors import database_down, error_body, unavailable

INGEST_PREFIXES = ("/hooks/", "/v2/")
API_PREFIX = "/api/v1/"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Checks a bearer secret (None: no Authorization header); raises Unauthenticated. It does
# blocking database work, so it runs in a worker thread.
TokenCheck = Callable[[str | None], None]


class BodyTooLarge(HTTPException):
    """A body of unknown length went past the route's limit while being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body is larger than {limit} bytes, the limit here")


def bearer_secret(authorization: str | None) -> str | None:
    """Return the secret of an `Authorization: Bearer <secret>` header, else None."""
    if not authorization:
        return None
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def _refusal(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        error_body(detail, [detail]),
        status_code=status,
        headers={**(headers or {}), "Connection": "close"},
    )


class BodyLimit:
    """ASGI middleware: the API and page body limit, and API tokens checked before API bodies."""

    def __init__(self, app: ASGIApp, *, limit: int, check_token: TokenCheck) -> None:
        self.app = app
        self.limit = limit
        self.check_token = check_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse or pass on one request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(INGEST_PREFIXES):
            # The ingestion routes check the sender's key before the body and bound the body
            # themselves, answering in each sender's own shape (tocsin.api.routes.ingest).
            await self.app(scope, receive, send)
            return
        limit = self.limit
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _refusal(400, f"Content-Length {declared!r} is not a number")(
                    scope, receive, send
                )
                return
            if int(declared) > limit:
                detail = f"the body is {int(declared)} bytes; at most {limit} bytes are accepted"
                await _refusal(413, detail)(scope, receive, send)
                return
        if path.startswith(API_PREFIX) and scope["method"] in WRITE_METHODS:
            refusal = await self._authenticate(headers.get("authorization"))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self._pass_on(scope, receive, send, limit)

    async def _authenticate(self, authorization: str | None) -> JSONResponse | None:
        try:
            await run_in_threadpool(self.check_token, bearer_secret(authorization))
        except Unauthenticated as exc:
            return _refusal(401, exc.message, {"WWW-Authenticate": "Bearer"})
        except Exception as exc:
            if database_down(exc):
                response = unavailable(exc)
                response.headers["Connection"] = "close"
                return response
            raise
        return None

    async def _pass_on(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        state = _Reading(limit, receive)

        async def send_or_refuse(message: Message) -> None:
            # Whatever the route made of the overflow, the answer is this 413, which closes
            # the connection: the rest of the body is never read.
            if message["type"] == "http.response.start":
                state.started = True
                if state.exceeded:
                    state.replaced = True
                    await _refusal(413, BodyTooLarge(limit).detail)(scope, receive, send)
                    return
            if state.replaced:
                return
            await send(message)

        try:
            await self.app(scope, state.receive, send_or_refuse)
        except BodyTooLarge:
            if state.started:
                raise
            await _refusal(413, BodyTooLarge(limit).detail)(scope, receive, send)


class _Reading:
    """A request's `receive`, counting body bytes and stopping at the limit."""

    def __init__(self, limit: int, receive: Receive) -> None:
        self.limit = limit
        self.inner = receive
        self.read = 0
        self.exceeded = False
        self.started = False
        self.replaced = False

    async def receive(self) -> Message:
        """Return the next message, or raise BodyTooLarge once the body passes the limit."""
        if self.exceeded:
            raise BodyTooLarge(self.limit)
        message = await self.inner()
        if message["type"] == "http.request":
            self.read += len(message.get("body", b""))
            if self.read > self.limit:
                self.exceeded = True
                raise BodyTooLarge(self.limit)
        return message
