"""What people do from a chat app: link their chat account, and press a page's buttons.

Telegram posts each update (a message to the bot, a button pressed) to Tocsin's webhook; the
route proves it came from Telegram (the webhook's secret token) and hands it here. A button
acts as the Tocsin user the pressing account is linked to, and only then: an unlinked account is
told how to link and nothing changes. Linking takes the one-time code from the person's profile
page: `/start CODE` (which a t.me deep link sends with one tap).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.core.incident import IncidentStatus, incident_ref
from tocsin.errors import TocsinError
from tocsin.services import incidents
from tocsin.store import contacts, inbound, links
from tocsin.store.contacts import ContactType, Method
from tocsin.store.models import Incident, User
from tocsin.store.users import UserRole

TELEGRAM = "telegram"
LINK_HELP = (
    'This chat is not linked to Tocsin. On your Tocsin profile page, choose "Link Telegram"'
    " and send the bot /start followed by the code it shows."
)
_START = re.compile(r"/(?:start|link)(?:@\w+)?\s+(?P<code>[A-Za-z0-9]{6,32})\s*")
_BUTTON = re.compile(r"(?P<verb>ack|res):(?P<number>[0-9]{1,9})")


@dataclass(frozen=True, slots=True)
class BotAnswer:
    """How to answer an update: a Bot API call returned in the webhook's response (`reply`),
    and one to make after the commit (`edit`: the pressed message updated in place)."""

    reply: dict[str, Any] | None = None
    edit: dict[str, Any] | None = None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def telegram_update(session: Session, update: dict[str, Any], *, now: datetime) -> BotAnswer:
    """Act on one Telegram update, once (a repeated update_id does nothing)."""
    update_id = update.get("update_id")
    if not isinstance(update_id, int) or not inbound.first_time(
        session, TELEGRAM, str(update_id), now=now
    ):
        return BotAnswer()
    query = _dict(update.get("callback_query"))
    if query:
        return _button(session, query, now)
    message = _dict(update.get("message"))
    if message:
        return _message(session, message, now)
    return BotAnswer()


def _message(session: Session, message: dict[str, Any], now: datetime) -> BotAnswer:
    chat = _dict(message.get("chat")).get("id")
    sender = _dict(message.get("from")).get("id")
    text = message.get("text")
    if not isinstance(chat, int) or not isinstance(sender, int) or not isinstance(text, str):
        return BotAnswer()

    def say(words: str) -> BotAnswer:
        return BotAnswer({"method": "sendMessage", "chat_id": chat, "text": words})

    found = _START.fullmatch(text)
    if found is None:
        user = links.linked_user(session, TELEGRAM, str(sender))
        if user is None:
            return say(LINK_HELP)
        return say(
            f"This chat is linked to {user.handle}. Pages arrive here with buttons to"
            " acknowledge and resolve them."
        )
    user = links.redeem(session, TELEGRAM, found.group("code"), str(sender), now=now)
    if user is None:
        return say(
            "That code is unknown, used or expired: make a new one on your Tocsin profile page."
        )
    _chat_method(session, user, str(chat), now)
    return say(f"Linked to {user.handle}: pages will arrive in this chat.")


def _chat_method(session: Session, user: User, chat: str, now: datetime) -> None:
    """Point the user's Telegram contact method at this chat, adding one if they have none."""
    found = [m for m in contacts.methods_of(session, user) if m.type == ContactType.TELEGRAM]
    if found:
        found[0].target = chat
        session.flush()
        return
    names = {m.name for m in contacts.methods_of(session, user)}
    name = next(
        n for n in ("telegram", "telegram-2", "telegram-3", f"telegram-{chat}") if n not in names
    )
    # It pages at once (a rule at 0m); the profile page shows that and can remove it.
    contacts.add(
        session,
        user,
        Method(name, ContactType.TELEGRAM.value, chat, None, None),
        after_seconds=0,
        now=now,
    )


def _button(session: Session, query: dict[str, Any], now: datetime) -> BotAnswer:
    query_id = query.get("id")
    sender = _dict(query.get("from")).get("id")
    message = _dict(query.get("message"))
    if not isinstance(query_id, str) or not isinstance(sender, int):
        return BotAnswer()

    def toast(words: str, *, alert: bool = False) -> dict[str, Any]:
        return {
            "method": "answerCallbackQuery",
            "callback_query_id": query_id,
            "text": words[:200],
            "show_alert": alert,
        }

    user = links.linked_user(session, TELEGRAM, str(sender))
    if user is None:
        return BotAnswer(toast(LINK_HELP, alert=True))
    # A client can send any callback data: the button's verb is checked against the role.
    if user.role == UserRole.VIEWER:
        return BotAnswer(
            toast(f"{user.handle} is a viewer in Tocsin and cannot act on incidents.", alert=True)
        )
    found = _BUTTON.fullmatch(str(query.get("data") or ""))
    if found is None:
        return BotAnswer(toast("That button does nothing any more."))
    number = int(found.group("number"))
    incident = session.scalar(select(Incident).where(Incident.number == number))
    if incident is None:
        return BotAnswer(toast(f"There is no {incident_ref(number)}."))
    ref = incident_ref(number)
    try:
        if found.group("verb") == "ack":
            done = incidents.acknowledge(
                session, incident, actor=user.handle, now=now, via="Telegram"
            )
            words = done.warnings[0] if done.warnings else f"{ref} acknowledged"
        elif incident.status in (IncidentStatus.RESOLVED.value, IncidentStatus.CLOSED.value):
            words = f"{ref} is {incident.status} already"
        else:
            incidents.resolve(
                session,
                incident,
                message=f"Resolved by {user.handle} by Telegram",
                actor=user.handle,
                now=now,
            )
            words = f"{ref} resolved"
    except TocsinError as exc:
        return BotAnswer(toast(f"{ref}: {exc.message}", alert=True))
    return BotAnswer(toast(words), _edit(message, incident, user))


def _edit(message: dict[str, Any], incident: Incident, user: User) -> dict[str, Any] | None:
    """Return the edit that shows, on the pressed message, who did what; and leaves Resolve
    while the incident is open."""
    chat = _dict(message.get("chat")).get("id")
    message_id = message.get("message_id")
    if not isinstance(chat, int) or not isinstance(message_id, int):
        return None
    resolved = incident.status in (IncidentStatus.RESOLVED.value, IncidentStatus.CLOSED.value)
    done = "Resolved" if resolved else "Acknowledged"
    rows: list[list[dict[str, str]]] = [
        [{"text": f"✓ {done} by {user.handle}", "callback_data": "done"}]
    ]
    if not resolved:
        rows.append([{"text": "Resolve", "callback_data": f"res:{incident.number}"}])
    return {
        "chat_id": chat,
        "message_id": message_id,
        "reply_markup": {"inline_keyboard": rows},
    }
