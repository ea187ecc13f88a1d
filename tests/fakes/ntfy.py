"""A fake ntfy server, served on 127.0.0.1: JSON publishing to the root URL.

Built from ntfy's documented publish-as-JSON shape (https://docs.ntfy.sh/publish/): a topic of
1-64 letters, digits, - and _, a priority from 1 to 5, at most three actions, each `view`,
`http` or `broadcast` with a label (and a URL for the first two). Errors are answered as ntfy
answers them: {"code": 40001, "http": 400, "error": "..."}. Topics in `protected` need
`Authorization: Bearer <token>` with the token given for them (else 403, code 40301).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes import JsonHandler, serving

_TOPIC = re.compile(r"[-_A-Za-z0-9]{1,64}")


@dataclass
class FakeNtfy:
    url: str = ""
    published: list[dict[str, Any]] = field(default_factory=list)
    protected: dict[str, str] = field(default_factory=dict)  # topic -> access token
    lock: threading.Lock = field(default_factory=threading.Lock)


def _problem(body: Any) -> str | None:
    if not isinstance(body, dict) or not _TOPIC.fullmatch(str(body.get("topic", ""))):
        return "invalid topic"
    if body.get("priority", 3) not in (1, 2, 3, 4, 5):
        return "invalid priority"
    actions = body.get("actions", [])
    if not isinstance(actions, list) or len(actions) > 3:
        return "invalid action: too many actions"
    for action in actions:
        if action.get("action") not in ("view", "http", "broadcast") or not action.get("label"):
            return "invalid action"
        if action["action"] in ("view", "http") and not str(action.get("url", "")).startswith(
            ("http://", "https://")
        ):
            return "invalid action: url"
    return None


def _handler(state: FakeNtfy) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/":
                self.answer(404, {"code": 40401, "http": 404, "error": "page not found"})
                return
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            problem = _problem(body)
            if problem:
                self.answer(400, {"code": 40001, "http": 400, "error": problem})
                return
            token = state.protected.get(body["topic"])
            if token and self.headers.get("Authorization") != f"Bearer {token}":
                self.answer(403, {"code": 40301, "http": 403, "error": "forbidden"})
                return
            with state.lock:
                state.published.append(body)
            self.answer(
                200,
                {
                    "id": secrets.token_hex(6),
                    "time": 1_700_000_000,
                    "event": "message",
                    "topic": body["topic"],
                    "title": body.get("title"),
                    "message": body.get("message"),
                },
            )

    return Handler


@contextmanager
def fake_ntfy() -> Iterator[FakeNtfy]:
    """Serve a fake ntfy on a free port of 127.0.0.1 for the length of the block."""
    state = FakeNtfy()
    with serving(_handler(state)) as url:
        state.url = url
        yield state
