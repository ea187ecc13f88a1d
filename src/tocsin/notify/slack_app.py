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
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from tocsin.errors import InvalidInput
from tocsin.notify import Message, Outcome, SendResult, parse_retry_after
from tocsin.notify.slack import payload as webhook_payload
from tocsin.notify.webhook import check_url

__all__ = [
    "ACTIONS",
    "ChannelOp",
    "SlackApp",
    "SlackChannelAdapter",
    "SlackDmAdapter",
    "acted",
    "page_blocks",
]

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
    "is_archived",
    "invalid_name_specials",
    "invalid_name_maxlength",
    "restricted_action",
    "not_in_channel",
    "message_not_found",
    "too_long",
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
        return self.answer(method, **params)[0]

    def answer(self, method: str, **params: Any) -> tuple[SendResult, dict[str, Any]]:
        """Call one Web API method once; return how it went and Slack's answer (its error
        name under "error" when refused)."""
        try:
            answer = self.client.api_call(method, json=params)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc.response.status_code)
            refused = {"ok": False, "error": error}
            if exc.response.status_code == 429 or error == "ratelimited":
                wait = parse_retry_after(exc.response.headers.get("Retry-After"))
                return SendResult(Outcome.TEMPORARY, f"Slack: {error}", wait), refused
            if exc.response.status_code >= 500 or error not in _PERMANENT:
                return SendResult(Outcome.TEMPORARY, f"Slack: {error}"), refused
            return SendResult(Outcome.PERMANENT, f"Slack: {error}"), refused
        except (SlackClientError, OSError) as exc:
            detail = f"Slack unreachable: {type(exc).__name__}"
            return SendResult(Outcome.TEMPORARY, detail), {"ok": False, "error": "unreachable"}
        found = answer.data if isinstance(answer.data, dict) else {}
        channel = found.get("channel")
        reference = str(found.get("ts") or (channel.get("id") if isinstance(channel, dict) else ""))
        return SendResult(Outcome.SENT, "Slack: ok", reference=reference or None), found


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


@dataclass(frozen=True, slots=True)
class ChannelOp:
    """One thing to do in an incident's channel: create it, invite people, post (and pin),
    set its topic, archive or unarchive it, or read back a message someone pinned.

    `channel` is its Slack id, None until it is created; `params` are the operation's own.
    """

    op: str
    name: str
    channel: str | None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def what(self) -> str:
        """What the timeline and logs call it: "Slack channel #inc-42-api-502s"."""
        return f"Slack channel #{self.name}"


# Answers that mean an operation's work is done already (a retry after a lost answer).
_DONE_ALREADY = {"already_in_channel", "already_pinned", "already_archived", "not_archived"}
# How many other names are tried when the channel's own is taken (`inc-42-api-2`, ...).
_OTHER_NAMES = 4


class SlackChannelAdapter:
    """Carry out one operation in an incident's Slack channel (the message is not used)."""

    def __init__(self, app: SlackApp, op: ChannelOp) -> None:
        self.app = app
        self.op = op

    def send(self, message: Message) -> SendResult:
        op = self.op
        if op.op == "create":
            return self._create()
        if op.channel is None:
            return SendResult(Outcome.PERMANENT, "the incident's Slack channel was not created")
        if op.op == "invite":
            return self._invite(op.channel)
        if op.op == "post":
            return self._post(op.channel)
        if op.op == "fetch":
            return self._fetch(op.channel)
        calls = {
            "topic": ("conversations.setTopic", {"topic": op.params.get("topic", "")}),
            "archive": ("conversations.archive", {}),
            "unarchive": ("conversations.unarchive", {}),
        }
        if op.op not in calls:
            return SendResult(Outcome.PERMANENT, f"unknown channel operation {op.op!r}")
        method, params = calls[op.op]
        return self._done(*self.app.answer(method, channel=op.channel, **params))

    @staticmethod
    def _done(result: SendResult, answer: dict[str, Any]) -> SendResult:
        if result.outcome is not Outcome.SENT and answer.get("error") in _DONE_ALREADY:
            return SendResult(Outcome.SENT, f"Slack: {answer['error']}")
        return result

    def _create(self) -> SendResult:
        names = [self.op.name] + [
            f"{self.op.name[: 80 - 1 - len(str(n))]}-{n}" for n in range(2, 2 + _OTHER_NAMES)
        ]
        result = SendResult(Outcome.PERMANENT, "Slack: name_taken")
        for name in names:
            result, answer = self.app.answer("conversations.create", name=name, is_private=False)
            if answer.get("error") == "name_taken":
                continue
            channel = _dict(answer.get("channel"))
            if result.outcome is Outcome.SENT:
                got = str(channel.get("name") or name)
                return SendResult(
                    Outcome.SENT, "Slack: ok", reference=result.reference, data={"name": got}
                )
            return result
        return result

    def _invite(self, channel: str) -> SendResult:
        users = [str(u) for u in self.op.params.get("users", [])]
        for email in self.op.params.get("emails", []):
            # Someone who never linked their Slack account, found by the email Tocsin has.
            found, answer = self.app.answer("users.lookupByEmail", email=str(email))
            user = _dict(answer.get("user"))
            if found.outcome is Outcome.SENT and user.get("id"):
                users.append(str(user["id"]))
            elif found.outcome is Outcome.TEMPORARY:
                return found
        if not users:
            return SendResult(Outcome.SENT, "Slack: nobody to invite")
        return self._done(
            *self.app.answer(
                "conversations.invite", channel=channel, users=",".join(users), force=True
            )
        )

    def _post(self, channel: str) -> SendResult:
        text = str(self.op.params.get("text", ""))
        posted = self.app.call(
            "chat.postMessage", channel=channel, text=text, unfurl_links=False, mrkdwn=True
        )
        if posted.outcome is not Outcome.SENT or not self.op.params.get("pin"):
            return posted
        # Posted but not pinned is still said; a retry would post it twice, so it is not one.
        pinned, answer = self.app.answer("pins.add", channel=channel, timestamp=posted.reference)
        if pinned.outcome is not Outcome.SENT and answer.get("error") != "already_pinned":
            return SendResult(
                Outcome.SENT, f"posted, not pinned: {pinned.detail}", reference=posted.reference
            )
        return posted

    def _fetch(self, channel: str) -> SendResult:
        ts = str(self.op.params.get("ts", ""))
        result, answer = self.app.answer(
            "conversations.history", channel=channel, latest=ts, inclusive=True, limit=1
        )
        message = _message(answer, ts)
        if result.outcome is Outcome.SENT and not message:
            # Not in the channel's own history: a reply in a thread.
            # Slack answers the thread's first message too, whatever the range.
            result, answer = self.app.answer(
                "conversations.replies",
                channel=channel,
                ts=ts,
                latest=ts,
                oldest=ts,
                inclusive=True,
                limit=2,
            )
            message = _message(answer, ts)
        if result.outcome is not Outcome.SENT:
            return result
        if not message:
            return SendResult(Outcome.PERMANENT, "Slack: message_not_found")
        return SendResult(
            Outcome.SENT,
            "Slack: ok",
            reference=ts,
            data={"user": str(message.get("user") or ""), "text": str(message.get("text") or "")},
        )

    def close(self) -> None:
        return


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _message(answer: dict[str, Any], ts: str) -> dict[str, Any]:
    """Return the message with this timestamp among those Slack answered, or {}."""
    found = answer.get("messages")
    return (
        next(
            (m for m in found if isinstance(m, dict) and m.get("ts") == ts),
            {},
        )
        if isinstance(found, list)
        else {}
    )
