"""A fake of PagerDuty's REST API v2, served on 127.0.0.1 from saved answers.

GET /X answers the fixture file X.json, as PagerDuty would: a list endpoint is paged by
`offset` and `limit` with `more` (at most `page_size` items a page, fewer than asked, as the
API may), the token is checked (`Authorization: Token token=...`; 401 with PagerDuty's error
body otherwise), and the first request of all is answered 429 with Retry-After, to prove the
client waits and tries again.
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
TOKEN = "u+pd-read-only-token-123"


@dataclass
class FakePagerDuty:
    url: str = ""
    page_size: int = 2
    throttle_first: bool = True
    forbidden: set[str] = field(default_factory=set)  # paths the token may not read
    broken: set[str] = field(default_factory=set)  # paths answered with a malformed body
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _error(code: int, message: str) -> dict[str, object]:
    return {"error": {"message": message, "code": code, "errors": [message]}}


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
            if self.headers.get("Authorization") != f"Token token={TOKEN}":
                self.answer(401, _error(2006, "Unauthorized"))
                return
            if parts.path in state.forbidden:
                self.answer(403, _error(2010, "Access Denied"))
                return
            file = FIXTURES / (parts.path.strip("/") + ".json")
            if not file.is_file():
                self.answer(404, _error(2100, "Not Found"))
                return
            if parts.path in state.broken:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"users": [')
                return
            body = json.loads(file.read_text(encoding="utf-8"))
            query = parse_qs(parts.query)
            key = parts.path.strip("/").split("/")[-1]
            if "offset" in query and isinstance(body.get(key), list):
                offset = int(query["offset"][0])
                limit = min(int(query.get("limit", ["25"])[0]), state.page_size)
                items = body[key]
                body = {
                    key: items[offset : offset + limit],
                    "offset": offset,
                    "limit": limit,
                    "more": offset + limit < len(items),
                    "total": None,
                }
            self.answer(200, body)

    return Handler


@contextmanager
def fake_pagerduty() -> Iterator[FakePagerDuty]:
    """Serve the fake API on a free port of 127.0.0.1 for the length of the block."""
    state = FakePagerDuty()
    with serving(_handler(state)) as url:
        state.url = url
        yield state
