"""The Slack app's incident channels: a SEV-1 declared from Slack gets its own channel with the
responders in it, the notification pinned and the topic kept; changes are posted there; a message
pinned with the emoji becomes a timeline note; the channel is archived a while after the incident
is resolved. Against a fake Slack Web API and a real Tocsin server, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import stepped_with
from tests.engine.test_slack_app_pages import ALICE, BOB, Workspace, _link
from tests.fakes.slack import BOT_TOKEN, BOT_USER, SIGNING_SECRET, FakeSlack, fake_slack, signed
from tests.web.conftest import CSRF

CAROL = "U0CAROL01"
CONFIG = """
users:
  - {handle: alice, email: alice@example.com}
  - {handle: bob, email: bob@example.com}
  - {handle: carol, email: carol@example.com}
escalation_policies:
  - name: api-oncall
    levels:
      - {targets: ["user:carol"], delay: 15m}
      - {targets: ["user:bob"]}
services:
  - slug: api
    escalation_policy: api-oncall
"""


class Room(Workspace):
    def event(self, body: dict[str, Any], **sign: Any) -> httpx.Response:
        raw = json.dumps(body).encode()
        headers = {**signed(raw, **sign), "Content-Type": "application/json"}
        return httpx.post(
            f"{self.stepped.server.url}/hooks/slack/events", content=raw, headers=headers
        )

    def react(self, channel: str, ts: str, user: str, reaction: str = "pushpin") -> int:
        self.triggers += 1
        body = {
            "type": "event_callback",
            "event_id": f"Ev{self.triggers:08d}",
            "event": {
                "type": "reaction_added",
                "user": user,
                "reaction": reaction,
                "item": {"type": "message", "channel": channel, "ts": ts},
                "item_user": user,
            },
        }
        answer = self.event(body)
        assert answer.status_code == 200, answer.text
        return self.triggers

    def command_in(self, channel: str, user: str, text: str) -> str:
        form = {"command": "/tocsin", "text": text, "user_id": user, "channel_id": channel}
        answer = self.post("/hooks/slack/commands", form)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["text"])

    def page(self, path: str) -> str:
        """Return a web page as alice sees it, signed in."""
        from tocsin.store import users

        with self.stepped.sessions() as session, session.begin():
            users.set_password(session, users.get_by_handle(session, "alice"), "correct horse 1")
        with httpx.Client(base_url=self.stepped.server.url) as browser:
            token = CSRF.search(browser.get("/login").text)
            assert token is not None
            form = {"handle": "alice", "password": "correct horse 1", "next": "/"}
            signed_in = browser.post("/login", data={**form, "csrf_token": token.group(1)})
            assert signed_in.status_code == 303, signed_in.text
            answer = browser.get(path)
            assert answer.status_code == 200
            return answer.text

    def notes(self) -> list[tuple[str, str]]:
        from tocsin.services import incidents

        with self.stepped.sessions() as session:
            return [
                (e.actor, e.message)
                for e in incidents.get(session, "INC-1").events
                if e.kind == "note"
            ]


@pytest.fixture
def room(db_url: str, tmp_path: Path) -> Iterator[Room]:
    with fake_slack() as slack:
        slack.users |= {ALICE, BOB, CAROL}
        slack.emails["carol@example.com"] = CAROL  # carol never linked: found by her email
        settings = {
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": f"{slack.url}/api/",
            "slack_archive_after": "2h",
        }
        for stepped in stepped_with(db_url, tmp_path, settings, CONFIG):
            yield Room(stepped, slack)


def _channel(slack: FakeSlack) -> Any:
    [channel] = slack.channels.values()
    return channel


def test_a_sev1_declared_from_slack_gets_its_channel_and_it_is_archived_after_resolve(
    room: Room,
) -> None:
    w, slack = room, room.slack
    _link(w, "alice", ALICE)
    _link(w, "bob", BOB)
    assert w.command(ALICE, 'declare "API 502s" sev1 api') == "Declared INC-1: API 502s (SEV-1)"
    w.stepped.run()

    channel = _channel(slack)
    assert channel.name == "inc-1-api-502s"
    # The declarer and the on-call (paged at level 1, found by email) are in it; bob is not yet.
    assert channel.members == {BOT_USER, ALICE, CAROL}
    [notification] = slack.in_channel(channel.id)
    assert "INCIDENT NOTIFICATION" in notification
    assert "Severity: SEV-1" in notification
    assert "#inc-1-api-502s" in notification  # the channel people are sent to is this one
    assert len(channel.pins) == 1
    assert channel.topic == "SEV-1 | Detected | no IC yet"

    # Inside the channel the incident is implied.
    assert w.command_in(channel.id, ALICE, f"ic <@{BOB}|bob>") == (
        "INC-1: bob is the incident commander"
    )
    assert w.command_in(channel.id, BOB, 'status mitigating "rolled back to v41"') == (
        "INC-1 is mitigating"
    )
    w.stepped.run()
    assert BOB in channel.members
    assert channel.topic == "SEV-1 | Mitigating | IC @bob"
    said = slack.in_channel(channel.id)
    assert any("IC assigned: bob (by alice)" in s for s in said), said
    assert any("mitigating" in s.lower() and "rolled back to v41" in s for s in said), said

    # A message pinned with the emoji becomes a note by its author; once, however often.
    ts = slack.say(channel.id, BOB, "Rolled back api to v41; 502s falling")
    w.react(channel.id, ts, ALICE)
    w.react(channel.id, ts, CAROL)  # someone else pins the same message
    w.stepped.run()
    assert w.notes() == [("bob", "Rolled back api to v41; 502s falling")]
    chatter = slack.say(channel.id, CAROL, "lunch?")
    w.react(channel.id, chatter, ALICE, reaction="thumbsup")  # another emoji: nothing
    w.stepped.run()
    assert len(w.notes()) == 1

    # Resolved from the channel: the resolution is posted and pinned; archived two hours on.
    assert w.command_in(channel.id, BOB, 'resolve "Rolled back the bad deploy"') == (
        "INC-1 resolved"
    )
    w.stepped.run()
    assert "RESOLUTION" in slack.in_channel(channel.id)[-1]
    assert len(channel.pins) == 2
    assert not channel.archived
    w.stepped.clock.advance(hours=1, minutes=59)
    w.stepped.run()
    assert not channel.archived
    w.stepped.clock.advance(minutes=1)
    w.stepped.run()
    assert channel.archived
    assert "conversations.archive" in slack.calls
    # The incident's page links to the channel in Slack.
    page = w.page("/incidents/INC-1")
    assert f'href="https://slack.com/app_redirect?channel={channel.id}"' in page
    assert "#inc-1-api-502s</a> <small>in Slack, archived</small>" in page


def test_an_alert_pages_into_a_channel_and_later_levels_are_invited(room: Room) -> None:
    w, slack = room, room.slack
    _link(w, "bob", BOB)
    with w.stepped.sessions() as session, session.begin():
        from tocsin.services import incidents

        incidents.declare(
            session,
            title="Checkout: 5xx > 2%",
            severity="SEV-2",
            services=["api"],
            actor="alertmanager",
            now=w.stepped.clock.now(),
        )
    w.stepped.run()
    channel = _channel(slack)
    assert channel.name == "inc-1-checkout-5xx-2"
    assert channel.members == {BOT_USER, CAROL}
    w.stepped.clock.advance(minutes=15)  # nobody answered: level 2 pages bob
    w.stepped.run()
    assert BOB in channel.members


def test_lower_severities_get_no_channel_until_raised(room: Room) -> None:
    w, slack = room, room.slack
    _link(w, "alice", ALICE)
    assert w.command(ALICE, 'declare "Slow search" sev3 api').startswith("Declared INC-1")
    w.stepped.run()
    assert not slack.channels
    from tocsin.services import incidents

    with w.stepped.sessions() as session, session.begin():
        incidents.change_severity(
            session,
            "INC-1",
            "SEV-1",
            reason="checkout affected",
            actor="alice",
            now=w.stepped.clock.now(),
        )
    w.stepped.run()
    channel = _channel(slack)
    assert channel.topic.startswith("SEV-1 | ")
    assert "Severity: SEV-1" in slack.in_channel(channel.id)[0]


def test_a_taken_name_gets_another_and_reopening_unarchives(room: Room) -> None:
    w, slack = room, room.slack
    with slack.lock:
        from tests.fakes.slack import Channel

        slack.channels["C0TAKEN"] = Channel("C0TAKEN", "inc-1-db-down")
    _link(w, "alice", ALICE)
    w.command(ALICE, 'declare "DB down" sev1 api')
    w.stepped.run()
    made = [c for c in slack.channels.values() if c.id != "C0TAKEN"]
    assert [c.name for c in made] == ["inc-1-db-down-2"]
    with w.stepped.sessions() as session:
        from tocsin.services import incidents

        assert incidents.get(session, "INC-1").channel == "#inc-1-db-down-2"
    w.command(ALICE, "resolve 1")
    w.stepped.run()
    w.stepped.clock.advance(hours=3)
    w.stepped.run()
    assert made[0].archived
    assert w.command(ALICE, "status mitigating 1") == "INC-1 is mitigating"
    w.stepped.run()
    assert not made[0].archived
    assert "Reopened" in " ".join(slack.in_channel(made[0].id))


def test_events_are_signed_verified_and_checked_once(room: Room) -> None:
    w, slack = room, room.slack
    challenge = {"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWM"}
    answer = w.event(challenge)
    assert answer.status_code == 200
    assert answer.json() == {"challenge": challenge["challenge"]}
    raw = b"{not json"
    answer = httpx.post(
        f"{w.stepped.server.url}/hooks/slack/events", content=raw, headers=signed(raw)
    )
    assert answer.status_code == 400

    _link(w, "alice", ALICE)
    w.command(ALICE, 'declare "DB down" sev1 api')
    w.stepped.run()
    channel = _channel(slack)
    ts = slack.say(channel.id, ALICE, "Primary is out of disk")
    pin = {
        "type": "event_callback",
        "event_id": "Ev0PIN0001",
        "event": {
            "type": "reaction_added",
            "user": ALICE,
            "reaction": "pushpin",
            "item": {"type": "message", "channel": channel.id, "ts": ts},
        },
    }
    # Forged or replayed late: refused, and nothing is noted.
    assert w.event(pin, secret="guessed").status_code == 401
    assert w.event(pin, age=6 * 60).status_code == 401
    w.stepped.run()
    assert w.notes() == []
    # Slack delivering the same event twice notes it once.
    assert w.event(pin).status_code == 200
    assert w.event(pin).status_code == 200
    w.stepped.run()
    assert w.notes() == [("alice", "Primary is out of disk")]
    assert slack.calls.count("conversations.history") == 1
    # A pin in a channel that is no incident's reads nothing back.
    w.react("C0GENERAL", ts, ALICE)
    w.stepped.run()
    assert slack.calls.count("conversations.history") == 1


def test_a_pinned_reply_in_a_thread_is_read_from_the_thread(room: Room) -> None:
    w, slack = room, room.slack
    _link(w, "alice", ALICE)
    w.command(ALICE, 'declare "DB down" sev1 api')
    w.stepped.run()
    channel = _channel(slack)
    top = slack.say(channel.id, ALICE, "Looking at the primary")
    reply = slack.say(channel.id, CAROL, "WAL volume is at 100%", thread=top)
    w.react(channel.id, reply, ALICE)
    w.stepped.run()
    # carol never linked her Slack account: the note names her Slack id.
    assert w.notes() == [(f"slack:{CAROL}", "WAL volume is at 100%")]
