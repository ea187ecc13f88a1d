"""A fake of the Telegram Bot API, served on 127.0.0.1, and of the people using the bot.

Built from the documented shapes (https://core.telegram.org/bots/api): every method is
POST /bot<token>/<method> with a JSON body, and answers {"ok": true, "result": ...} or
{"ok": false, "error_code": N, "description": "..."} with the same HTTP status (401 for a wrong
token, 400 "Bad Request: chat not found", 403 "Forbidden: bot was blocked by the user").
Messages are checked as Telegram checks them: HTML parse mode with its few tags only, inline
keyboard buttons with a text and exactly one of callback_data (at most 64 bytes) or url.

The test drives the people: `say` posts a message update and `press` a button's callback query
to Tocsin's webhook, with the secret token header, and a Bot API method returned in Tocsin's
answer is run, as Telegram runs it.
"""

from __future__ import annotations

import itertools
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes import JsonHandler, serving

TOKEN = "123456789:AAF" + "x" * 32
SECRET = "webhook-secret-" + "7" * 16
_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre"}


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.bad: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _TAGS:
            self.bad.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _keyboard_problem(markup: Any) -> str | None:
    if markup is None:
        return None
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if not isinstance(rows, list):
        return "Bad Request: inline keyboard expected"
    for button in itertools.chain.from_iterable(rows):
        kinds = [k for k in ("callback_data", "url") if k in button]
        if not button.get("text") or len(kinds) != 1:
            return "Bad Request: can't parse inline keyboard button"
        if len(str(button.get("callback_data", "")).encode()) > 64:
            return "Bad Request: BUTTON_DATA_INVALID"
    return None


@dataclass
class FakeTelegram:
    """What the fake's bot sent and shows, and who may be written to."""

    url: str = ""
    webhook: str = ""  # where updates go: Tocsin's /hooks/telegram
    chats: set[int] = field(default_factory=set)  # chats that started the bot
    blocked: set[int] = field(default_factory=set)
    messages: list[dict[str, Any]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)  # callback query answers
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def run(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Run one Bot API method; return the HTTP status and the answer."""
        if method == "sendMessage":
            return self._send(params)
        if method == "editMessageReplyMarkup":
            return self._edit(params)
        if method == "answerCallbackQuery":
            if not isinstance(params.get("callback_query_id"), str):
                return _fail(400, "Bad Request: query is too old or query ID is invalid")
            with self.lock:
                self.answers.append(params)
            return 200, {"ok": True, "result": True}
        return _fail(404, "Not Found")

    def _send(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        chat = params.get("chat_id")
        if chat in self.blocked:
            return _fail(403, "Forbidden: bot was blocked by the user")
        if chat not in self.chats:
            return _fail(400, "Bad Request: chat not found")
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            return _fail(400, "Bad Request: message text is empty")
        if params.get("parse_mode") == "HTML":
            parser = _Html()
            parser.feed(text)
            if parser.bad:
                return _fail(
                    400, f"Bad Request: can't parse entities: unsupported tag {parser.bad[0]}"
                )
            text = "".join(parser.text)
        problem = _keyboard_problem(params.get("reply_markup"))
        if problem:
            return _fail(400, problem)
        message = {
            "message_id": next(self._ids),
            "chat": {"id": chat, "type": "private"},
            "date": 1_700_000_000,
            "text": text,
            **({"reply_markup": params["reply_markup"]} if "reply_markup" in params else {}),
        }
        with self.lock:
            self.messages.append(message)
        return 200, {"ok": True, "result": message}

    def _edit(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        problem = _keyboard_problem(params.get("reply_markup"))
        if problem:
            return _fail(400, problem)
        with self.lock:
            for message in self.messages:
                if (message["chat"]["id"], message["message_id"]) == (
                    params.get("chat_id"),
                    params.get("message_id"),
                ):
                    message["reply_markup"] = params.get("reply_markup")
                    return 200, {"ok": True, "result": message}
        return _fail(400, "Bad Request: message to edit not found")

    def _update(self, update: dict[str, Any], *, secret: str = SECRET) -> tuple[int, Any]:
        """Post an update to the webhook as Telegram does, and run the method answered."""
        request = urllib.request.Request(
            self.webhook,
            data=json.dumps(update).encode(),
            headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                status, body = answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        found = json.loads(body) if body else {}
        if isinstance(found, dict) and "method" in found:
            params = {k: v for k, v in found.items() if k != "method"}
            self.run(found["method"], params)
        return status, found

    def say(self, chat: int, sender: int, text: str, **kw: Any) -> tuple[int, Any]:
        """A person writes `text` to the bot."""
        self.chats.add(chat)
        update_id = next(self._ids)
        return self._update(
            {
                "update_id": update_id,
                "message": {
                    "message_id": next(self._ids),
                    "from": {"id": sender, "is_bot": False, "first_name": "Alice"},
                    "chat": {"id": chat, "type": "private"},
                    "date": 1_700_000_000,
                    "text": text,
                },
            },
            **kw,
        )

    def press(self, message: dict[str, Any], label: str, sender: int, **kw: Any) -> tuple[int, Any]:
        """A person presses the button labelled `label` under `message`."""
        buttons = itertools.chain.from_iterable(message["reply_markup"]["inline_keyboard"])
        button = next(b for b in buttons if b["text"] == label)
        return self._update(
            {
                "update_id": next(self._ids),
                "callback_query": {
                    "id": f"q{next(self._ids)}",
                    "from": {"id": sender, "is_bot": False, "first_name": "Alice"},
                    "message": {k: message[k] for k in ("message_id", "chat", "date", "text")},
                    "chat_instance": "-1",
                    "data": button["callback_data"],
                },
            },
            **kw,
        )


def _fail(status: int, description: str) -> tuple[int, dict[str, Any]]:
    return status, {"ok": False, "error_code": status, "description": description}


def _handler(state: FakeTelegram) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            prefix, _, method = self.path.rpartition("/")
            if prefix != f"/bot{TOKEN}":
                self.answer(*_fail(401, "Unauthorized"))
                return
            try:
                params = json.loads(raw or b"{}")
            except ValueError:
                self.answer(*_fail(400, "Bad Request: can't parse JSON"))
                return
            self.answer(*state.run(method, params))

    return Handler


@contextmanager
def fake_telegram() -> Iterator[FakeTelegram]:
    """Serve a fake Bot API on a free port of 127.0.0.1 for the length of the block."""
    state = FakeTelegram()
    with serving(_handler(state)) as url:
        state.url = url
        yield state
