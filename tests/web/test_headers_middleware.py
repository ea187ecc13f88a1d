"""The security headers middleware on its own, with answers no route of ours gives today."""

from __future__ import annotations

from fastapi.testclient import TestClient
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from tocsin.web.headers import SecurityHeaders


def test_a_location_built_from_the_host_header_stays_on_this_site() -> None:
    async def redirect(scope: Scope, receive: Receive, send: Send) -> None:
        host = Headers(scope=scope)["host"]
        location = f"http://{host}//other.example/x?y=1"
        await send(
            {
                "type": "http.response.start",
                "status": 307,
                "headers": [(b"location", location.encode())],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    client = TestClient(SecurityHeaders(redirect, https=False))
    answer = client.get("/", headers={"Host": "evil.example"}, follow_redirects=False)
    # Relative, and with one slash: "//other.example/x" would lead to another site.
    assert answer.headers["location"] == "/other.example/x?y=1"


def test_headers_a_route_set_itself_are_kept() -> None:
    async def framed(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/html"), (b"x-frame-options", b"SAMEORIGIN")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"<p>hi</p>"})

    answer = TestClient(SecurityHeaders(framed, https=True)).get("/")
    assert answer.headers["x-frame-options"] == "SAMEORIGIN"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["strict-transport-security"] == "max-age=31536000"
