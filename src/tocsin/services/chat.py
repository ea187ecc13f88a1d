"""What people do from a chat app: link their chat account, and press a page's buttons.

Telegram posts each update (a message to the bot, a button pressed) to Tocsin's webhook; the
route proves it came from Telegram (the webhook's secret token) and hands it here. A button
acts as the Tocsin user the pressing account is linked to, and only then: an unlinked account is
told how to link and nothing changes. Linking takes the one-time code from the person's profile
page: `/start CODE` (which a t.me deep link sends with one tap).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.core.audit import Actor, Via
from tocsin.core.incident import IncidentStatus, incident_ref
from tocsin.engine import channels
from tocsin.errors import TocsinError
from tocsin.notify.slack_app import acted
from tocsin.services import incidents, replies
from tocsin.store import access, audit, contacts, inbound, links
from tocsin.store.contacts import ContactType, Method
from tocsin.store.models import Incident, User

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


def _acting(session: Session, provider: str, external_id: str) -> User | None:
    """Return the user a chat account is linked to; what the session changes is theirs."""
    user = links.linked_user(session, provider, external_id)
    if user is not None:
        audit.act_as(session, Actor(user.handle, Via.CHAT, provider))
        access.act_for(session, access.principal_of(session, user))
    return user


def _viewer(session: Session, user: User) -> bool:
    """Return True if `user` responds to nothing: a viewer in no team (the session checks the
    incident's team when the change is written)."""
    principal = access.principal_in(session) or access.principal_of(session, user)
    return not principal.may_respond_somewhere()


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
        user = _acting(session, TELEGRAM, str(sender))
        if user is None:
            return say(LINK_HELP)
        return say(
            f"This chat is linked to {user.handle}. Pages arrive here with buttons to"
            " acknowledge and resolve them."
        )
    user = links.redeem(session, TELEGRAM, found.group("code"), str(sender), now=now)
    if user is not None:
        audit.act_as(session, Actor(user.handle, Via.CHAT, "telegram"))
    if user is None:
        return say(
            "That code is unknown, used or expired: make a new one on your Tocsin profile page."
        )
    _chat_method(session, user, str(chat), now)
    return say(f"Linked to {user.handle}: pages will arrive in this chat.")


def _chat_method(
    session: Session,
    user: User,
    chat: str,
    now: datetime,
    kind: ContactType = ContactType.TELEGRAM,
) -> None:
    """Point the user's Telegram (or Slack app) contact method at this chat, adding one if they
    have none."""
    mine = contacts.methods_of(session, user)
    found = [
        m
        for m in mine
        if m.type == kind and (kind is not ContactType.SLACK or "://" not in m.target)
    ]
    if found:
        found[0].target = chat
        session.flush()
        return
    names = {m.name for m in mine}
    base = kind.value
    name = next(n for n in (base, f"{base}-2", f"{base}-3", f"{base}-{chat}") if n not in names)
    # It pages at once (a rule at 0m); the profile page shows that and can remove it.
    contacts.add(
        session, user, Method(name, kind.value, chat, None, None), after_seconds=0, now=now
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

    user = _acting(session, TELEGRAM, str(sender))
    if user is None:
        return BotAnswer(toast(LINK_HELP, alert=True))
    # A client can send any callback data: the button's verb is checked against the role.
    if _viewer(session, user):
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
    verb = "ack" if found.group("verb") == "ack" else "resolve"
    words, ok = act(session, incident, user, verb, via="Telegram", now=now)
    if not ok:
        return BotAnswer(toast(words, alert=True))
    return BotAnswer(toast(words), _edit(message, incident, user))


def act(
    session: Session,
    incident: Incident,
    user: User,
    verb: str,
    *,
    via: str,
    now: datetime,
    summary: str | None = None,
) -> tuple[str, bool]:
    """Acknowledge ("ack"), resolve or escalate an incident as `user` from a chat; return what
    to say, and whether it was done (False: refused, nothing changed)."""
    ref = incident_ref(incident.number)
    if _viewer(session, user):
        return f"{user.handle} is a viewer in Tocsin and cannot act on incidents.", False
    try:
        if verb == "ack":
            done = incidents.acknowledge(session, incident, actor=user.handle, now=now, via=via)
            return (done.warnings[0] if done.warnings else f"{ref} acknowledged"), True
        if verb == "escalate":
            incidents.escalate_now(session, incident, actor=user.handle, now=now, via=via)
            return f"{ref}: paging the next level now", True
        if incident.status in (IncidentStatus.RESOLVED.value, IncidentStatus.CLOSED.value):
            return f"{ref} is {incident.status} already", True
        incidents.resolve(
            session,
            incident,
            message=summary or f"Resolved by {user.handle} by {via}",
            actor=user.handle,
            now=now,
        )
        return f"{ref} resolved", True
    except TocsinError as exc:
        return f"{ref}: {exc.message}", False


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


# --- Slack --------------------------------------------------------------------------------------

SLACK = "slack"
SLACK_LINK_HELP = (
    "Your Slack account is not linked to Tocsin. On your Tocsin profile page, choose"
    ' "Link Slack" and run /tocsin link followed by the code it shows.'
)
_VERBS = {"tocsin_ack": "ack", "tocsin_resolve": "resolve", "tocsin_escalate": "escalate"}
_DONE = {"ack": "Acknowledged", "resolve": "Resolved", "escalate": "Escalated"}


@dataclass(frozen=True, slots=True)
class SlackReply:
    """What to say back to a Slack user privately (`ephemeral`), and the page message to update
    in place (`update`: channel, ts, text and blocks for chat.update)."""

    ephemeral: str | None = None
    channel: str | None = None
    update: dict[str, Any] | None = None


def slack_action(session: Session, payload: dict[str, Any], *, now: datetime) -> SlackReply:
    """Act on a button pressed under a page in Slack, once (a repeated trigger does nothing)."""
    if payload.get("type") != "block_actions":
        return SlackReply()
    trigger = str(payload.get("trigger_id") or "")
    slack_user = str(_dict(payload.get("user")).get("id") or "")
    container = _dict(payload.get("container"))
    channel = str(container.get("channel_id") or _dict(payload.get("channel")).get("id") or "")
    actions = payload.get("actions") if isinstance(payload.get("actions"), list) else []
    action = _dict(actions[0]) if actions else {}
    verb = _VERBS.get(str(action.get("action_id")))
    if not trigger or not slack_user or verb is None:
        return SlackReply()
    if not inbound.first_time(session, SLACK, trigger[:64], now=now):
        return SlackReply()
    user = _acting(session, SLACK, slack_user)
    if user is None:
        return SlackReply(SLACK_LINK_HELP, channel)
    value = str(action.get("value") or "")
    incident = (
        session.scalar(select(Incident).where(Incident.number == int(value)))
        if value.isdigit()
        else None
    )
    if incident is None:
        return SlackReply(f"There is no incident {value}.", channel)
    words, ok = act(session, incident, user, verb, via="Slack", now=now)
    if not ok:
        return SlackReply(words, channel)
    message = _dict(payload.get("message"))
    found = message.get("blocks")
    blocks = [b for b in found if isinstance(b, dict)] if isinstance(found, list) else []
    still_open = IncidentStatus(incident.status).is_open
    done = f"{_DONE[verb]} by {user.handle}"
    update = {
        "channel": channel,
        "ts": str(container.get("message_ts") or message.get("ts") or ""),
        "text": f"{incident_ref(incident.number)}: {done}",
        "blocks": acted(blocks, f":white_check_mark: {done}", keep_resolve=still_open),
    }
    return SlackReply(None, channel, update if update["ts"] else None)


_ARGS = re.compile(r'"([^"]*)"|(\S+)')


def slack_command(
    session: Session, *, slack_user: str, text: str, now: datetime, channel: str = ""
) -> str:
    """Run `/tocsin ...` for a Slack user, in `channel`; return the (ephemeral) answer.

    Inside an incident's channel that incident is implied; elsewhere a command names its
    incident, or takes the one that paged its user last."""
    words = [quoted or bare for quoted, bare in _ARGS.findall(text)]
    verb = words[0].lower() if words else "help"
    if verb == "link":
        if len(words) < 2:
            return "Run /tocsin link CODE with the code from your Tocsin profile page."
        user = links.redeem(session, SLACK, words[1], slack_user, now=now)
        if user is None:
            return "That code is unknown, used or expired: make a new one on your profile page."
        audit.act_as(session, Actor(user.handle, Via.CHAT, "slack"))
        _chat_method(session, user, slack_user, now, ContactType.SLACK)
        return f"Linked to {user.handle}: pages will arrive as direct messages from this app."
    user = _acting(session, SLACK, slack_user)
    if user is None:
        return SLACK_LINK_HELP
    if verb in ("ack", "acknowledge", "resolve", "escalate"):
        found = _incident(session, user, words[1:], channel)
        if isinstance(found, str):
            return found
        incident, rest = found
        summary = " ".join(rest) or None
        kind = "ack" if verb.startswith("ack") else verb
        return act(session, incident, user, kind, via="Slack", now=now, summary=summary)[0]
    if verb in ("declare", "status", "update", "ic", "page"):
        if _viewer(session, user):
            return f"{user.handle} is a viewer in Tocsin and cannot change incidents."
        try:
            return _change(session, user, verb, words[1:], now, channel)
        except TocsinError as exc:
            return "; ".join(exc.problems or [exc.message])
    if verb == "oncall":
        from tocsin.engine.escalations import on_call_lookup
        from tocsin.store import schedules as schedule_store

        names = words[1:] or [s.name for s in schedule_store.list_(session)]
        lookup = on_call_lookup(session)
        lines = [f"{name}: {', '.join(lookup(name, now)) or 'nobody'}" for name in names]
        return "\n".join(lines) or "There are no schedules."
    return SLACK_HELP


SLACK_HELP = (
    '/tocsin declare "title" sev1 [service...], /tocsin ack [12], /tocsin resolve [12]'
    ' [summary], /tocsin escalate [12], /tocsin status mitigating [12] ["note"],'
    ' /tocsin update [12] "public text", /tocsin ic @someone [12], /tocsin page @someone|schedule'
    " [12], /tocsin oncall [schedule], /tocsin link CODE"
)
_NUMBER = re.compile(r"(?i)(?:inc-)?(\d{1,9})")
_SEVERITY = re.compile(r"(?i)sev-?(\d)")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>|@([a-z0-9][a-z0-9._-]*)")


def _incident(
    session: Session, user: User, words: list[str], channel: str = ""
) -> tuple[Incident, list[str]] | str:
    """Return the incident a command names (INC-12 or 12 among its words), else the one whose
    channel it runs in, else the one that paged the user last, with the other words; or what to
    answer when there is none."""
    for index, word in enumerate(words):
        found = _NUMBER.fullmatch(word)
        if found:
            number = int(found.group(1))
            incident = session.scalar(select(Incident).where(Incident.number == number))
            if incident is None:
                return f"There is no {incident_ref(number)}."
            return incident, words[:index] + words[index + 1 :]
    room = channels.channel_of(session, channel)
    if room is not None:
        incident = session.get(Incident, room.incident_id)
        if incident is not None:
            return incident, words
    incident = replies.last_page(session, user)
    if incident is None:
        return "No incident has paged you lately: name it, like /tocsin ack 12."
    return incident, words


def _change(
    session: Session, user: User, verb: str, words: list[str], now: datetime, channel: str
) -> str:
    """Declare an incident, or change one's status, public status page or commander."""
    if verb == "declare":
        levels = [(w, m.group(1)) for w in words[1:] if (m := _SEVERITY.fullmatch(w))]
        if not words or not levels:
            return 'Declare it like /tocsin declare "Checkout errors" sev1 api'
        severity, digit = levels[0]
        level = f"SEV-{digit}"
        services = [w for w in words[1:] if w != severity]
        done = incidents.declare(
            session,
            title=words[0],
            severity=level,
            services=services or None,
            actor=user.handle,
            now=now,
        )
        incident = done.incident
        return f"Declared {incident_ref(incident.number)}: {incident.title} ({incident.severity})"
    found = _incident(session, user, words, channel)
    if isinstance(found, str):
        return found
    incident, rest = found
    ref = incident_ref(incident.number)
    if verb == "status":
        if not rest:
            return 'Say the status, like /tocsin status mitigating 12 "rolled back"'
        incidents.set_status(
            session,
            incident,
            rest[0],
            message=" ".join(rest[1:]) or None,
            actor=user.handle,
            now=now,
        )
        return f"{ref} is {incident.status}"
    if verb == "update":
        if not rest:
            return 'Say what the public should read, like /tocsin update 12 "Payments recovered"'
        incidents.post_update(
            session, incident, " ".join(rest), visibility="public", actor=user.handle, now=now
        )
        return f"{ref}: the status page says it now"
    if verb == "page":
        if not rest:
            return "Name whom to page, like /tocsin page @bob 12 or /tocsin page primary 12"
        if _MENTION.fullmatch(rest[0]) is None:
            incidents.page(session, incident, f"schedule:{rest[0]}", actor=user.handle, now=now)
            return f"{ref}: paging {rest[0]} now"
    if not rest or _MENTION.fullmatch(rest[0]) is None:
        return "Name the commander, like /tocsin ic @alice 12"
    handle = _mentioned(session, rest[0])
    if handle is None:
        return "That Slack user is not linked to Tocsin: they link from their profile page."
    if verb == "page":
        incidents.page(session, incident, f"user:{handle}", actor=user.handle, now=now)
        return f"{ref}: paging {handle} now"
    incidents.assign(session, incident, handle, actor=user.handle, now=now)
    return f"{ref}: {handle} is the incident commander"


def _mentioned(session: Session, word: str) -> str | None:
    """Return the handle a mention names: a Slack mention (<@U123|name>) by its linked Tocsin
    user, or @handle as written; None when it names no one Tocsin knows that way."""
    found = _MENTION.fullmatch(word)
    if found is None:
        return None
    if found.group(1):
        linked = links.linked_user(session, SLACK, found.group(1))
        return linked.handle if linked is not None else None
    return found.group(2)


# --- Slack: the declare form --------------------------------------------------------------------

DECLARE_VIEW = "tocsin_declare"


def declare_form(session: Session, *, slack_user: str) -> dict[str, Any] | str:
    """Return the modal that declares an incident (for `/tocsin declare` with nothing after
    it), or why this Slack user may not open it."""
    from tocsin.store import services as service_store
    from tocsin.store import severities

    user = _acting(session, SLACK, slack_user)
    if user is None:
        return SLACK_LINK_HELP
    if _viewer(session, user):
        return f"{user.handle} is a viewer in Tocsin and cannot declare incidents."

    def option(text: str) -> dict[str, Any]:
        return {"text": {"type": "plain_text", "text": text[:75]}, "value": text[:150]}

    services = [s.slug for s in service_store.list_(session)][:100]
    blocks: list[dict[str, Any]] = [
        {
            "type": "input",
            "block_id": "title",
            "label": {"type": "plain_text", "text": "What is happening"},
            "element": {"type": "plain_text_input", "action_id": "value", "max_length": 200},
        },
        {
            "type": "input",
            "block_id": "severity",
            "label": {"type": "plain_text", "text": "Severity"},
            "element": {
                "type": "static_select",
                "action_id": "value",
                "options": [option(name) for name in severities.scale(session).names],
            },
        },
    ]
    if services:
        blocks.append(
            {
                "type": "input",
                "block_id": "services",
                "optional": True,
                "label": {"type": "plain_text", "text": "Services"},
                "element": {
                    "type": "multi_static_select",
                    "action_id": "value",
                    "options": [option(slug) for slug in services],
                },
            }
        )
    return {
        "type": "modal",
        "callback_id": DECLARE_VIEW,
        "title": {"type": "plain_text", "text": "Declare an incident"},
        "submit": {"type": "plain_text", "text": "Declare"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def _field(values: dict[str, Any], block: str) -> Any:
    entry = _dict(_dict(values.get(block)).get("value"))
    if "selected_option" in entry:
        return _dict(entry.get("selected_option")).get("value")
    if "selected_options" in entry:
        return [_dict(o).get("value") for o in entry.get("selected_options") or []]
    return entry.get("value")


def slack_view(session: Session, payload: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    """Declare the incident a submitted form describes; return Slack's answer to the
    submission: close the form, or the problems beside the fields they concern."""
    view = _dict(payload.get("view"))
    if payload.get("type") != "view_submission" or view.get("callback_id") != DECLARE_VIEW:
        return {}
    user = _acting(session, SLACK, str(_dict(payload.get("user")).get("id") or ""))
    if user is None or _viewer(session, user):
        return {"response_action": "errors", "errors": {"title": SLACK_LINK_HELP[:150]}}
    values = _dict(_dict(view.get("state")).get("values"))
    # The same submission twice (Slack trying again) declares once; a form corrected after
    # a refusal is the same view with other values, and goes through.
    digest = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:24]
    if not inbound.first_time(session, SLACK, f"view:{view.get('id')}:{digest}"[:64], now=now):
        return {"response_action": "clear"}
    title, severity = _field(values, "title"), _field(values, "severity")
    services = [s for s in _field(values, "services") or [] if isinstance(s, str)]
    try:
        incidents.declare(
            session,
            title=str(title or ""),
            severity=str(severity or ""),
            services=services or None,
            actor=user.handle,
            now=now,
        )
    except TocsinError as exc:
        problems = exc.problems or [exc.message]
        return {"response_action": "errors", "errors": {"title": "; ".join(problems)[:150]}}
    return {"response_action": "clear"}


# --- Slack: events ------------------------------------------------------------------------------


def slack_event(session: Session, body: dict[str, Any], *, now: datetime) -> None:
    """Act on one event Slack delivered, once (Slack delivers again when unsure): a message of an
    incident's channel that someone reacted to with the pin emoji becomes a timeline note."""
    rules = channels.rules_of(session)
    event_id = str(body.get("event_id") or "")
    if rules is None or body.get("type") != "event_callback" or not event_id:
        return
    if not inbound.first_time(session, SLACK, f"event:{event_id}"[:64], now=now):
        return
    event = _dict(body.get("event"))
    item = _dict(event.get("item"))
    if event.get("type") != "reaction_added" or item.get("type") != "message":
        return
    if str(event.get("reaction") or "").split("::")[0] != rules.pin_emoji:
        return
    room = channels.channel_of(session, str(item.get("channel") or ""))
    ts = str(item.get("ts") or "")
    if room is None or not ts:
        return  # not an incident's channel: pins elsewhere are nobody's business here
    # A second person pinning the same message adds no second note.
    if inbound.first_time(session, SLACK, f"pin:{room.channel_id}:{ts}"[:64], now=now):
        channels.request_pin(session, room, ts=ts, by=str(event.get("user") or ""), now=now)
