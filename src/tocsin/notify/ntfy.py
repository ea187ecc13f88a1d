"""ntfy: pages pushed to phones through an ntfy server (ntfy.sh or a self-hosted one).

A contact method's URL is the topic's (https://ntfy.example.com/oncall-alice); each page is
published as JSON to the server's root (https://docs.ntfy.sh/publish/#publish-as-json) with a
priority from the severity (SEV-1 is 5, "max": it breaks through Do Not Disturb where the app
allows), tags shown as emoji, the incident as the click target, and action buttons: Acknowledge
is an `http` action that POSTs the signed one-click ack link, so a tap on the notification
acknowledges without opening anything. A protected topic takes an access token, sent as a
bearer token.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from tocsin.errors import InvalidInput
from tocsin.notify import Message
from tocsin.notify.webhook import USER_AGENT, Poster

__all__ = ["NtfyAdapter", "publication", "split_topic_url"]

_TOPIC = re.compile(r"[-_A-Za-z0-9]{1,64}")
# ntfy's message limit is 4096 bytes; longer ones become attachments, which a page is not.
MESSAGE_LIMIT = 3500
_PRIORITY = {"SEV-1": 5, "SEV-2": 4, "SEV-3": 3}
_TAGS = {"SEV-1": ["rotating_light"], "SEV-2": ["warning"]}


def split_topic_url(url: str) -> tuple[str, str]:
    """Return (server root URL, topic) of a topic URL, or raise InvalidInput."""
    parts = urlsplit(url.strip())
    topic = parts.path.strip("/")
    if parts.scheme not in ("http", "https") or not parts.netloc or not _TOPIC.fullmatch(topic):
        raise InvalidInput(
            f"an ntfy method needs the topic's URL, like https://ntfy.sh/oncall-alice (got {url!r})"
        )
    return f"{parts.scheme}://{parts.netloc}", topic


def publication(message: Message, topic: str) -> dict[str, Any]:
    """Return the JSON that publishes `message` to `topic`."""
    body: dict[str, Any] = {
        "topic": topic,
        "title": message.subject[:250],
        "message": (message.text or message.subject)[:MESSAGE_LIMIT],
        "priority": _PRIORITY.get(message.severity, 3),
        "tags": _TAGS.get(message.severity, ["bell"]),
    }
    if message.url:
        body["click"] = message.url
    actions: list[dict[str, Any]] = []
    if message.ack_url:
        actions.append(
            {
                "action": "http",
                "label": "Acknowledge",
                "url": message.ack_url,
                "method": "POST",
                "clear": True,
            }
        )
    if message.url:
        actions.append({"action": "view", "label": "Open incident", "url": message.url})
    if message.runbook_url:
        actions.append({"action": "view", "label": "Runbook", "url": message.runbook_url})
    if actions:
        body["actions"] = actions[:3]  # ntfy shows at most three
    return body


class NtfyAdapter(Poster):
    """Publish each message to one ntfy topic."""

    what = "ntfy topic url"
    peer = "ntfy"

    def __init__(self, topic_url: str, token: str | None = None, *, timeout: float | None = None):
        server, self.topic = split_topic_url(topic_url)
        super().__init__(server + "/", timeout=timeout)
        self._token = token or None

    def __repr__(self) -> str:  # the token must never reach a log line
        return f"NtfyAdapter({self.url}{self.topic})"

    def payload(self, message: Message) -> dict[str, Any]:
        return publication(message, self.topic)

    def headers(self, message: Message, body: bytes) -> dict[str, str]:
        found = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if self._token:
            found["Authorization"] = f"Bearer {self._token}"
        return found
