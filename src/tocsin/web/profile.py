"""Your profile: how Tocsin reaches you. Add, test and remove your contact methods, and link
your Telegram account.

Everyone manages their own methods here, viewers included (being reachable needs no role).
Each change is a POST with the session's CSRF token, goes through `services.contacts`, and
answers 303 back to the page; a refused one re-renders the page with the problems beside the
form and changes nothing.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from tocsin.errors import TocsinError
from tocsin.http.deps import NowDep, SessionDep
from tocsin.schemas import ContactMethodOut
from tocsin.services import contacts
from tocsin.store import links
from tocsin.store.contacts import ContactType
from tocsin.store.models import User
from tocsin.store.users import UserRole
from tocsin.web import auth
from tocsin.web.auth import LoginDep
from tocsin.web.pages import in_thread
from tocsin.web.render import page, redirect
from tocsin.web.routing import PageRoute

router = APIRouter(include_in_schema=False, route_class=PageRoute)

FIELDS = ("name", "type", "target", "after")
SERVICE_WORKER = Path(__file__).parent / "static" / "sw.js"
# What the target field asks for, by type (the form's hint and placeholder).
TARGETS = {
    "email": ("Address", "alice@example.com"),
    "sms": ("Phone number (E.164)", "+4915112345678"),
    "voice": ("Phone number (E.164)", "+4915112345678"),
    "slack": ("Incoming webhook URL", "https://hooks.slack.com/services/…"),
    "teams": ("Workflows webhook URL", "https://…logic.azure.com/…"),
    "webhook": ("URL", "https://example.com/tocsin"),
    "telegram": ("Chat id (linking sets it for you)", "123456789"),
    "ntfy": ("Topic URL", "https://ntfy.sh/oncall-alice"),
    "console": ("(nothing: printed by tocsin serve)", ""),
}


def _done(to: str, flash: str) -> RedirectResponse:
    return redirect(to, flash)


def _deep_link(request: Request, code: str) -> str | None:
    """Return the t.me link that sends `/start CODE` to the bot, if the bot's name is set."""
    bot = request.app.state.settings.telegram_bot_name
    return f"https://t.me/{bot}?start={code}" if bot else None


def _context(
    request: Request,
    session: Session,
    user: User,
    errors: dict[str, str],
    values: dict[str, str],
    code: str | None = None,
) -> dict[str, Any]:
    settings = request.app.state.settings
    return {
        "methods": [
            ContactMethodOut.of(c.method, c.after, str(c.last_test) if c.last_test else None)
            for c in contacts.list_(session, user.handle)
        ],
        # A browser subscription is made by the browser ("Enable push"), not typed in.
        "types": [t.value for t in ContactType if t is not ContactType.WEBPUSH],
        "targets": TARGETS,
        "errors": errors,
        "values": values,
        "telegram_on": bool(settings.telegram_bot_token),
        "telegram_links": [
            link for link in links.links_of(session, user) if link.provider == "telegram"
        ],
        "slack_on": bool(settings.slack_bot_token),
        "slack_links": [link for link in links.links_of(session, user) if link.provider == "slack"],
        "slack_code": None,
        "vapid_key": _vapid_public_key(settings.vapid_private_key, settings.vapid_subject),
        "code": code,
        "deep_link": _deep_link(request, code) if code else None,
    }


@functools.lru_cache(maxsize=2)
def _vapid_public_key(private_key: str, subject: str) -> str | None:
    """Return the key browsers subscribe with, or None when push is not set up."""
    if not private_key:
        return None
    from tocsin.notify.webpush import VapidKey  # the push library loads only where push is used

    try:
        return VapidKey(private_key, subject).public_key
    except TocsinError:
        return None


@router.get("/sw.js")
def service_worker() -> Response:
    """The service worker that shows pushed pages; served from the root to control every page."""
    return Response(
        SERVICE_WORKER.read_bytes(),
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache"},
    )


@router.post("/profile/push")
async def add_push(request: Request, now: NowDep, login: LoginDep) -> Response:
    """Keep this browser's push subscription as one of your contact methods."""
    data = await auth.form(request, login)
    try:
        subscription = json.loads(data.get("subscription", ""))
    except ValueError:
        return PlainTextResponse("The browser sent no push subscription.", status_code=400)

    def work(session: Session) -> Response:
        try:
            method = contacts.add_push(
                session,
                login.user.handle,
                subscription,
                name=data.get("name", ""),
                now=now,
                trusted=login.can(UserRole.ADMIN),
            )
        except TocsinError as exc:
            session.rollback()
            return PlainTextResponse("; ".join(exc.problems or [exc.message]), status_code=400)
        session.commit()
        return _done("/profile", f"Push enabled on this device as {method.name}. Send it a test.")

    return await in_thread(request, work)


@router.get("/profile", response_class=HTMLResponse)
def profile_page(request: Request, session: SessionDep, login: LoginDep) -> Response:
    """How Tocsin reaches you."""
    return page(request, "profile.html", _context(request, session, login.user, {}, {}))


@router.post("/profile/contacts", response_class=HTMLResponse)
async def add_method(request: Request, now: NowDep, login: LoginDep) -> Response:
    """Add one of your contact methods."""
    data = await auth.form(request, login)

    def work(session: Session) -> Response:
        try:
            contacts.add(
                session,
                login.user.handle,
                name=data.get("name", ""),
                type=data.get("type", ""),
                target=data.get("target", ""),
                after=data.get("after") or "0m",
                now=now,
                trusted=login.can(UserRole.ADMIN),
            )
        except TocsinError as exc:
            session.rollback()
            errors = _field_errors(exc)
            context = _context(request, session, login.user, errors, data)
            return page(request, "profile.html", context, status=400)
        session.commit()
        return _done("/profile", f"Added {data.get('name', '').strip()}. Send it a test.")

    return await in_thread(request, work)


def _field_errors(exc: TocsinError) -> dict[str, str]:
    """Put each problem beside the field it names (a number or URL problem by the target)."""
    found: dict[str, str] = {}
    for problem in exc.problems or [exc.message]:
        head = problem.split(":", 1)[0]
        where = (
            head
            if head in FIELDS
            else "target"
            if head in ("number", "url", "address", "chat_id")
            else "form"
        )
        found[where] = f"{found[where]} {problem}" if where in found else problem
    return found


@router.post("/profile/contacts/{name}/test")
async def test_method(name: str, request: Request, now: NowDep, login: LoginDep) -> Response:
    """Send a test message through one of your methods; the page shows how it went."""
    await auth.form(request, login)

    def work(session: Session) -> Response:
        contacts.test(session, login.user.handle, name, now=now)
        session.commit()
        return _done(
            "/profile", f"Test message to {name} queued; reload in a few seconds to see it sent."
        )

    return await in_thread(request, work)


@router.post("/profile/contacts/{name}/delete")
async def remove_method(name: str, request: Request, login: LoginDep) -> Response:
    """Remove one of your methods and its notification rules."""
    await auth.form(request, login)

    def work(session: Session) -> Response:
        contacts.remove(session, login.user.handle, name)
        session.commit()
        return _done("/profile", f"Removed {name}.")

    return await in_thread(request, work)


CHATS = ("telegram", "slack")


@router.post("/profile/{chat}/link", response_class=HTMLResponse)
async def link_chat(chat: str, request: Request, now: NowDep, login: LoginDep) -> Response:
    """Show a one-time code that links your Telegram or Slack account."""
    await auth.form(request, login)
    if chat not in CHATS:
        return _done("/profile", f"Tocsin links no {chat} accounts.")

    def work(session: Session) -> Response:
        code = contacts.link_code(session, login.user.handle, chat, now=now)
        session.commit()
        context = _context(request, session, login.user, {}, {})
        context["code" if chat == "telegram" else "slack_code"] = code
        if chat == "telegram":
            context["deep_link"] = _deep_link(request, code)
        return page(request, "profile.html", context)

    return await in_thread(request, work)


@router.post("/profile/{chat}/unlink")
async def unlink_chat(chat: str, request: Request, login: LoginDep) -> Response:
    """Unlink your accounts of a chat app: their buttons no longer act as you."""
    await auth.form(request, login)
    if chat not in CHATS:
        return _done("/profile", f"Tocsin links no {chat} accounts.")

    def work(session: Session) -> Response:
        contacts.unlink(session, login.user.handle, chat)
        session.commit()
        return _done("/profile", f"{chat.capitalize()} unlinked.")

    return await in_thread(request, work)
