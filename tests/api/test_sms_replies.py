"""SMS replies: the provider posts what a person texted back, signed; ACK and RES act as them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from tests.conftest import T0
from tests.fakes.twilio import AUTH_TOKEN
from tocsin import config
from tocsin.clock import FixedClock
from tocsin.server import create_app
from tocsin.services import config_apply as applier
from tocsin.services import incidents
from tocsin.settings import Settings
from tocsin.store.db import make_engine, make_sessionmaker

BASE = "https://tocsin.test"
URL = "/hooks/sms/twilio"
ALICE = "+4915112345678"
CONFIG = f"""
users:
  - handle: alice
    contact_methods: [{{name: phone, type: sms, number: "{ALICE}"}}]
escalation_policies:
  - {{name: db-oncall, levels: [{{targets: ["user:alice"]}}]}}
services:
  - {{slug: database, escalation_policy: db-oncall}}
"""


@dataclass
class Phone:
    client: TestClient
    db_url: str
    sent: int = 0

    def text(
        self, body: str, *, sender: str = ALICE, sid: str | None = None, forge: bool = False
    ) -> httpx.Response:
        self.sent += 1
        form = {
            "MessageSid": sid or f"SM{self.sent:032d}",
            "AccountSid": "AC" + "0" * 32,
            "From": sender,
            "To": "+15005550006",
            "Body": body,
        }
        signature = RequestValidator("forged" if forge else AUTH_TOKEN).compute_signature(
            BASE + URL, form
        )
        return self.client.post(URL, data=form, headers={"X-Twilio-Signature": signature})

    def timeline(self) -> list[str]:
        engine = make_engine(self.db_url)
        with make_sessionmaker(engine)() as session:
            found = [e.message for e in incidents.get(session, "INC-1").events]
        engine.dispose()
        return found


@pytest.fixture
def phone(db_url: str) -> Iterator[Phone]:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        applier.apply(session, config.parse(CONFIG, "tocsin.yaml"), now=T0)
        incidents.declare(
            session,
            title="Primary down",
            severity="SEV-1",
            services=["database"],
            actor="alertmanager",
            now=T0,
        )
    engine.dispose()
    settings = Settings(database_url=db_url, base_url=BASE, twilio_auth_token=AUTH_TOKEN)
    app = create_app(settings, clock=FixedClock(T0), run_engine=False)
    with TestClient(app) as client:
        yield Phone(client, db_url)
    app.state.engine.dispose()


def test_ack_by_sms_acknowledges_as_the_person_and_a_replay_does_nothing(phone: Phone) -> None:
    answer = phone.text("ack 1", sid="SM" + "a" * 32)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/xml")
    assert "INC-1 acknowledged: escalation stopped. Primary down" in answer.text
    assert phone.timeline()[-1] == "Acknowledged by alice by SMS"
    again = phone.text("ack 1", sid="SM" + "a" * 32)
    assert again.status_code == 200 and "<Message>" not in again.text
    assert phone.timeline().count("Acknowledged by alice by SMS") == 1


def test_res_by_sms_resolves_and_anything_else_gets_help(phone: Phone) -> None:
    assert "Reply ACK 12 to acknowledge INC-12" in phone.text("what is going on?").text
    assert "There is no INC-7" in phone.text("RES 7").text
    assert "INC-1 resolved. Primary down" in phone.text("RES INC-1").text
    assert phone.timeline()[-1] == "[RESOLVED] Resolved by alice by SMS"
    assert "does not know this number" in phone.text("ACK 1", sender="+4930123456").text


def test_a_forged_or_unsigned_request_changes_nothing(phone: Phone) -> None:
    forged = phone.text("RES 1", forge=True)
    assert forged.status_code == 403 and "does not match" in forged.text
    unsigned = phone.client.post(URL, data={"MessageSid": "SM1", "From": ALICE, "Body": "RES 1"})
    assert unsigned.status_code == 403
    big = phone.client.post(
        URL, content=b"x" * 20000, headers={"X-Twilio-Signature": "x", "Content-Type": "a/b"}
    )
    assert big.status_code == 413
    assert not any(m.startswith(("Resolved", "Acknowledged")) for m in phone.timeline())


def test_a_bare_ack_takes_the_incident_that_paged_the_person_last(phone: Phone) -> None:
    assert "INC-1 acknowledged" in phone.text("Ack").text
    assert phone.timeline()[-1] == "Acknowledged by alice by SMS"


def test_a_number_two_people_share_acts_for_the_one_paged_on_it_or_nobody(phone: Phone) -> None:
    from tocsin.services import contacts

    engine = make_engine(phone.db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        from tocsin.store import users

        users.create(session, handle="mallory", name="Mallory", now=T0)
        contacts.add(session, "mallory", name="phone", type="sms", target=ALICE, now=T0)
    engine.dispose()
    # Nobody was paged on the number yet: a reply cannot say whose it is.
    answer = phone.text("RES 1")
    assert "belongs to more than one person" in answer.text
    assert not any(m.startswith("[RESOLVED]") for m in phone.timeline())


def test_a_disabled_person_cannot_act_by_sms(phone: Phone) -> None:
    from tocsin.services import users as people

    engine = make_engine(phone.db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        people.disable(session, "alice", now=T0)
    engine.dispose()
    answer = phone.text("ack 1")
    assert answer.status_code == 200
    assert "Tocsin does not know this number" in answer.text
    assert not any("Acknowledged" in line for line in phone.timeline())
