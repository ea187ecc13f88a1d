"""The Telegram bot's webhook: every update Telegram has for the bot (messages, buttons pressed).

Telegram proves a request is its own by the secret token given to `setWebhook`, which it sends in
`X-Telegram-Bot-Api-Secret-Token`; it is compared before the body is read. An update's id is
kept, so a repeated one changes nothing. The answer to a button is given in the response itself
(Telegram runs a Bot API method returned there); the pressed message is updated after the
commit, off the event loop.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from tocsin.api.routes.ingest import TooLarge, read_body, run_unit
from tocsin.notify import Outcome
from tocsin.notify.telegram import TelegramBot
from tocsin.notify.webhook import new_client
from tocsin.services import chat

router = APIRouter(tags=["chat"])
log = logging.getLogger("tocsin.chat")

MAX_BODY = 64 * 1024
SECRET_HEADER = "x-telegram-bot-api-secret-token"


def _refused(status: int, reason: str) -> Response:
    return Response(reason + "\n", status_code=status, media_type="text/plain")


def _edit(bot: TelegramBot, params: dict[str, Any]) -> None:
    """Update the pressed message; a failure costs only the look of it, and is logged."""
    with new_client(10.0) as client:
        result = bot.call(client, "editMessageReplyMarkup", params)
    if result.outcome is not Outcome.SENT:
        log.warning("could not update the Telegram message: %s", result.detail)


@router.post("/hooks/telegram", include_in_schema=False)
async def telegram_update(request: Request) -> Response:
    """Act on one update from Telegram."""
    settings = request.app.state.settings
    if not settings.telegram_bot_token or not settings.telegram_webhook_secret:
        return _refused(
            404,
            "Telegram is off: set TOCSIN_TELEGRAM_BOT_TOKEN and TOCSIN_TELEGRAM_WEBHOOK_SECRET",
        )
    given = request.headers.get(SECRET_HEADER, "").encode()
    if not hmac.compare_digest(given, settings.telegram_webhook_secret.encode()):
        return _refused(403, "the secret token does not match: not a request from Telegram")
    try:
        raw = await read_body(request, MAX_BODY)
    except TooLarge as exc:
        return _refused(413, str(exc))
    try:
        update = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _refused(400, "the body is not JSON")
    if not isinstance(update, dict):
        return _refused(400, "an update is a JSON object")
    now = request.app.state.clock.now()

    def work(session: Session) -> chat.BotAnswer:
        return chat.telegram_update(session, update, now=now)

    answer = await run_unit(request, work)
    task = None
    if answer.edit is not None:
        bot = TelegramBot(settings.telegram_bot_token, settings.telegram_base_url)
        task = BackgroundTask(_edit, bot, answer.edit)
    return JSONResponse(answer.reply or {}, background=task)
