"""What a Twilio-compatible phone provider posts back: each SMS a person texts to the paging
number (`ACK 12`, `RES 12`), the key pressed during a page call (4, 6, 9), and its status
callbacks for every text and call (delivered, failed, no answer).

Every request is the provider's, signed with the account's auth token in `X-Twilio-Signature`
over the URL it called and the form fields; the signature is checked before anything is done,
so a forged request changes nothing, and message ids (MessageSid, a call's key) are kept so a
replayed one changes nothing either. The body is small by nature: more than 16 KiB is refused
unread.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

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


def _public_url(request: Request) -> str:
    """Return the URL the provider called, which is ours as TOCSIN_BASE_URL says: the one it
    signed."""
    url = str(request.app.state.settings.base_url) + request.url.path
    return url + ("?" + request.url.query if request.url.query else "")


async def _verified(request: Request) -> dict[str, str] | Response:
    """Return the provider's form if its signature holds, else the answer that refuses it."""
    settings = request.app.state.settings
    if not settings.twilio_auth_token:
        return _refused(404, "phone replies are off: TOCSIN_TWILIO_AUTH_TOKEN is not set")
    signature = request.headers.get("x-twilio-signature")
    if not signature:
        return _refused(403, "no X-Twilio-Signature: not a request from the phone provider")
    try:
        form = await _form(request)
    except TooLarge as exc:
        return _refused(413, str(exc))
    if not RequestValidator(settings.twilio_auth_token).validate(
        _public_url(request), form, signature
    ):
        return _refused(403, "the X-Twilio-Signature does not match: nothing was done")
    return form


def _rows(request: Request) -> list[int] | None:
    """Return the notification ids the provider's URL names (`?n=12.13`), or None if bad."""
    found = [part for part in request.query_params.get("n", "").split(".") if part]
    if not found or len(found) > 1000 or not all(p.isascii() and p.isdigit() for p in found):
        return None
    return [int(part) for part in found]


@router.post("/hooks/sms/twilio", include_in_schema=False)
async def sms_reply(request: Request) -> Response:
    """Act on a person's SMS reply and answer them in TwiML."""
    form = await _verified(request)
    if isinstance(form, Response):
        return form
    sid, sender, body = form.get("MessageSid", ""), form.get("From", ""), form.get("Body", "")
    if not sid or not sender:
        return _refused(400, "MessageSid and From are required")
    now = request.app.state.clock.now()

    def work(session: Session) -> str | None:
        if not inbound.first_time(session, "twilio", sid[:64], now=now):
            return None  # seen before: a replay, or the provider trying again
        return replies.sms_reply(session, from_number=sender, body=body, now=now)

    return _twiml(await run_unit(request, work))


@router.post("/hooks/twilio/status", include_in_schema=False)
async def delivery_report(request: Request) -> Response:
    """Store the provider's report of how a text or call went (its status callback)."""
    form = await _verified(request)
    if isinstance(form, Response):
        return form
    ids = _rows(request)
    sid = form.get("CallSid") or form.get("MessageSid") or ""
    status = form.get("CallStatus") or form.get("MessageStatus") or ""
    problems = [
        *([] if ids is not None else ["the URL names no notifications (?n=12.13)"]),
        *([] if sid else ["CallSid or MessageSid is required"]),
        *([] if status else ["CallStatus or MessageStatus is required"]),
    ]
    if problems or ids is None:
        return _refused(400, "; ".join(problems))
    now = request.app.state.clock.now()

    def work(session: Session) -> int:
        return replies.delivery_report(
            session,
            ids=ids,
            sid=sid[:64],
            status=status,
            answered_by=form.get("AnsweredBy", ""),
            error_code=form.get("ErrorCode", ""),
            now=now,
        )

    await run_unit(request, work)
    return Response(status_code=204)


@router.post("/hooks/twilio/keys", include_in_schema=False)
async def keypress(request: Request) -> Response:
    """Act on the key a person pressed during a page call, and say what was done."""
    form = await _verified(request)
    if isinstance(form, Response):
        return form
    ids, sid = _rows(request), form.get("CallSid", "")
    if ids is None or not sid:
        return _refused(400, "the URL must name notifications (?n=12.13) and CallSid is required")
    now = request.app.state.clock.now()

    def work(session: Session) -> replies.Spoken:
        return replies.keypress(
            session, ids=ids, call_sid=sid[:64], digits=form.get("Digits", ""), now=now
        )

    spoken = await run_unit(request, work)
    answer = VoiceResponse()
    if spoken.again:
        gather = answer.gather(
            input="dtmf", num_digits=1, timeout=8, action=_public_url(request), method="POST"
        )
        gather.say(spoken.words)
    else:
        answer.say(spoken.words)
        answer.hangup()
    return Response(str(answer), media_type="application/xml")
