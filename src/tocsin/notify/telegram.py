"""Telegram: pages as bot messages with Acknowledge and Resolve buttons.

The Bot API is JSON over HTTPS (https://core.telegram.org/bots/api): `sendMessage` with an
`inline_keyboard` whose buttons carry `callback_data` ("ack:12", "res:12"). Pressing one makes
Telegram post a callback query to Tocsin's webhook (`/hooks/telegram`), which acts as the Tocsin
user the pressing Telegram account is linked to. The bot token is part of every method's URL,
so it is kept out of every `repr`, error message and log line; httpx's request log (which names
the URL) is kept at WARNING for that reason.

Telegram answers `{"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by
the user"}` with the matching HTTP status, and 429 with Retry-After: the shared POST helper
classifies those like any webhook's answer.
"""

from __future__ import annotations

import html
import json
import logging
import re
from dataclasses import replace
from typing import Any

import httpx

from tocsin.errors import InvalidInput
from tocsin.notify import Message, SendResult
from tocsin.notify.webhook import Poster, check_url, post

__all__ = ["TelegramAdapter", "TelegramBot", "buttons", "message_body"]

logging.getLogger("httpx").setLevel(logging.WARNING)

_TOKEN = re.compile(r"[0-9]{3,12}:[A-Za-z0-9_-]{20,64}")
_CHAT = re.compile(r"-?[0-9]{1,20}")
# Telegram's limit for a message text is 4096 characters after entity parsing.
TEXT_LIMIT = 3500


class TelegramBot:
    """The bot every Telegram message is sent as (the `TOCSIN_TELEGRAM_*` settings)."""

    def __init__(self, token: str, base_url: str) -> None:
        if not _TOKEN.fullmatch(token.strip()):
            # The value is not quoted back: it is a secret even when it is malformed.
            raise InvalidInput(
                "TOCSIN_TELEGRAM_BOT_TOKEN is not set or is not a bot token (digits, a colon,"
                " and the secret BotFather gave)"
            )
        self._token = token.strip()
        self.base_url = check_url(base_url, "TOCSIN_TELEGRAM_BASE_URL").rstrip("/")

    def __repr__(self) -> str:  # the token must never reach a log line
        return f"TelegramBot({self.base_url})"

    def method_url(self, method: str) -> str:
        """Return the URL of one Bot API method (it holds the token: never show it)."""
        return f"{self.base_url}/bot{self._token}/{method}"

    def call(self, client: httpx.Client, method: str, params: dict[str, Any]) -> SendResult:
        """Call one Bot API method once and classify the answer."""
        body = json.dumps(params, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        return post(client, self.method_url(method), body, headers, timeout=10.0, peer="Telegram")


def check_chat(chat_id: str) -> str:
    """Return a Telegram chat id (an integer, negative for groups), or raise InvalidInput."""
    if not _CHAT.fullmatch(chat_id.strip()):
        raise InvalidInput(f"{chat_id!r} is not a Telegram chat id (an integer)")
    return chat_id.strip()


def buttons(message: Message) -> list[list[dict[str, str]]]:
    """Return the inline keyboard of a page: Acknowledge and Resolve for its incident, and a
    link to it. A bundle of several pages names no single incident, so it gets the link only."""
    rows: list[list[dict[str, str]]] = []
    number = (message.incident or "").removeprefix("INC-")
    # Only a page carries the acknowledge link; a notice or a reminder gets no buttons to act.
    if number.isdigit() and not message.items and message.ack_url:
        rows.append(
            [
                {"text": "Acknowledge", "callback_data": f"ack:{number}"},
                {"text": "Resolve", "callback_data": f"res:{number}"},
            ]
        )
    # Telegram refuses a button whose URL is not public (http://127.0.0.1...): https only.
    if message.url and message.url.startswith("https://"):
        rows.append([{"text": "Open incident", "url": message.url}])
    return rows


def message_body(message: Message, chat_id: str) -> dict[str, Any]:
    """Return the `sendMessage` parameters of a message: the subject in bold, then its text."""
    text = f"<b>{html.escape(message.subject)}</b>"
    if message.items:
        text += "\n" + "\n".join(f"• {html.escape(item)}" for item in message.items)
    elif message.text:
        text += "\n" + html.escape(message.text)
    if len(text) > TEXT_LIMIT:
        text = text[: TEXT_LIMIT - 1] + "…"
    body: dict[str, Any] = {
        "chat_id": int(chat_id),
        "text": text,
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }
    keyboard = buttons(message)
    if keyboard:
        body["reply_markup"] = {"inline_keyboard": keyboard}
    return body


class TelegramAdapter(Poster):
    """Send each message to one Telegram chat as the bot."""

    what = "Telegram Bot API url"
    peer = "Telegram"
    default_timeout = 10.0

    def __init__(self, bot: TelegramBot, chat_id: str, *, timeout: float | None = None) -> None:
        self.chat_id = check_chat(chat_id)
        super().__init__(bot.method_url("sendMessage"), timeout=timeout)

    def __repr__(self) -> str:
        return f"TelegramAdapter(chat {self.chat_id})"

    def payload(self, message: Message) -> dict[str, Any]:
        return message_body(message, self.chat_id)

    def send(self, message: Message) -> SendResult:
        """Send the message once; a refusal is told in Telegram's own words."""
        result = super().send(message)
        return replace(result, detail=readable(result.detail))


def readable(detail: str) -> str:
    """Return a refusal's detail with Telegram's JSON answer reduced to its description:
    'HTTP 403 from Telegram: Forbidden: bot was blocked by the user'."""
    head, sep, body = detail.partition(": ")
    try:
        found = json.loads(body) if sep else None
    except ValueError:
        return detail
    if isinstance(found, dict) and isinstance(found.get("description"), str):
        return f"{head}: {found['description']}"
    return detail
