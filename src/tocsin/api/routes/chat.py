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


# --- Slack --------------------------------------------------------------------------------------

SLACK_MAX_BODY = 64 * 1024


async def _slack_form(request: Request) -> dict[str, str] | Response:
    """Return the form Slack posted if its signature holds, else the answer that refuses it."""
    from urllib.parse import parse_qsl

    raw = await _slack_body(request)
    if isinstance(raw, Response):
        return raw
    return dict(parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True))


async def _slack_body(request: Request) -> bytes | Response:
    """Return the body Slack posted if its signature holds (v0 HMAC of the timestamp and the
    body, with the signing secret; a timestamp more than 5 minutes old is refused as a
    replay), else the answer that refuses it. The body is read, capped, only to check it."""
    from slack_sdk.signature import SignatureVerifier

    settings = request.app.state.settings
    if not settings.slack_bot_token or not settings.slack_signing_secret:
        return _refused(
            404, "Slack is off: set TOCSIN_SLACK_BOT_TOKEN and TOCSIN_SLACK_SIGNING_SECRET"
        )
    timestamp = request.headers.get("x-slack-request-timestamp", "")
    signature = request.headers.get("x-slack-signature", "")
    if not timestamp or not signature:
        return _refused(401, "no X-Slack-Signature: not a request from Slack")
    try:
        raw = await read_body(request, SLACK_MAX_BODY)
    except TooLarge as exc:
        return _refused(413, str(exc))
    verifier = SignatureVerifier(settings.slack_signing_secret)
    if not verifier.is_valid(raw, timestamp, signature):
        return _refused(401, "the signature does not match, or the request is too old")
    return raw


def _slack_after(settings: Any, reply: chat.SlackReply, slack_user: str) -> BackgroundTask | None:
    """Return the work to do once Slack has its answer: update the page, or tell the person."""
    if reply.update is None and reply.ephemeral is None:
        return None

    def run() -> None:
        from tocsin.notify.slack_app import SlackApp

        app = SlackApp(settings.slack_bot_token, settings.slack_api_url)
        if reply.update is not None:
            result = app.call("chat.update", **reply.update)
        else:
            result = app.call(
                "chat.postEphemeral", channel=reply.channel, user=slack_user, text=reply.ephemeral
            )
        if result.outcome is not Outcome.SENT:
            log.warning("could not answer in Slack: %s", result.detail)

    return BackgroundTask(run)


def _open_view(settings: Any, trigger: str, view: dict[str, Any]) -> None:
    """Open a modal for the person who ran the command (Slack's trigger lives 3 seconds)."""
    from tocsin.notify.slack_app import SlackApp

    result = SlackApp(settings.slack_bot_token, settings.slack_api_url).call(
        "views.open", trigger_id=trigger, view=view
    )
    if result.outcome is not Outcome.SENT:
        log.warning("could not open the declare form in Slack: %s", result.detail)


@router.post("/hooks/slack/interactivity", include_in_schema=False)
async def slack_interactivity(request: Request) -> Response:
    """Act on a button pressed in Slack; Slack gets its answer at once, the page is updated
    after the commit."""
    form = await _slack_form(request)
    if isinstance(form, Response):
        return form
    try:
        payload = json.loads(form.get("payload", ""))
    except ValueError:
        return _refused(400, "payload is not JSON")
    if not isinstance(payload, dict):
        return _refused(400, "payload is not a JSON object")
    now = request.app.state.clock.now()
    if payload.get("type") == "view_submission":

        def submit(session: Session) -> dict[str, Any]:
            return chat.slack_view(session, payload, now=now)

        return JSONResponse(await run_unit(request, submit))

    def work(session: Session) -> chat.SlackReply:
        return chat.slack_action(session, payload, now=now)

    reply = await run_unit(request, work)
    user = str((payload.get("user") or {}).get("id") or "")
    settings = request.app.state.settings
    return Response(status_code=200, background=_slack_after(settings, reply, user))


@router.post("/hooks/slack/commands", include_in_schema=False)
async def slack_command(request: Request) -> Response:
    """Run a `/tocsin ...` slash command; the answer is shown to its user only."""
    form = await _slack_form(request)
    if isinstance(form, Response):
        return form
    slack_user, text = form.get("user_id", ""), form.get("text", "")
    if not slack_user:
        return _refused(400, "user_id is required")
    now = request.app.state.clock.now()
    if text.strip().lower() == "declare" and form.get("trigger_id"):
        # Nothing after it: the form asks for what is missing.
        def form_for(session: Session) -> dict[str, Any] | str:
            return chat.declare_form(session, slack_user=slack_user)

        view = await run_unit(request, form_for, read_only=True)
        if isinstance(view, str):
            return JSONResponse({"response_type": "ephemeral", "text": view})
        settings = request.app.state.settings
        task = BackgroundTask(_open_view, settings, form["trigger_id"], view)
        return Response(status_code=200, background=task)

    channel = form.get("channel_id", "")

    def work(session: Session) -> str:
        return chat.slack_command(
            session, slack_user=slack_user, text=text, now=now, channel=channel
        )

    answer = await run_unit(request, work)
    return JSONResponse({"response_type": "ephemeral", "text": answer})


@router.post("/hooks/slack/events", include_in_schema=False)
async def slack_events(request: Request) -> Response:
    """Take one event from Slack's Events API: answered at once, the work left to the engine
    (a pinned message is read back from Slack there, not while Slack waits)."""
    raw = await _slack_body(request)
    if isinstance(raw, Response):
        return raw
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _refused(400, "the body is not JSON")
    if not isinstance(body, dict):
        return _refused(400, "an event is a JSON object")
    if body.get("type") == "url_verification":
        # Slack checks the request URL once, when it is set in the app's settings.
        return JSONResponse({"challenge": str(body.get("challenge") or "")})
    now = request.app.state.clock.now()

    def work(session: Session) -> None:
        chat.slack_event(session, body, now=now)

    await run_unit(request, work)
    return Response(status_code=200)
