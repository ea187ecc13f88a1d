"""Slack incoming webhooks, with a Block Kit layout.

Slack answers 200 `ok`; its errors name themselves in the body (`invalid_blocks`,
`channel_is_archived`, ...) and that name is carried into `SendResult.detail`. Slack has no
idempotency key for incoming webhooks, so a TEMPORARY outcome after a read timeout can, when
retried, post the message twice; the protocol prefers that to losing a page.
"""

from __future__ import annotations

from typing import Any

from tocsin.notify import Message
from tocsin.notify.webhook import Poster

__all__ = ["SlackAdapter", "payload"]

# Block Kit limits (https://api.slack.com/reference/block-kit): texts longer than these make
# Slack refuse the whole message with 400 invalid_blocks, which is PERMANENT -- a lost page
# over a long summary. So every text is clipped before it is sent.
HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
BUTTON_TEXT_LIMIT = 75
BUTTON_URL_LIMIT = 3000
ELLIPSIS = "…"


def payload(message: Message) -> dict[str, Any]:
    """Return the incoming-webhook JSON object for a message."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(clip(message.subject, HEADER_LIMIT))}
    ]
    fields = _fields(message)
    if fields:  # a section needs text or at least one field
        blocks.append({"type": "section", "fields": fields})
    if message.text.strip():  # a section's text must not be empty
        blocks.append({"type": "section", "text": _plain(clip(message.text, SECTION_LIMIT))})
    if message.items:
        blocks.append({"type": "section", "text": _plain(_bullets(message.items))})
    buttons = _buttons(message)
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return {
        # The top-level text is the notification and screen-reader fallback; Slack reads it as
        # mrkdwn, so the subject is escaped there.
        "text": _mrkdwn_text(message.subject, SECTION_LIMIT),
        "blocks": blocks,
        # An unfurl is Slack's server fetching the links in the message; a fetched one-click
        # acknowledge link must not be able to acknowledge the page on nobody's behalf.
        "unfurl_links": False,
        "unfurl_media": False,
    }


class SlackAdapter(Poster):
    """Post each message to one Slack incoming webhook."""

    what = "Slack webhook url"
    peer = "Slack"

    def payload(self, message: Message) -> dict[str, Any]:
        return payload(message)


def clip(text: str, limit: int) -> str:
    """Return text cut to at most `limit` UTF-16 code units, ending in an ellipsis if cut."""
    # Counting UTF-16 units rather than code points is the conservative reading of Slack's
    # limits: an emoji outside the BMP counts as two, never as fewer than Slack may count.
    if _units(text) <= limit:
        return text
    kept = 0
    for index, char in enumerate(text):
        kept += _units(char)
        if kept > limit - len(ELLIPSIS):
            return text[:index].rstrip() + ELLIPSIS
    return text  # unreachable: the loop returns once the limit is passed


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _plain(text: str) -> dict[str, Any]:
    # plain_text renders the sender's words as written: no mrkdwn, no escaping, and no
    # "<!channel>" smuggled in through an alert summary.
    return {"type": "plain_text", "text": text, "emoji": True}


def _mrkdwn_text(text: str, limit: int) -> str:
    # Slack's mrkdwn reserves exactly &, < and > (https://api.slack.com/reference/surfaces/formatting).
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    clipped = clip(escaped, limit)
    if clipped != escaped:
        # Never leave half an entity ("&am…") before the ellipsis.
        body = clipped[: -len(ELLIPSIS)]
        amp = body.rfind("&")
        if amp != -1 and ";" not in body[amp:]:
            clipped = body[:amp].rstrip() + ELLIPSIS
    return clipped


def _fields(message: Message) -> list[dict[str, str]]:
    pairs = [
        ("Severity", message.severity),
        ("Incident", message.incident),
        ("Service", message.service),
    ]
    fields = []
    for label, value in pairs:
        if value:
            prefix = f"*{label}*\n"
            text = prefix + _mrkdwn_text(value, FIELD_LIMIT - len(prefix))
            fields.append({"type": "mrkdwn", "text": text})
    return fields


def _bullets(items: tuple[str, ...]) -> str:
    # One section holds at most SECTION_LIMIT characters; whole lines are kept and the rest
    # counted, so a reader knows what was left out rather than seeing a line cut mid-word.
    lines: list[str] = []
    used = 0
    for index, item in enumerate(items):
        # An item is a one-line summary; capping each keeps one runaway line from pushing all
        # the others out of the section.
        line = "• " + clip(" ".join(item.split()) or "(empty)", 500)
        rest = len(items) - index - 1
        reserve = len(f"\n… and {rest} more") if rest else 0
        if used + _units(line) + 1 + reserve > SECTION_LIMIT:
            lines.append(f"… and {len(items) - index} more")
            break
        lines.append(line)
        used += _units(line) + 1
    return "\n".join(lines)


def _buttons(message: Message) -> list[dict[str, Any]]:
    links = [
        ("open_incident", f"Open {message.incident}" if message.incident else "Open", message.url),
        ("acknowledge", "Acknowledge", message.ack_url),
        ("runbook", "Runbook", message.runbook_url),
    ]
    buttons: list[dict[str, Any]] = []
    for action_id, label, url in links:
        # A clipped URL would lead somewhere wrong, and an over-long one fails the whole
        # message (invalid_blocks): leave that one button out.
        if not url or _units(url) > BUTTON_URL_LIMIT:
            continue
        button: dict[str, Any] = {
            "type": "button",
            "action_id": action_id,  # must be unique within the message
            "text": _plain(clip(label, BUTTON_TEXT_LIMIT)),
            "url": url,
        }
        if action_id == "acknowledge":
            button["style"] = "primary"
        buttons.append(button)
    return buttons
