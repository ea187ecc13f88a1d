"""An SMS contact method pages through the outbox to a Twilio-compatible provider (a local
fake), on SQLite and PostgreSQL; a refused number falls through to the next method at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.engine.test_escalation_flow import T0, declare
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM, FakeTwilio, fake_twilio
from tocsin import config
from tocsin.app import DUE_WORK
from tocsin.clock import FixedClock
from tocsin.engine.loop import Engine
from tocsin.engine.outbox import Sender, adapter_factory
from tocsin.errors import InvalidInput
from tocsin.services import config_apply as applier
from tocsin.services import config_export, incidents
from tocsin.settings import Settings

CONFIG = """
users:
  - handle: alice
    contact_methods:
      - {{name: phone, type: sms, number: "{number}"}}
      - {{name: desk, type: console}}
    notification_rules:
      - {{contact_method: phone, after: 0m}}
      - {{contact_method: desk, after: 5m}}
escalation_policies:
  - {{name: db-oncall, levels: [{{targets: ["user:alice"]}}]}}
services:
  - {{slug: database, escalation_policy: db-oncall}}
"""


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with fake_twilio() as fake:
        yield fake


def run(sessions: sessionmaker[Session], twilio: FakeTwilio, number: str) -> None:
    with sessions() as session, session.begin():
        applier.apply(session, config.parse(CONFIG.format(number=number), "t.yaml"), now=T0)
    settings = Settings(
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from=FROM,
        twilio_base_url=twilio.url,
    )
    clock = FixedClock(T0)
    sender = Sender(sessions, clock, adapter_factory(settings), base_url="https://tocsin.test")
    engine = Engine(sessions, clock, DUE_WORK, sender=sender)
    declare(sessions, clock)
    engine.run_once()
    engine.run_once()


def test_a_page_reaches_the_phone_as_an_sms(
    sessions: sessionmaker[Session], twilio: FakeTwilio
) -> None:
    run(sessions, twilio, "+4915112345678")
    [sms] = twilio.messages
    assert sms["To"] == "+4915112345678"
    assert sms["Body"].startswith(
        "[SEV-1] INC-1 database: Primary down Reply ACK 1 or RES 1. https://tocsin.test/ack/"
    )
    with sessions() as session:
        timeline = [e.message for e in incidents.get(session, "INC-1").events]
    assert "Paging alice (db-oncall level 1: user:alice) via phone, desk" in timeline
    assert "Notified alice via phone" in timeline


def test_a_number_the_provider_refuses_falls_through_to_the_next_method_at_once(
    sessions: sessionmaker[Session], twilio: FakeTwilio
) -> None:
    twilio.stopped.add("+4915112345678")
    run(sessions, twilio, "+4915112345678")
    assert twilio.messages == []
    with sessions() as session:
        timeline = [e.message for e in incidents.get(session, "INC-1").events]
    assert (
        "Could not notify alice via phone: SMS provider refused (400, code 21610);"
        " trying desk now" in timeline
    )
    assert "Notified alice via desk" in timeline  # not five minutes later


def test_numbers_are_checked_with_their_line_and_round_trip(session: Session) -> None:
    bad = CONFIG.format(number="0151 1234567").replace("type: console", "type: console, number: x")
    with pytest.raises(InvalidInput) as caught:
        applier.apply(session, config.parse(bad, "tocsin.yaml"), now=T0)
    assert caught.value.problems == [
        "tocsin.yaml:5: users[0].contact_methods[0].number: an sms method needs a phone number"
        " in E.164 form, + and 8 to 15 digits like +4915112345678 (got '0151 1234567')",
        "tocsin.yaml:6: users[0].contact_methods[1].number: only an sms or voice method has a"
        " phone number",
    ]
    applier.apply(session, config.parse(CONFIG.format(number="+4915112345678"), "t"), now=T0)
    [alice] = config_export.export(session)["users"]
    phone = {"name": "phone", "type": "sms", "number": "+4915112345678"}
    assert phone in alice["contact_methods"]
    again = config.parse(config.dump(config_export.export(session)), "tocsin.yaml")
    assert applier.apply(session, again, now=T0).changes == []


def test_sms_over_the_hourly_cap_wait_and_then_go_together(
    sessions: sessionmaker[Session], twilio: FakeTwilio
) -> None:
    with sessions() as session, session.begin():
        text = CONFIG.format(number="+4915112345678")
        applier.apply(session, config.parse(text, "t.yaml"), now=T0)
    clock = FixedClock(T0)
    sender = Sender(
        sessions,
        clock,
        adapter_factory(
            Settings(
                twilio_account_sid=ACCOUNT_SID,
                twilio_auth_token=AUTH_TOKEN,
                twilio_from=FROM,
                twilio_base_url=twilio.url,
            )
        ),
        base_url="https://tocsin.test",
        sms_per_hour=2,
    )
    engine = Engine(sessions, clock, DUE_WORK, sender=sender)
    for minute in range(4):  # four incidents, four pages to alice's phone within minutes
        clock.set(T0 + timedelta(minutes=minute))
        declare(sessions, clock)
        engine.run_once()
    assert len(twilio.messages) == 2  # the cap: the other two wait, they are not dropped
    clock.set(T0 + timedelta(minutes=60))
    engine.run_once()
    assert len(twilio.messages) == 3
    third = twilio.messages[2]["Body"]
    assert "INC-3" in third and "INC-4" in third  # the two that waited, in one SMS
