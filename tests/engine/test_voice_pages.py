"""Phone calls: a page calls the on-call person through a Twilio-compatible provider (a local
fake), the key they press acts as them, and the provider's status callbacks decide whether the
call reached them; on SQLite and PostgreSQL, against a real Tocsin HTTP server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from tests.conftest import T0, Stepped, stepped_with
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM, FakeTwilio, fake_twilio
from tocsin.services import incidents

ALICE, BOB = "+4915112345678", "+4915187654321"
CONFIG = f"""
users:
  - handle: alice
    contact_methods:
      - {{name: phone, type: voice, number: "{ALICE}"}}
      - {{name: text, type: sms, number: "{ALICE}"}}
      - {{name: desk, type: console}}
    notification_rules:
      - {{contact_method: RULE_ONE, after: 0m}}
      - {{contact_method: RULE_TWO, after: 5m}}
  - handle: bob
    contact_methods: [{{name: phone, type: voice, number: "{BOB}"}}]
schedules:
  - name: primary
    time_zone: Europe/Berlin
    layers:
      - {{name: weekly, start: "2024-06-01T00:00", rotation: 1 week, participants: [alice]}}
escalation_policies:
  - name: db-oncall
    levels:
      - {{targets: ["schedule:primary"], delay: 15m}}
      - {{targets: ["user:bob"]}}
services:
  - slug: database
    escalation_policy: db-oncall
    alert_rules: [{{severity: critical, sev: SEV-1}}]
"""
# What Alertmanager 0.25 posts for one firing alert (the shape of the captured fixtures).
FIRING = {
    "receiver": "tocsin",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "PrimaryDown", "instance": "db-1", "severity": "critical"},
            "annotations": {"summary": "Primary database is down"},
            "startsAt": "2026-11-28T20:19:07Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prom.example/g",
            "fingerprint": "7c1b2d4e5f6a7b8c",
        }
    ],
    "groupLabels": {"alertname": "PrimaryDown"},
    "commonLabels": {"alertname": "PrimaryDown", "severity": "critical"},
    "commonAnnotations": {"summary": "Primary database is down"},
    "externalURL": "http://alertmanager.example:9093",
    "version": "4",
    "groupKey": '{}:{alertname="PrimaryDown"}',
    "truncatedAlerts": 0,
}


@dataclass
class Phones:
    """A Tocsin server whose phone provider is the fake, and the engine the test steps."""

    stepped: Stepped
    twilio: FakeTwilio

    def __post_init__(self) -> None:
        self.server, self.sessions = self.stepped.server, self.stepped.sessions
        self.clock, self.engine = self.stepped.clock, self.stepped
        self.timeline = self.stepped.timeline

    def fire(self) -> None:
        key = self.server.integration("alertmanager", service="database", name="am")
        answer = httpx.post(f"{self.server.url}/hooks/alertmanager/{key}", json=FIRING)
        assert answer.status_code == 200, answer.text
        self.stepped.run()


def phones(db_url: str, tmp_path: Path, rules: tuple[str, str]) -> Iterator[Phones]:
    with fake_twilio() as twilio:
        settings = {
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": AUTH_TOKEN,
            "twilio_from": FROM,
            "twilio_base_url": twilio.url,
        }
        text = CONFIG.replace("RULE_ONE", rules[0]).replace("RULE_TWO", rules[1])
        for stepped in stepped_with(db_url, tmp_path, settings, text, calls_per_minute=1):
            yield Phones(stepped, twilio)


@pytest.fixture
def call_first(db_url: str, tmp_path: Path) -> Iterator[Phones]:
    yield from phones(db_url, tmp_path, ("phone", "desk"))


@pytest.fixture
def text_first(db_url: str, tmp_path: Path) -> Iterator[Phones]:
    yield from phones(db_url, tmp_path, ("text", "phone"))


def test_a_sev1_from_alertmanager_calls_the_on_call_who_presses_4_to_acknowledge(
    call_first: Phones,
) -> None:
    p = call_first
    p.fire()
    [call] = p.twilio.calls
    assert (call["To"], call["From"]) == (ALICE, FROM)
    assert call["MachineDetection"] == "Enable"  # a voicemail box is not a person reached
    said = ElementTree.fromstring(call["Twiml"])
    gather = said.find("Gather")
    assert gather is not None and gather.attrib["numDigits"] == "1"
    words = gather.findtext("Say") or ""
    assert words.startswith("This is Tocsin. Severity 1. incident 1, database:")
    assert "Press 4 to acknowledge, 6 to resolve, or 9 to escalate now." in words

    assert p.twilio.report(call["Sid"], "in-progress", AnsweredBy="human") == 204
    status, answer = p.twilio.press(call["Sid"], "4")
    assert status == 200
    assert ElementTree.fromstring(answer).findtext("Say") == "Incident 1 acknowledged. Goodbye."
    assert p.twilio.report(call["Sid"], "completed", AnsweredBy="human") == 204

    timeline = p.timeline()
    assert "Acknowledged by alice by phone" in timeline
    assert "Reached alice via phone: answered" in timeline
    p.clock.advance(minutes=16)  # level 2 (bob) was due at 15 minutes
    p.engine.run()
    assert [c["To"] for c in p.twilio.calls] == [ALICE]  # escalation stopped: bob not called
    with p.sessions() as session:
        assert incidents.get(session, "INC-1").acknowledged_at == T0


def test_keys_6_resolve_and_9_escalates_now(call_first: Phones) -> None:
    p = call_first
    p.fire()
    [call] = p.twilio.calls
    _, answer = p.twilio.press(call["Sid"], "7")  # not a choice: asked again
    assert ElementTree.fromstring(answer).find("Gather") is not None
    _, answer = p.twilio.press(call["Sid"], "9")
    assert ElementTree.fromstring(answer).findtext("Say") == (
        "Incident 1: paging the next level now. Goodbye."
    )
    p.clock.advance(minutes=2)  # bob's call waits for the per-minute cap of nobody: bob's own
    p.engine.run()
    assert [c["To"] for c in p.twilio.calls] == [ALICE, BOB]  # not 15 minutes later
    assert "alice asked to escalate now by phone" in p.timeline()
    # The same key again (the provider retrying the request) does nothing twice.
    assert "done already" in p.twilio.press(call["Sid"], "9")[1]

    bobs = p.twilio.calls[1]
    _, answer = p.twilio.press(bobs["Sid"], "6")
    assert ElementTree.fromstring(answer).findtext("Say") == "Incident 1 resolved. Goodbye."
    assert "[RESOLVED] Resolved by bob by phone" in p.timeline()


def test_no_answer_or_a_voicemail_box_goes_on_to_the_next_method_at_once(
    call_first: Phones,
) -> None:
    p = call_first
    p.fire()
    [call] = p.twilio.calls
    p.twilio.report(call["Sid"], "ringing")
    p.twilio.report(call["Sid"], "completed", AnsweredBy="machine_end_beep")
    timeline = p.timeline()
    assert "Could not reach alice via phone: a voicemail box answered; trying desk now" in timeline
    p.engine.run()
    assert "Notified alice via desk" in p.timeline()  # now, not five minutes later
    # A repeated or late report changes nothing: the call's end is known.
    assert p.twilio.report(call["Sid"], "completed", AnsweredBy="human") == 204
    assert "Reached alice via phone: answered" not in p.timeline()


def test_a_failed_sms_falls_through_to_a_call_at_once(text_first: Phones) -> None:
    p = text_first
    p.fire()
    [sms] = p.twilio.messages
    assert sms["StatusCallback"].startswith(f"{p.server.url}/hooks/twilio/status?n=")
    assert p.twilio.calls == []
    assert p.twilio.report(sms["Sid"], "sent") == 204
    assert p.twilio.report(sms["Sid"], "undelivered", ErrorCode="30003") == 204
    assert (
        "Could not reach alice via text: not delivered (error 30003); trying phone now"
        in p.timeline()
    )
    p.engine.run()
    [call] = p.twilio.calls  # at once, not after the rule's five minutes
    assert call["To"] == ALICE


def test_a_delivered_sms_is_on_the_timeline(text_first: Phones) -> None:
    p = text_first
    p.fire()
    [sms] = p.twilio.messages
    p.twilio.report(sms["Sid"], "delivered")
    assert "Reached alice via text: delivered" in p.timeline()


def test_forged_or_misdirected_callbacks_change_nothing(call_first: Phones) -> None:
    p = call_first
    p.fire()
    [call] = p.twilio.calls
    url = call["StatusCallback"]
    form = {"AccountSid": ACCOUNT_SID, "CallSid": call["Sid"], "CallStatus": "no-answer"}
    assert httpx.post(url, data=form).status_code == 403  # unsigned
    forged = httpx.post(url, data=form, headers={"X-Twilio-Signature": "bm90IGl0"})
    assert forged.status_code == 403
    # Signed, but for another call than the notification the URL names: not pinned on it.
    from tests.fakes.twilio import _post

    other = {**form, "CallSid": "CA" + "f" * 32}
    assert _post(url, other)[0] == 204
    assert _post(url.split("?")[0] + "?n=x", form)[0] == 400
    timeline = p.timeline()
    assert not any("Could not reach" in line for line in timeline)
    assert json.dumps(timeline).count("Notified alice via phone") == 1


def test_at_most_one_call_a_minute_and_what_waits_is_one_call(call_first: Phones) -> None:
    p = call_first
    p.fire()
    for title in ("Replica lag", "Backups failing"):  # two more incidents within the minute
        with p.sessions() as session, session.begin():
            incidents.declare(
                session, title=title, severity="SEV-1", services=["database"], actor="t", now=T0
            )
    p.engine.run()
    assert len(p.twilio.calls) == 1  # the others wait for the minute, they are not dropped
    p.clock.advance(seconds=61)
    p.engine.run()
    assert len(p.twilio.calls) == 2
    words = ElementTree.fromstring(p.twilio.calls[1]["Twiml"]).find("Gather")
    assert words is not None
    said = words.findtext("Say") or ""
    assert "incident 2," in said and "incident 3," in said  # one call for both
    # Pressing 4 in that call acknowledges both incidents.
    _, answer = p.twilio.press(p.twilio.calls[1]["Sid"], "4")
    assert ElementTree.fromstring(answer).findtext("Say") == (
        "Incident 2 acknowledged. Incident 3 acknowledged. Goodbye."
    )


def test_escalate_now_from_a_page_the_escalation_has_left_does_nothing(
    call_first: Phones,
) -> None:
    p = call_first
    p.fire()
    [call] = p.twilio.calls
    p.clock.advance(minutes=16)  # level 2 (bob) is paged on time, while alice's call goes on
    p.engine.run()
    assert [c["To"] for c in p.twilio.calls] == [ALICE, BOB]
    _, answer = p.twilio.press(call["Sid"], "9")  # late: it must not skip a level
    assert ElementTree.fromstring(answer).findtext("Say") == (
        "Incident 1: INC-1 has moved on to its next level already. Goodbye."
    )
    assert "alice asked to escalate now by phone" not in p.timeline()


def test_a_viewer_cannot_act_by_phone(call_first: Phones) -> None:
    from tocsin.store import users

    p = call_first
    p.fire()
    with p.sessions() as session, session.begin():
        users.update(session, users.get_by_handle(session, "alice"), role="viewer")
    _, answer = p.twilio.press(p.twilio.calls[0]["Sid"], "6")
    assert "alice is a viewer in Tocsin and cannot act on incidents" in answer
    assert not any("Resolved" in line for line in p.timeline())


def test_an_sms_reply_res_resolves(text_first: Phones) -> None:
    p = text_first
    p.fire()
    status, answer = p.twilio.text_in(f"{p.server.url}/hooks/sms/twilio", ALICE, "RES 1")
    assert status == 200
    assert ElementTree.fromstring(answer).findtext("Message") == (
        "INC-1 resolved. PrimaryDown: Primary database is down"
    )
    assert "[RESOLVED] Resolved by alice by SMS" in p.timeline()
