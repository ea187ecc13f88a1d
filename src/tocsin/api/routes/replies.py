"""Replies from phones: the SMS webhook a Twilio-compatible provider calls for each message a
person texts back to the paging number (`ACK 12`, `RES 12`).

The request is the provider's, signed with the account's auth token in `X-Twilio-Signature`
over the URL it called and the form fields; the signature is checked before anything is done,
so a forged request changes nothing, and the message id (MessageSid) is kept so a replayed one
changes nothing either. The body is small by nature: more than 16 KiB is refused unread.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from tocsin.api.routes.ingest import TooLarge, read_body, run_unit
from tocsin.services import replies
from tocsin.store import inbound

router = APIRouter(tags=["replies"])

MAX_BODY = 16 * 1024


def _twiml(text: str | None) -> Response:
    answer = MessagingResponse()
    if text:
        answer.message(text)
    return Response(str(answer), media_type="application/xml")


def _refused(status: int, reason: str) -> Response:
    return Response(reason + "\n", status_code=status, media_type="text/plain")


async def _form(request: Request) -> dict[str, str]:
    text = (await read_body(request, MAX_BODY)).decode("utf-8", errors="replace")
    return dict(parse_qsl(text, keep_blank_values=True))


@router.post("/hooks/sms/twilio", include_in_schema=False)
async def sms_reply(request: Request) -> Response:
    """Act on a person's SMS reply and answer them in TwiML."""
    settings = request.app.state.settings
    if not settings.twilio_auth_token:
        return _refused(404, "SMS replies are off: TOCSIN_TWILIO_AUTH_TOKEN is not set")
    signature = request.headers.get("x-twilio-signature")
    if not signature:
        return _refused(403, "no X-Twilio-Signature: not a request from the SMS provider")
    try:
        form = await _form(request)
    except TooLarge as exc:
        return _refused(413, str(exc))
    # The provider signs the URL it was given, which is ours as TOCSIN_BASE_URL says.
    url = settings.base_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    if not RequestValidator(settings.twilio_auth_token).validate(url, form, signature):
        return _refused(403, "the X-Twilio-Signature does not match: nothing was done")
    sid, sender, body = form.get("MessageSid", ""), form.get("From", ""), form.get("Body", "")
    if not sid or not sender:
        return _refused(400, "MessageSid and From are required")
    now = request.app.state.clock.now()

    def work(session: Session) -> str | None:
        if not inbound.first_time(session, "twilio", sid[:64], now=now):
            return None  # seen before: a replay, or the provider trying again
        return replies.sms_reply(session, from_number=sender, body=body, now=now)

    return _twiml(await run_unit(request, work))
