"""A fake of the Slack Web API, served on 127.0.0.1, and a signed client for Slack's requests.

Built from the documented shapes (https://api.slack.com/methods): POST /api/<method> with the
bot token as a bearer token and a JSON body; every answer is HTTP 200 with `{"ok": true, ...}`
or `{"ok": false, "error": "invalid_auth"}`. It keeps the direct messages it was asked to post
(`conversations.open`, `chat.postMessage`), updates them (`chat.update`) and records ephemeral
messages (`chat.postEphemeral`), and sets user groups' members (`usergroups.users.update`). Public
channels are created, joined, given topics, pinned in and archived as Slack does it
(`conversations.create|invite|setTopic|archive|unarchive|history|replies`, `pins.add`), with
Slack's refusals: `name_taken`, `invalid_name_specials`, `is_archived`, `already_pinned`,
`channel_not_found`. `users.lookupByEmail` finds members by their profile's email.

`signed` builds the headers Slack sends with each request to an app: X-Slack-Request-Timestamp
and the v0 HMAC signature of the timestamp and the body, made with slack-sdk's own verifier.
"""

from __future__ import annotations

import itertools
import json
import re
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
class Channel:
    id: str
    name: str
    members: set[str] = field(default_factory=set)
    topic: str = ""
    archived: bool = False
    pins: list[str] = field(default_factory=list)  # message timestamps


_NAME = re.compile(r"[a-z0-9_-]{1,80}")
BOT_USER = "U0TOCSINBOT"


@dataclass
class FakeSlack:
    url: str = ""
    users: set[str] = field(default_factory=set)  # members of the workspace
    messages: list[dict[str, Any]] = field(default_factory=list)
    ephemeral: list[dict[str, Any]] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)  # user group -> its members
    views: list[dict[str, Any]] = field(default_factory=list)  # modals opened
    channels: dict[str, Channel] = field(default_factory=dict)  # by id
    emails: dict[str, str] = field(default_factory=dict)  # email -> member
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
            if method.startswith(("conversations.", "pins.")) and method != "conversations.open":
                return self._channel(method, params)
            if method == "users.lookupByEmail":
                found = self.emails.get(str(params.get("email")))
                if found is None:
                    return {"ok": False, "error": "users_not_found"}
                return {"ok": True, "user": {"id": found, "profile": {"email": params["email"]}}}
            if method == "chat.postMessage":
                if not params.get("channel") or not (params.get("text") or params.get("blocks")):
                    return {"ok": False, "error": "no_text"}
                room = str(params["channel"])
                if room.startswith("C"):
                    if room not in self.channels:
                        return {"ok": False, "error": "channel_not_found"}
                    if self.channels[room].archived:
                        return {"ok": False, "error": "is_archived"}
                message = {**params, "ts": f"1700000000.{next(self._ts):06d}"}
                message.setdefault("user", BOT_USER)
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

    def _channel(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "conversations.create":
            name = str(params.get("name", ""))
            if not _NAME.fullmatch(name):
                return {"ok": False, "error": "invalid_name_specials"}
            if any(c.name == name for c in self.channels.values()):
                return {"ok": False, "error": "name_taken"}
            room = Channel(f"C{len(self.channels) + 1:08d}", name, {BOT_USER})
            self.channels[room.id] = room
            return {"ok": True, "channel": {"id": room.id, "name": name, "is_channel": True}}
        room_or_none = self.channels.get(str(params.get("channel")))
        if room_or_none is None:
            return {"ok": False, "error": "channel_not_found"}
        room = room_or_none
        if method == "conversations.unarchive":
            if not room.archived:
                return {"ok": False, "error": "not_archived"}
            room.archived = False
            return {"ok": True}
        if room.archived:
            return {"ok": False, "error": "is_archived"}
        if method == "conversations.invite":
            users = [u for u in str(params.get("users", "")).split(",") if u]
            if not users:
                return {"ok": False, "error": "no_user"}
            unknown = [u for u in users if u not in self.users]
            if unknown and not params.get("force"):
                return {"ok": False, "error": "user_not_found"}
            if all(u in room.members for u in users) and not params.get("force"):
                return {"ok": False, "error": "already_in_channel"}
            room.members |= {u for u in users if u in self.users}
            return {"ok": True, "channel": {"id": room.id, "name": room.name}}
        if method == "conversations.setTopic":
            topic = str(params.get("topic", ""))
            if len(topic) > 250:
                return {"ok": False, "error": "too_long"}
            room.topic = topic
            return {"ok": True, "channel": {"id": room.id, "topic": {"value": topic}}}
        if method == "conversations.archive":
            room.archived = True
            return {"ok": True}
        if method == "pins.add":
            ts = str(params.get("timestamp", ""))
            if not any(m["channel"] == room.id and m["ts"] == ts for m in self.messages):
                return {"ok": False, "error": "message_not_found"}
            if ts in room.pins:
                return {"ok": False, "error": "already_pinned"}
            room.pins.append(ts)
            return {"ok": True}
        if method in ("conversations.history", "conversations.replies"):
            ts = str(params.get("latest") or params.get("ts") or "")
            said = [m for m in self.messages if m["channel"] == room.id]
            if method == "conversations.replies":
                # The thread of `ts` (its first message, or a reply in it): the first message
                # always, then the replies within latest..oldest.
                [asked] = [m for m in said if m["ts"] == params.get("ts")] or [None]
                if asked is None:
                    return {"ok": False, "error": "thread_not_found"}
                root = str(asked.get("thread_ts") or asked["ts"])
                oldest, latest = str(params.get("oldest") or "0"), str(params.get("latest") or "9")
                replies = [
                    m
                    for m in said
                    if m.get("thread_ts") == root
                    and m["ts"] != root
                    and oldest <= m["ts"] <= latest
                ]
                said = [m for m in said if m["ts"] == root] + replies
            else:
                said = [m for m in said if not m.get("thread_ts") or m["thread_ts"] == m["ts"]]
                said = [m for m in said if not ts or m["ts"] <= ts]
                said.reverse()  # newest first
            limit = int(params.get("limit") or 100)
            return {"ok": True, "messages": said[:limit], "has_more": len(said) > limit}
        return {"ok": False, "error": "unknown_method"}

    def say(self, channel: str, user: str, text: str, thread: str | None = None) -> str:
        """Post a message in a channel as a person; return its timestamp."""
        with self.lock:
            ts = f"1700000000.{next(self._ts):06d}"
            message = {"channel": channel, "user": user, "text": text, "ts": ts}
            if thread:
                message["thread_ts"] = thread
            self.messages.append(message)
            return ts

    def in_channel(self, channel: str) -> list[str]:
        """Return the texts posted in a channel, oldest first."""
        return [str(m.get("text")) for m in self.messages if m["channel"] == channel]

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
