"""SMS pages through the twilio library, against a local fake of Twilio's Messages API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM, FakeTwilio, fake_twilio
from tocsin.errors import InvalidInput
from tocsin.notify import Message, Outcome
from tocsin.notify.sms import TEXT_LIMIT, SmsAdapter, TwilioAccount, text

PAGE = Message(
    idempotency_key="k-1",
    subject="[SEV-1] INC-12 checkout: Checkout is returning 502 for every request",
    text="",
    severity="SEV-1",
    incident="INC-12",
    service="checkout",
    ack_url="http://tocsin.example/ack/abc",
)


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with fake_twilio() as fake:
        yield fake


def account(fake: FakeTwilio, token: str = AUTH_TOKEN) -> TwilioAccount:
    return TwilioAccount(ACCOUNT_SID, token, FROM, fake.url)


def test_a_page_arrives_as_one_short_text(twilio: FakeTwilio) -> None:
    with SmsAdapter(account(twilio), "+4915112345678") as sms:
        result = sms.send(PAGE)
    assert result.outcome is Outcome.SENT, result.detail
    [sent] = twilio.messages
    assert (sent["To"], sent["From"]) == ("+4915112345678", FROM)
    assert sent["Body"] == (
        "[SEV-1] INC-12 checkout: Checkout is returning 502 for every request"
        " Reply ACK 12 or RES 12. http://tocsin.example/ack/abc"
    )
    assert result.detail == f"SMS {sent['Sid']} queued"


def test_a_long_summary_is_cut_and_the_link_kept() -> None:
    long = Message("k", "x" * 1000, "", "SEV-2", "INC-3", "db", ack_url="http://t.example/ack/z")
    body = text(long)
    assert len(body) <= TEXT_LIMIT
    assert body.endswith(" Reply ACK 3 or RES 3. http://t.example/ack/z")


@pytest.mark.parametrize(
    ("to", "fail", "token", "outcome", "detail"),
    [
        pytest.param("+4915112345678", [503], AUTH_TOKEN, Outcome.TEMPORARY, "503", id="5xx"),
        pytest.param("+4915112345678", [429], AUTH_TOKEN, Outcome.TEMPORARY, "429", id="429"),
        pytest.param("+4915112345678", [], "wrong", Outcome.PERMANENT, "code 20003", id="auth"),
        pytest.param("+4915112345678", [], AUTH_TOKEN, Outcome.PERMANENT, "21610", id="stop"),
    ],
)
def test_refusals_are_classified(
    twilio: FakeTwilio,
    to: str,
    fail: list[int],
    token: str,
    outcome: Outcome,
    detail: str,
) -> None:
    twilio.fail_next[:] = fail
    if "21610" in detail:
        twilio.stopped.add(to)
    result = SmsAdapter(account(twilio, token), to).send(PAGE)
    assert result.outcome is outcome and detail in result.detail
    assert twilio.messages == []


def test_an_unreachable_provider_is_worth_trying_again() -> None:
    unreachable = TwilioAccount(ACCOUNT_SID, AUTH_TOKEN, FROM, "http://127.0.0.1:9")
    result = SmsAdapter(unreachable, "+4915112345678", timeout=2).send(PAGE)
    assert result.outcome is Outcome.TEMPORARY


def test_bad_numbers_and_missing_settings_are_refused_up_front(twilio: FakeTwilio) -> None:
    with pytest.raises(InvalidInput, match=r"'0151 1234' is not a phone number in E.164 form"):
        SmsAdapter(account(twilio), "0151 1234")
    with pytest.raises(InvalidInput) as caught:
        TwilioAccount("", "", "12345", twilio.url)
    assert caught.value.problems == [
        "TOCSIN_TWILIO_ACCOUNT_SID is not set",
        "TOCSIN_TWILIO_AUTH_TOKEN is not set",
        "TOCSIN_TWILIO_FROM '12345' is not a phone number in E.164 form (+ and 8 to 15 digits)",
    ]
    assert AUTH_TOKEN not in repr(account(twilio))
