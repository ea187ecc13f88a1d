"""A fake of the Slack Web API, served on 127.0.0.1, and a signed client for Slack's requests.

Built from the documented shapes (https://api.slack.com/methods): POST /api/<method> with the
bot token as a bearer token and a JSON body; every answer is HTTP 200 with `{"ok": true, ...}`
or `{"ok": false, "error": "invalid_auth"}`. It keeps the direct messages it was asked to post
(`conversations.open`, `chat.postMessage`), updates them (`chat.update`) and records ephemeral
messages (`chat.postEphemeral`), and sets user groups' members (`usergroups.users.update`).

`signed` builds the headers Slack sends with each request to an app: X-Slack-Request-Timestamp
and the v0 HMAC signature of the timestamp and the body, made with slack-sdk's own verifier.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from slack_sdk.signature import SignatureVerifier

from tests.fakes import JsonHandler, serving

BOT_TOKEN = "xoxb-1111-2222-fakebottoken0123456789"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def signed(body: bytes, *, secret: str = SIGNING_SECRET, age: float = 0) -> dict[str, str]:
    """Return the headers Slack signs a request to the app with (`age` seconds ago)."""
    timestamp = str(int(time.time() - age))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }


@dataclass
class FakeSlack:
    url: str = ""
    users: set[str] = field(default_factory=set)  # members of the workspace
    messages: list[dict[str, Any]] = field(default_factory=list)
    ephemeral: list[dict[str, Any]] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)  # user group -> its members
    views: list[dict[str, Any]] = field(default_factory=list)  # modals opened
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def run(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.calls.append(method)
            if method == "conversations.open":
                user = str(params.get("users", ""))
                if user not in self.users:
                    return {"ok": False, "error": "user_not_found"}
                return {"ok": True, "channel": {"id": "D" + user[1:]}}
            if method == "chat.postMessage":
                if not params.get("channel") or not (params.get("text") or params.get("blocks")):
                    return {"ok": False, "error": "no_text"}
                message = {**params, "ts": f"1700000000.{next(self._ts):06d}"}
                self.messages.append(message)
                return {
                    "ok": True,
                    "channel": params["channel"],
                    "ts": message["ts"],
                    "message": message,
                }
            if method == "chat.update":
                for message in self.messages:
                    if (message["channel"], message["ts"]) == (
                        params.get("channel"),
                        params.get("ts"),
                    ):
                        message.update(params)
                        return {"ok": True, "channel": message["channel"], "ts": message["ts"]}
                return {"ok": False, "error": "message_not_found"}
            if method == "usergroups.users.update":
                members = [u for u in str(params.get("users", "")).split(",") if u]
                if not members:
                    return {"ok": False, "error": "no_users_provided"}
                if any(u not in self.users for u in members):
                    return {"ok": False, "error": "invalid_users"}
                self.groups[str(params.get("usergroup"))] = members
                return {"ok": True, "usergroup": {"id": params.get("usergroup"), "users": members}}
            if method == "views.open":
                view = params.get("view")
                if not params.get("trigger_id") or not isinstance(view, dict):
                    return {"ok": False, "error": "invalid_arguments"}
                self.views.append(view)
                return {"ok": True, "view": {"id": f"V{len(self.views):08d}", **view}}
            if method == "chat.postEphemeral":
                self.ephemeral.append(params)
                return {"ok": True, "message_ts": f"1700000000.{next(self._ts):06d}"}
            return {"ok": False, "error": "unknown_method"}

    def actions(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """Return the buttons under a message."""
        return [
            element
            for block in message.get("blocks", [])
            if block.get("type") == "actions"
            for element in block.get("elements", [])
        ]


def _handler(state: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            method = self.path.removeprefix("/api/")
            if self.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
                self.answer(200, {"ok": False, "error": "invalid_auth"})
                return
            try:
                params = json.loads(raw or b"{}")
            except ValueError:
                self.answer(200, {"ok": False, "error": "invalid_json"})
                return
            self.answer(200, state.run(method, params))

    return Handler


@contextmanager
def fake_slack() -> Iterator[FakeSlack]:
    """Serve a fake Slack Web API on a free port of 127.0.0.1 for the length of the block."""
    state = FakeSlack()
    with serving(_handler(state)) as url:
        state.url = url
        yield state
