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
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes import JsonHandler, serving
from tocsin.importing import saved_as

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pagerduty"
OPSGENIE = FIXTURES.with_name("opsgenie")
GRAFANA = FIXTURES.with_name("grafana-oncall")
TOKEN = "u+pd-read-only-token-123"
GENIE_KEY = "1e3b6c5a-7f0e-4c55-9d0a-2a4f6ce0b1d7"
ONCALL_TOKEN = "c0ffee0123456789abcdef0123456789abcdef0123456789abcdef0123456789"


@dataclass
class FakePagerDuty:
    url: str = ""
    fixtures: Path = FIXTURES
    authorization: str = f"Token token={TOKEN}"
    opsgenie: bool = False  # Opsgenie's shapes: lists under "data", paged by "paging.next"
    grafana: bool = False  # Grafana OnCall's: lists under "results", paged by page number
    selectors: tuple[str, ...] = ()  # parameters that name a list's file (?user_id=U1)
    page_size: int = 2
    throttle_first: bool = True
    failing: int = 0  # how many requests after the first to answer 503, as an outage would
    forbidden: set[str] = field(default_factory=set)  # paths the token may not read
    broken: set[str] = field(default_factory=set)  # paths answered with a malformed body
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _numbered(
    state: FakePagerDuty, path: str, query: dict[str, list[str]], body: dict[str, Any]
) -> dict[str, Any]:
    """Return one page of a Grafana OnCall list: `page` numbers, `page_size` items each."""
    items = body.get("results")
    if not isinstance(items, list):
        return body
    number = int(query.get("page", ["1"])[0])
    page = items[(number - 1) * state.page_size : number * state.page_size]
    more = number * state.page_size < len(items)
    return {
        "count": len(items),
        "next": f"{state.url}{path}?page={number + 1}" if more else None,
        "previous": f"{state.url}{path}?page={number - 1}" if number > 1 else None,
        "results": page,
        "page_size": state.page_size,
        "current_page_number": number,
        "total_pages": max(1, -(-len(items) // state.page_size)),
    }


def _refusal(state: FakePagerDuty, status: int, message: str) -> dict[str, object]:
    if state.grafana:
        return {"detail": "Invalid token." if status == 401 else message}
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
            with state.lock:
                failing = state.failing > 0 and not first
                if failing:
                    state.failing -= 1
            if failing:
                self.answer(503, _refusal(state, 503, "Service Unavailable"))
                return
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
            query = parse_qs(parts.query)
            chosen = {k: v[0] for k, v in query.items() if k in state.selectors}
            file = state.fixtures / saved_as(parts.path, chosen, state.selectors)
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
            if state.grafana:
                self.answer(200, _numbered(state, parts.path, query, body))
                return
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
def fake_pagerduty(*, opsgenie: bool = False, grafana: bool = False) -> Iterator[FakePagerDuty]:
    """Serve the fake PagerDuty (or, with `opsgenie`, Opsgenie, with `grafana`, Grafana
    OnCall) API on a free port of 127.0.0.1 for the length of the block."""
    if grafana:
        state = FakePagerDuty(
            fixtures=GRAFANA,
            authorization=ONCALL_TOKEN,
            grafana=True,
            selectors=("user_id", "schedule_id", "escalation_chain_id", "integration_id"),
        )
    elif opsgenie:
        state = FakePagerDuty(
            fixtures=OPSGENIE, authorization=f"GenieKey {GENIE_KEY}", opsgenie=True
        )
    else:
        state = FakePagerDuty()
    with serving(_handler(state)) as url:
        state.url = url
        yield state
