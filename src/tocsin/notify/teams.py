"""Microsoft Teams through a Workflows webhook ("post to a channel when a webhook request is
received"), as an Adaptive Card: Office 365 connectors are retired.

The Workflows trigger takes a message whose attachment is the card, and answers 202 when it
accepted the request; errors come back as JSON naming the problem, carried into the detail.
The card keeps to schema version 1.5 (what Teams renders): the subject in the severity's
colour, the facts, the text, and buttons that open the incident, acknowledge it in one click,
and open the runbook.
"""

from __future__ import annotations

import re
from typing import Any

from tocsin.notify import Message
from tocsin.notify.slack import clip
from tocsin.notify.webhook import Poster

__all__ = ["CARD_VERSION", "TeamsAdapter", "card", "payload"]

CARD_VERSION = "1.5"
# Teams refuses a message over about 28 KB; the texts are clipped well below it.
TEXT_LIMIT = 4000
_LEVEL = re.compile(r"(\d+)\s*$")


def colour(severity: str) -> str:
    """Return the card colour of a severity: the most severe levels stand out."""
    level = _LEVEL.search(severity)
    if level is None:
        return "Default"
    return {1: "Attention", 2: "Warning"}.get(int(level.group(1)), "Accent")


def card(message: Message) -> dict[str, Any]:
    """Return the Adaptive Card of a message."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": clip(message.subject, 300),
            "weight": "Bolder",
            "size": "Medium",
            "color": colour(message.severity),
            "wrap": True,
        }
    ]
    facts = [
        {"title": title, "value": value}
        for title, value in (
            ("Severity", message.severity),
            ("Incident", message.incident),
            ("Service", message.service),
        )
        if value
    ]
    if facts:
        body.append({"type": "FactSet", "facts": facts})
    if message.text.strip():
        body.append({"type": "TextBlock", "text": clip(message.text, TEXT_LIMIT), "wrap": True})
    for item in message.items:
        body.append({"type": "TextBlock", "text": "- " + clip(item, 500), "wrap": True})
    actions = [
        {"type": "Action.OpenUrl", "title": title, "url": url}
        for title, url in (
            ("Acknowledge", message.ack_url),
            ("Open incident", message.url),
            ("Runbook", message.runbook_url),
        )
        if url
    ]
    found: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    }
    if actions:
        found["actions"] = actions
    return found


def payload(message: Message) -> dict[str, Any]:
    """Return the Workflows webhook request: a message with the card as its attachment."""
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card(message),
            }
        ],
    }


class TeamsAdapter(Poster):
    """Post each message as a card to one Teams Workflows webhook."""

    what = "Teams workflow url"
    peer = "Teams"

    default_timeout = 10.0  # a flow starts on the request: Teams can be slow

    def payload(self, message: Message) -> dict[str, Any]:
        return payload(message)
