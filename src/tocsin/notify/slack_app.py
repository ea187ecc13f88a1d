"""Slack as an app: pages sent by the bot as direct messages, with buttons that act.

The incoming-webhook adapter (`tocsin.notify.slack`) can only post links; the app's bot token
reaches a person directly (`conversations.open`, then `chat.postMessage`) with Acknowledge,
Resolve and Escalate buttons. Pressing one makes Slack post to Tocsin's interactivity endpoint,
which acts as the Tocsin user the Slack user is linked to (`services.chat`). The Web API is
called with `slack-sdk`; its base URL is a setting, so a local fake of Slack can stand in.

Slack answers HTTP 200 with `{"ok": false, "error": "user_not_found"}` for most refusals, 429
with Retry-After when rate limited; the error's name is carried into `SendResult.detail`.
"""

from __future__ import annotations

import re
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from tocsin.errors import InvalidInput
from tocsin.notify import Message, Outcome, SendResult, parse_retry_after
from tocsin.notify.slack import payload as webhook_payload
from tocsin.notify.webhook import check_url

__all__ = ["ACTIONS", "SlackApp", "SlackDmAdapter", "acted", "page_blocks"]

SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,20}")
# The buttons of a page, and what each does (their action_id carries it to the endpoint).
ACTIONS = {
    "tocsin_ack": "Acknowledge",
    "tocsin_resolve": "Resolve",
    "tocsin_escalate": "Escalate",
}
# Errors that say the same request cannot succeed later: the page fails, the next rule runs.
_PERMANENT = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "user_not_found",
    "user_disabled",
    "cannot_dm_bot",
    "missing_scope",
    "invalid_blocks",
    "channel_not_found",
}


class SlackApp:
    """The Slack app's bot (the `TOCSIN_SLACK_*` settings)."""

    def __init__(self, token: str, base_url: str, *, timeout: int = 10) -> None:
        if not token.startswith("xoxb-"):
            raise InvalidInput("TOCSIN_SLACK_BOT_TOKEN is not set or is not a bot token (xoxb-...)")
        url = check_url(base_url, "TOCSIN_SLACK_API_URL").rstrip("/") + "/"
        self.client = WebClient(token=token, base_url=url, timeout=timeout)

    def __repr__(self) -> str:  # the token must never reach a log line
        return f"SlackApp({self.client.base_url})"

    def call(self, method: str, **params: Any) -> SendResult:
        """Call one Web API method once and classify the answer."""
        try:
            answer = self.client.api_call(method, json=params)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc.response.status_code)
            if exc.response.status_code == 429 or error == "ratelimited":
                wait = parse_retry_after(exc.response.headers.get("Retry-After"))
                return SendResult(Outcome.TEMPORARY, f"Slack: {error}", wait)
            if exc.response.status_code >= 500 or error not in _PERMANENT:
                return SendResult(Outcome.TEMPORARY, f"Slack: {error}")
            return SendResult(Outcome.PERMANENT, f"Slack: {error}")
        except (SlackClientError, OSError) as exc:
            return SendResult(Outcome.TEMPORARY, f"Slack unreachable: {type(exc).__name__}")
        found = answer.data if isinstance(answer.data, dict) else {}
        reference = str(found.get("ts") or (found.get("channel") or {}).get("id") or "")
        return SendResult(Outcome.SENT, "Slack: ok", reference=reference or None)


def page_blocks(message: Message) -> list[dict[str, Any]]:
    """Return a page's Block Kit blocks: the webhook layout, its buttons acting here."""
    blocks = [dict(block) for block in webhook_payload(message)["blocks"]]
    number = (message.incident or "").removeprefix("INC-")
    links = [b for b in blocks if b.get("type") == "actions"]
    keep = [
        e
        for block in links
        for e in block["elements"]
        if e.get("action_id") in ("open_incident", "runbook")
    ]
    blocks = [b for b in blocks if b.get("type") != "actions"]
    # Only a page carries the acknowledge link; a notice or a reminder gets no buttons that act.
    acting = number.isdigit() and not message.items and message.ack_url
    buttons = [
        {
            "type": "button",
            "action_id": action,
            "text": {"type": "plain_text", "text": label},
            "value": number,
            **({"style": "primary"} if action == "tocsin_ack" else {}),
        }
        for action, label in (ACTIONS.items() if acting else ())
    ]
    if buttons or keep:
        blocks.append({"type": "actions", "block_id": "tocsin_page", "elements": buttons + keep})
    return blocks


def acted(blocks: list[dict[str, Any]], words: str, *, keep_resolve: bool) -> list[dict[str, Any]]:
    """Return a page's blocks once someone acted: who did what, in place of the buttons (with
    Resolve still offered while the incident is open)."""
    found = [b for b in blocks if b.get("block_id") != "tocsin_page"]
    found.append({"type": "context", "elements": [{"type": "mrkdwn", "text": words}]})
    old = next((b for b in blocks if b.get("block_id") == "tocsin_page"), None)
    if keep_resolve and old is not None:
        elements = [e for e in old["elements"] if e.get("action_id") != "tocsin_ack"]
        elements = [e for e in elements if e.get("action_id") != "tocsin_escalate"]
        found.append({**old, "elements": elements})
    return found


class SlackDmAdapter:
    """Send each message to one Slack user as a direct message from the bot."""

    def __init__(self, app: SlackApp, user: str) -> None:
        if not SLACK_USER.fullmatch(user):
            raise InvalidInput(f"{user!r} is not a Slack user id (like U0123ABCD)")
        self.app = app
        self.user = user

    def send(self, message: Message) -> SendResult:
        opened = self.app.call("conversations.open", users=self.user)
        if opened.outcome is not Outcome.SENT or not opened.reference:
            return opened
        return self.app.call(
            "chat.postMessage",
            channel=opened.reference,
            text=webhook_payload(message)["text"],
            blocks=page_blocks(message),
            unfurl_links=False,
            unfurl_media=False,
        )

    def close(self) -> None:
        return


class SlackUserGroupAdapter:
    """Make a Slack user group's members the given users (the message says why)."""

    def __init__(self, app: SlackApp, group: str, members: tuple[str, ...]) -> None:
        self.app = app
        self.group = group
        self.members = members

    def send(self, message: Message) -> SendResult:
        return self.app.call(
            "usergroups.users.update", usergroup=self.group, users=",".join(self.members)
        )

    def close(self) -> None:
        return
