"""Telegram: a person links their chat with a one-time code, pages arrive as bot messages with
buttons, and the buttons act as the linked person only; against a fake Bot API and a real
Tocsin server, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import T0, Stepped, stepped_with
from tests.fakes.telegram import SECRET, TOKEN, FakeTelegram, fake_telegram
from tests.serving import wait_for
from tocsin.services import contacts
from tocsin.store import links

ALICE, MALLORY = 1001, 6666
CONFIG = """
users:
  - handle: alice
    contact_methods: [{name: desk, type: console}]
    notification_rules: [{contact_method: desk, after: 10m}]
escalation_policies:
  - {name: db-oncall, levels: [{targets: ["user:alice"]}]}
services:
  - {slug: database, escalation_policy: db-oncall}
"""


@dataclass
class Bot:
    stepped: Stepped
    telegram: FakeTelegram

    def link(self, chat: int = ALICE) -> Any:
        with self.stepped.sessions() as session, session.begin():
            code = contacts.link_code(session, "alice", "telegram", now=T0)
        return self.telegram.say(chat, ALICE, f"/start {code}")

    def page(self) -> dict[str, Any]:
        pages = [m for m in self.telegram.messages if "INC-1" in m["text"]]
        assert len(pages) == 1, self.telegram.messages
        return pages[0]


@pytest.fixture
def bot(db_url: str, tmp_path: Path) -> Iterator[Bot]:
    with fake_telegram() as telegram:
        settings = {
            "telegram_bot_token": TOKEN,
            "telegram_webhook_secret": SECRET,
            "telegram_base_url": telegram.url,
        }
        for stepped in stepped_with(db_url, tmp_path, settings, CONFIG):
            telegram.webhook = f"{stepped.server.url}/hooks/telegram"
            yield Bot(stepped, telegram)


def test_linking_then_a_page_with_buttons_that_act_as_the_linked_person(bot: Bot) -> None:
    status, _ = bot.link()
    assert status == 200
    assert bot.telegram.messages[-1]["text"] == "Linked to alice: pages will arrive in this chat."
    bot.stepped.declare()
    page = bot.page()
    assert page["chat"]["id"] == ALICE
    assert page["text"].startswith("[SEV-1] INC-1 database: Primary down")
    labels = [b["text"] for row in page["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["Acknowledge", "Resolve"]

    # Someone whose Telegram account is not linked (a forwarded message, a shared group).
    bot.telegram.press(page, "Acknowledge", MALLORY)
    assert bot.telegram.answers[-1]["show_alert"] is True
    assert "not linked to Tocsin" in bot.telegram.answers[-1]["text"]
    assert "Acknowledged by" not in " ".join(bot.stepped.timeline())

    # A client can send any callback data: a viewer's button press is refused whatever it says.
    from tocsin.store import users

    with bot.stepped.sessions() as session, session.begin():
        users.update(session, users.get_by_handle(session, "alice"), role="viewer")
    bot.telegram.press(page, "Resolve", ALICE)
    assert "alice is a viewer" in bot.telegram.answers[-1]["text"]
    with bot.stepped.sessions() as session, session.begin():
        users.update(session, users.get_by_handle(session, "alice"), role="responder")

    bot.telegram.press(page, "Acknowledge", ALICE)
    assert bot.telegram.answers[-1]["text"] == "INC-1 acknowledged"
    assert "Acknowledged by alice by Telegram" in bot.stepped.timeline()

    def edited() -> bool:
        return page["reply_markup"]["inline_keyboard"][0][0]["text"] == "✓ Acknowledged by alice"

    assert wait_for(edited)
    bot.telegram.press(page, "Resolve", ALICE)
    assert bot.telegram.answers[-1]["text"] == "INC-1 resolved"
    assert "[RESOLVED] Resolved by alice by Telegram" in bot.stepped.timeline()


def test_codes_are_used_once_and_requests_without_the_secret_change_nothing(bot: Bot) -> None:
    with bot.stepped.sessions() as session, session.begin():
        code = contacts.link_code(session, "alice", "telegram", now=T0)
    bot.telegram.say(ALICE, ALICE, f"/start {code}")
    bot.telegram.say(MALLORY, MALLORY, f"/start {code}")  # the same code again: used up
    assert "unknown, used or expired" in bot.telegram.messages[-1]["text"]
    with bot.stepped.sessions() as session:
        assert links.linked_user(session, "telegram", str(MALLORY)) is None
    status, _ = bot.telegram.say(MALLORY, MALLORY, "hello", secret="guess")
    assert status == 403
    unsigned = httpx.post(bot.telegram.webhook, json={"update_id": 1})
    assert unsigned.status_code == 403
    bot.stepped.declare()
    page = bot.page()
    update = {"update_id": 999, "message": {"chat": {"id": 1}, "from": {"id": 1}, "text": "x"}}
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    first = httpx.post(bot.telegram.webhook, json=update, headers=headers).json()
    again = httpx.post(bot.telegram.webhook, json=update, headers=headers).json()
    assert first["method"] == "sendMessage" and again == {}  # a repeated update is done once
    assert page["reply_markup"]["inline_keyboard"][0][0]["text"] == "Acknowledge"


def test_a_chat_that_blocked_the_bot_falls_through_to_the_next_method(bot: Bot) -> None:
    bot.link()
    bot.telegram.blocked.add(ALICE)
    bot.stepped.declare()
    timeline = bot.stepped.timeline()
    failed = [line for line in timeline if line.startswith("Could not notify alice via telegram")]
    assert failed == [
        "Could not notify alice via telegram: HTTP 403 from Telegram: Forbidden: bot was blocked"
        " by the user; trying desk now"
    ]
    assert TOKEN not in " ".join(timeline)


def test_a_chat_id_in_the_config_file_pages_and_round_trips(bot: Bot) -> None:
    from tocsin import config
    from tocsin.services import config_apply, config_export

    text = CONFIG.replace(
        "contact_methods: [{name: desk, type: console}]",
        "contact_methods: [{name: desk, type: console},"
        ' {name: tg, type: telegram, chat_id: "1001"}]',
    ).replace("[{contact_method: desk, after: 10m}]", "[{contact_method: tg, after: 0m}]")
    with bot.stepped.sessions() as session, session.begin():
        config_apply.apply(session, config.parse(text, "tocsin.yaml"), now=T0)
        again = config.parse(config.dump(config_export.export(session)), "tocsin.yaml")
        assert config_apply.apply(session, again, now=T0).changes == []
    bot.telegram.chats.add(ALICE)
    bot.stepped.declare()
    assert bot.page()["chat"]["id"] == ALICE
