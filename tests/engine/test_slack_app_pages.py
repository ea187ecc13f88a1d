"""The Slack app: a page arrives as a direct message from the bot with buttons; a button acts
as the Slack user's linked Tocsin user, and the message then shows who did it. Against a fake
Slack Web API and a real Tocsin server, with requests signed as Slack signs them; on SQLite and
PostgreSQL."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.conftest import T0, Stepped, stepped_with
from tests.engine.test_voice_pages import FIRING
from tests.fakes.slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, fake_slack, signed
from tests.serving import wait_for
from tocsin.services import contacts

ALICE, BOB, MALLORY = "U0ALICE01", "U0BOB0001", "U0MALLORY"
CONFIG = f"""
users:
  - handle: alice
    contact_methods: [{{name: desk, type: console}}]
    notification_rules: [{{contact_method: desk, after: 10m}}]
  - handle: bob
    contact_methods: [{{name: slack, type: slack, slack_user: "{BOB}"}}]
escalation_policies:
  - name: db-oncall
    levels:
      - {{targets: ["user:alice"], delay: 15m}}
      - {{targets: ["user:bob"]}}
services:
  - slug: database
    escalation_policy: db-oncall
    alert_rules: [{{severity: critical, sev: SEV-1}}]
"""


@dataclass
class Workspace:
    stepped: Stepped
    slack: FakeSlack
    triggers: int = 0

    def post(self, path: str, form: dict[str, str], **sign: Any) -> httpx.Response:
        body = urlencode(form).encode()
        return httpx.post(
            f"{self.stepped.server.url}{path}", content=body, headers=signed(body, **sign)
        )

    def command(self, user: str, text: str) -> str:
        answer = self.post(
            "/hooks/slack/commands",
            {"command": "/tocsin", "text": text, "user_id": user, "channel_id": "C0GENERAL"},
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["text"])

    def press(self, message: dict[str, Any], label: str, user: str, trigger: str = "") -> int:
        [button] = [b for b in self.slack.actions(message) if b["text"]["text"] == label]
        self.triggers += 1
        payload = {
            "type": "block_actions",
            "trigger_id": trigger or f"trigger.{self.triggers}",
            "user": {"id": user},
            "container": {
                "type": "message",
                "channel_id": message["channel"],
                "message_ts": message["ts"],
            },
            "message": {"ts": message["ts"], "blocks": message["blocks"]},
            "actions": [
                {
                    "action_id": button["action_id"],
                    "value": button["value"],
                    "action_ts": str(time.time()),
                }
            ],
        }
        return self.post("/hooks/slack/interactivity", {"payload": json.dumps(payload)}).status_code

    def fire(self) -> None:
        key = self.stepped.server.integration("alertmanager", service="database", name="am")
        answer = httpx.post(f"{self.stepped.server.url}/hooks/alertmanager/{key}", json=FIRING)
        assert answer.status_code == 200, answer.text
        self.stepped.run()


@pytest.fixture
def workspace(db_url: str, tmp_path: Path) -> Iterator[Workspace]:
    with fake_slack() as slack:
        slack.users |= {ALICE, BOB, MALLORY}
        settings = {
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": f"{slack.url}/api/",
        }
        for stepped in stepped_with(db_url, tmp_path, settings, CONFIG):
            yield Workspace(stepped, slack)


def _link(w: Workspace, handle: str, user: str) -> str:
    with w.stepped.sessions() as session, session.begin():
        code = contacts.link_code(session, handle, "slack", now=T0)
    return w.command(user, f"link {code}")


def test_an_alert_pages_by_dm_and_acknowledge_stops_the_escalation(workspace: Workspace) -> None:
    w = workspace
    assert _link(w, "alice", ALICE) == (
        "Linked to alice: pages will arrive as direct messages from this app."
    )
    w.fire()
    [page] = [m for m in w.slack.messages if m["channel"] == "D" + ALICE[1:]]
    labels = [b["text"]["text"] for b in w.slack.actions(page)]
    assert labels[:3] == ["Acknowledge", "Resolve", "Escalate"]

    # Someone not linked presses it: told how to link, privately; nothing changes.
    assert w.press(page, "Acknowledge", MALLORY) == 200
    assert wait_for(lambda: w.slack.ephemeral)
    assert w.slack.ephemeral[-1]["user"] == MALLORY
    assert "not linked to Tocsin" in w.slack.ephemeral[-1]["text"]
    assert not any(m.startswith("Acknowledged") for m in w.stepped.timeline())

    assert w.press(page, "Acknowledge", ALICE) == 200
    assert "Acknowledged by alice by Slack" in w.stepped.timeline()
    assert wait_for(lambda: any("Acknowledged by alice" in json.dumps(b) for b in page["blocks"]))
    # In place of the buttons: who did it; Resolve stays while the incident is open.
    assert [b["text"]["text"] for b in w.slack.actions(page)] == ["Resolve", "Open INC-1"]
    w.stepped.clock.advance(minutes=16)  # level 2 (bob, by Slack) was due at 15 minutes
    w.stepped.run()
    assert not [m for m in w.slack.messages if m["channel"] == "D" + BOB[1:]]


def test_signatures_old_requests_and_replays(workspace: Workspace) -> None:
    w = workspace
    _link(w, "alice", ALICE)
    w.fire()
    [page] = [m for m in w.slack.messages if m["channel"].startswith("D")]  # not its channel
    form = {"command": "/tocsin", "text": "ack", "user_id": ALICE}
    assert w.post("/hooks/slack/commands", form, secret="guessed").status_code == 401
    assert w.post("/hooks/slack/commands", form, age=6 * 60).status_code == 401  # a replay
    assert not any(m.startswith("Acknowledged") for m in w.stepped.timeline())
    # The same click delivered twice (Slack retrying) escalates once. The click is the page as
    # it was when pressed: the first delivery updates the message in place.
    clicked = copy.deepcopy(page)
    assert w.press(clicked, "Escalate", ALICE, trigger="trigger.same") == 200
    assert w.press(clicked, "Escalate", ALICE, trigger="trigger.same") == 200
    assert w.stepped.timeline().count("alice asked to escalate now by Slack") == 1


def test_slash_commands_act_as_the_linked_user(workspace: Workspace) -> None:
    w = workspace
    assert "not linked to Tocsin" in w.command(ALICE, "ack")
    _link(w, "alice", ALICE)
    w.fire()
    assert w.command(ALICE, "ack") == "INC-1 acknowledged"  # the incident that paged her
    assert w.command(ALICE, 'resolve 1 "Failed over to the replica"') == "INC-1 resolved"
    assert "[RESOLVED] Failed over to the replica" in w.stepped.timeline()
    assert w.command(ALICE, "resolve 7") == "There is no INC-7."
    assert w.command(ALICE, "frobnicate").startswith("/tocsin declare")


def test_declare_set_the_commander_status_and_public_update_from_slack(
    workspace: Workspace,
) -> None:
    w = workspace
    _link(w, "alice", ALICE)
    _link(w, "bob", BOB)
    assert w.command(ALICE, "declare").startswith("Declare it like")
    assert w.command(ALICE, 'declare "Payments failing" sev1 database') == (
        "Declared INC-1: Payments failing (SEV-1)"
    )
    assert w.command(ALICE, f"ic <@{BOB}|bob> 1") == "INC-1: bob is the incident commander"
    assert w.command(ALICE, 'status mitigating 1 "rolled back the deploy"') == (
        "INC-1 is mitigating"
    )
    assert w.command(ALICE, 'update 1 "Card payments are recovering"') == (
        "INC-1: the status page says it now"
    )
    assert w.command(ALICE, "ic <@U0MALLORY|mallory> 1").startswith("That Slack user is not")
    timeline = " | ".join(w.stepped.timeline())
    for said in ("bob", "mitigating", "Card payments are recovering"):
        assert said in timeline


GROUPS = """
users:
  - {handle: alice}
  - {handle: bob}
schedules:
  - name: primary
    time_zone: UTC
    slack_user_group: S0ONCALL1
    layers:
      - {name: daily, rotation: 1 day, start: "2024-06-19T12:00", participants: [alice, bob]}
"""


def test_the_on_call_user_group_follows_the_schedule_across_a_boundary(
    db_url: str, tmp_path: Path
) -> None:
    from datetime import timedelta

    with fake_slack() as slack:
        slack.users |= {ALICE, BOB}
        settings = {
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": f"{slack.url}/api/",
        }
        for stepped in stepped_with(db_url, tmp_path, settings, GROUPS):
            w = Workspace(stepped, slack)
            _link(w, "alice", ALICE)
            _link(w, "bob", BOB)
            stepped.run()  # 10:30: alice's turn (from yesterday 12:00)
            assert slack.groups == {"S0ONCALL1": [ALICE]}
            stepped.clock.set(T0 + timedelta(hours=1, minutes=29))  # 11:59: still alice's
            stepped.run()
            assert slack.calls.count("usergroups.users.update") == 1
            stepped.clock.set(T0 + timedelta(hours=1, minutes=30))  # 12:00: the handoff
            stepped.run()
            assert slack.groups == {"S0ONCALL1": [BOB]}
            assert slack.calls.count("usergroups.users.update") == 2
            from tocsin import config
            from tocsin.services import config_apply, config_export

            with stepped.sessions() as session, session.begin():
                exported = config.dump(config_export.export(session))
                assert "slack_user_group: S0ONCALL1" in exported
                again = config.parse(exported, "tocsin.yaml")
                assert config_apply.apply(session, again, now=T0).changes == []
                bad = config.parse(GROUPS.replace("S0ONCALL1", "oncall"), "tocsin.yaml")
                with pytest.raises(Exception, match="is not a Slack user group id"):
                    config_apply.apply(session, bad, now=T0)


def test_declare_without_words_opens_a_form_that_declares(workspace: Workspace) -> None:
    w = workspace
    _link(w, "alice", ALICE)
    form = {"command": "/tocsin", "text": "declare", "user_id": ALICE, "trigger_id": "t.1"}
    answer = w.post("/hooks/slack/commands", form)
    assert answer.status_code == 200
    assert wait_for(lambda: w.slack.views)
    [view] = w.slack.views
    assert view["callback_id"] == "tocsin_declare"
    options = [o["value"] for o in view["blocks"][1]["element"]["options"]]
    assert options[:2] == ["SEV-1", "SEV-2"]

    def submit(title: str, view_id: str) -> dict[str, Any]:
        state = {
            "title": {"value": {"type": "plain_text_input", "value": title}},
            "severity": {"value": {"type": "static_select", "selected_option": {"value": "SEV-2"}}},
            "services": {
                "value": {
                    "type": "multi_static_select",
                    "selected_options": [{"value": "database"}],
                }
            },
        }
        payload = {
            "type": "view_submission",
            "user": {"id": ALICE},
            "view": {"id": view_id, "callback_id": "tocsin_declare", "state": {"values": state}},
        }
        answer = w.post("/hooks/slack/interactivity", {"payload": json.dumps(payload)})
        assert answer.status_code == 200
        return dict(answer.json())

    refused = submit("   ", "V1")
    assert refused["response_action"] == "errors"  # said beside the field; nothing declared
    assert submit("Replica lag", "V1") == {"response_action": "clear"}  # corrected, sent again
    assert submit("Replica lag", "V1") == {"response_action": "clear"}  # Slack trying again
    assert w.stepped.timeline()[0] == "Incident declared: Replica lag (SEV-2 on database)"
    with w.stepped.sessions() as session:
        from tocsin.services import incidents

        assert len(incidents.list_(session)) == 1  # declared once


def test_page_someone_or_a_schedule_from_slack(workspace: Workspace) -> None:
    w = workspace
    _link(w, "alice", ALICE)
    _link(w, "bob", BOB)
    assert w.command(ALICE, 'declare "Replica lag" sev2 database').startswith("Declared INC-1")
    assert w.command(ALICE, f"page <@{BOB}|bob> 1") == "INC-1: paging bob now"
    w.stepped.run()
    assert [m for m in w.slack.messages if m["channel"] == "D" + BOB[1:]]  # bob's DM
    assert "Paging bob (asked by alice) via slack" in w.stepped.timeline()
    assert w.command(ALICE, "page nobody-schedule 1") == (
        "nobody is on call in 'nobody-schedule' now"
    )
