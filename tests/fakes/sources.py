"""Fakes of PagerDuty's and Opsgenie's REST APIs, served on 127.0.0.1 from saved answers.

GET /X answers the fixture file X.json, as the source would: a list endpoint is paged by
`offset` and `limit` (at most `page_size` items a page, fewer than asked, as the APIs may),
with `more` (PagerDuty) or a `paging.next` link (Opsgenie); the token is checked
(`Authorization: Token token=...` or `GenieKey ...`; 401 with the source's error body
otherwise), and the first request of all is answered 429 with Retry-After, to prove the client
waits and tries again.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.fakes import JsonHandler, serving

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pagerduty"
OPSGENIE = FIXTURES.with_name("opsgenie")
TOKEN = "u+pd-read-only-token-123"
GENIE_KEY = "1e3b6c5a-7f0e-4c55-9d0a-2a4f6ce0b1d7"


@dataclass
class FakePagerDuty:
    url: str = ""
    fixtures: Path = FIXTURES
    authorization: str = f"Token token={TOKEN}"
    opsgenie: bool = False  # Opsgenie's shapes: lists under "data", paged by "paging.next"
    page_size: int = 2
    throttle_first: bool = True
    forbidden: set[str] = field(default_factory=set)  # paths the token may not read
    broken: set[str] = field(default_factory=set)  # paths answered with a malformed body
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _refusal(state: FakePagerDuty, status: int, message: str) -> dict[str, object]:
    if state.opsgenie:
        return {"message": message, "took": 0.0, "requestId": "4f9c1cb1-2c34-4b49-a8c1"}
    return {"error": {"message": message, "code": 2000 + status, "errors": [message]}}


def _handler(state: FakePagerDuty) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            with state.lock:
                state.requests.append(self.path)
                first = len(state.requests) == 1
            if first and state.throttle_first:
                self.send_response(429)
                self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.headers.get("Authorization") != state.authorization:
                self.answer(401, _refusal(state, 401, "Unauthorized"))
                return
            if parts.path in state.forbidden:
                self.answer(403, _refusal(state, 403, "Access Denied"))
                return
            file = state.fixtures / (parts.path.strip("/") + ".json")
            if not file.is_file():
                self.answer(404, _refusal(state, 404, "Not Found"))
                return
            if parts.path in state.broken:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"users": [')
                return
            body = json.loads(file.read_text(encoding="utf-8"))
            query = parse_qs(parts.query)
            key = "data" if state.opsgenie else parts.path.strip("/").split("/")[-1]
            if "offset" in query and isinstance(body.get(key), list):
                offset = int(query["offset"][0])
                limit = min(int(query.get("limit", ["25"])[0]), state.page_size)
                items = body[key]
                more = offset + limit < len(items)
                page = {**body, key: items[offset : offset + limit]}
                if state.opsgenie:
                    following = f"{state.url}{parts.path}?offset={offset + limit}&limit={limit}"
                    page["paging"] = {"first": f"{state.url}{parts.path}?offset=0"}
                    if more:
                        page["paging"]["next"] = following
                else:
                    page.update(offset=offset, limit=limit, more=more, total=None)
                body = page
            self.answer(200, body)

    return Handler


@contextmanager
def fake_pagerduty(*, opsgenie: bool = False) -> Iterator[FakePagerDuty]:
    """Serve the fake PagerDuty (or, with `opsgenie`, Opsgenie) API on a free port of
    127.0.0.1 for the length of the block."""
    state = (
        FakePagerDuty(fixtures=OPSGENIE, authorization=f"GenieKey {GENIE_KEY}", opsgenie=True)
        if opsgenie
        else FakePagerDuty()
    )
    with serving(_handler(state)) as url:
        state.url = url
        yield state
