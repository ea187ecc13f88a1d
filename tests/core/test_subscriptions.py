"""Status-page subscriptions decided from values: addresses, interests, limits, messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tocsin.core import subscriptions as core
from tocsin.core.subscriptions import Kind, Notice, Topic
from tocsin.errors import InvalidInput

T0 = datetime(2024, 6, 20, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(" Jane@Example.COM ", "Jane@example.com", id="trimmed, domain lowered"),
        pytest.param("a.b+tag@sub.example.org", "a.b+tag@sub.example.org", id="plus tag"),
    ],
)
def test_email_addresses_are_normalised(given: str, expected: str) -> None:
    assert core.normalise_email(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        pytest.param("", id="empty"),
        pytest.param("jane", id="no at"),
        pytest.param("jane@localhost", id="no dot in domain"),
        pytest.param("a@b@example.com", id="two ats"),
        pytest.param("jane doe@example.com", id="space"),
        pytest.param("x@example.com\r\nBcc: y@example.com", id="header injection"),
        pytest.param("a" * 250 + "@example.com", id="too long"),
    ],
)
def test_bad_email_addresses_are_refused(given: str) -> None:
    with pytest.raises(InvalidInput):
        core.normalise_email(given)


@pytest.mark.parametrize(
    ("given", "ok"),
    [
        pytest.param("https://hooks.example.com/x", True, id="https"),
        pytest.param("http://10.0.0.5:8080/in", True, id="http with port"),
        pytest.param("ftp://example.com", False, id="other scheme"),
        pytest.param("https:///path", False, id="no host"),
        pytest.param("https://example.com:99999/", False, id="bad port"),
        pytest.param("https://exa mple.com/", False, id="space"),
    ],
)
def test_webhook_urls(given: str, ok: bool) -> None:
    if ok:
        assert core.normalise_url(given) == given
    else:
        with pytest.raises(InvalidInput):
            core.normalise_url(given)


def test_one_address_is_one_key_whatever_its_case() -> None:
    assert core.address_key(Kind.EMAIL, "Jane@example.com") == core.address_key(
        Kind.EMAIL, "jane@example.com"
    )
    assert core.address_key(Kind.EMAIL, "a@x.io") != core.address_key(Kind.WEBHOOK, "a@x.io")


@pytest.mark.parametrize(
    ("subscribed", "notice", "hears"),
    [
        pytest.param([], ["api"], True, id="all components"),
        pytest.param(["api"], [], True, id="notice for everyone"),
        pytest.param(["api", "web"], ["web"], True, id="overlap"),
        pytest.param(["api"], ["web"], False, id="other component"),
    ],
)
def test_interest(subscribed: list[str], notice: list[str], hears: bool) -> None:
    assert core.interested(subscribed, notice) is hears


def test_masks_show_no_whole_address() -> None:
    assert core.mask(Kind.EMAIL, "jane.doe@example.com") == "j***@example.com"
    assert core.mask(Kind.WEBHOOK, "https://h.example.com/k?t=s") == "https://h.example.com/***"


@pytest.mark.parametrize(
    ("sent", "may"),
    [
        pytest.param([], True, id="first"),
        pytest.param([T0 - timedelta(seconds=59)], False, id="within a minute"),
        pytest.param([T0 - timedelta(seconds=60)], True, id="a minute later"),
        pytest.param([T0 - timedelta(hours=h) for h in (1, 2, 3)], False, id="daily cap"),
        pytest.param([T0 - timedelta(hours=h) for h in (1, 2, 25)], True, id="one a day ago"),
    ],
)
def test_confirmation_limits(sent: list[datetime], may: bool) -> None:
    assert core.may_send_confirmation(sent, now=T0) is may


def test_a_client_waits_until_its_oldest_counted_attempt_is_an_hour_old() -> None:
    attempts = [T0 - timedelta(minutes=m) for m in range(59, 49, -1)]  # 10 in the last hour
    verdict = core.client_allowed(attempts, now=T0)
    assert not verdict.allowed and verdict.retry_at == T0 + timedelta(minutes=1)
    assert core.client_allowed(attempts[1:], now=T0).allowed


NOTICE = Notice(
    topic=Topic.INCIDENT,
    subject="[Investigating] API errors",
    text="API errors\n\nStatus: Investigating\n\nWe are looking.",
    link="/status/incidents/7",
    event_key="status-update:3",
    components=("api",),
)


def test_an_email_carries_the_link_and_one_click_unsubscribe() -> None:
    email = core.notice_email(
        NOTICE.absolute("https://s.example.com/"),
        page_title="Acme",
        unsubscribe_url="https://s.example.com/status/unsubscribe/TOK",
    )
    assert email.headers == {
        "List-Unsubscribe": "<https://s.example.com/status/unsubscribe/TOK>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert "Details: https://s.example.com/status/incidents/7" in email.text
    assert "https://s.example.com/status/unsubscribe/TOK" in email.text
    assert 'href="https://s.example.com/status/unsubscribe/TOK"' in email.html
    assert Notice.from_json(NOTICE.as_json()) == NOTICE


def test_html_is_escaped() -> None:
    notice = Notice(Topic.INCIDENT, "s", "<script>x</script>", "https://a/", "k", ())
    assert "<script>" not in core.notice_email(notice, page_title="A", unsubscribe_url="u").html


def test_incident_notice_in_the_status_pages_words() -> None:
    subject, text = core.incident_notice(
        title="API errors", status="identified", message="Cause found.", components=["Public API"]
    )
    assert subject == "[Identified] API errors"
    assert text == "API errors\n\nStatus: Identified\nAffected: Public API\n\nCause found."


def test_a_signature_verifies_as_a_receiver_checks_it() -> None:
    body = core.webhook_body(NOTICE, sent_at=T0)
    header = core.sign("secret", body, at=T0)
    assert header.startswith(f"t={int(T0.timestamp())},v1=")
    assert core.verify("secret", body, header, now=T0 + timedelta(minutes=4))
    assert not core.verify("other", body, header, now=T0)
    assert not core.verify("secret", body + b" ", header, now=T0)
    assert not core.verify("secret", body, header, now=T0 + timedelta(minutes=6))  # replayed
    assert not core.verify("secret", body, "garbage", now=T0)


def test_idempotency_keys_fit_the_column() -> None:
    assert core.idempotency_key("k", 5) == "k:5"
    assert len(core.idempotency_key("x" * 200, 123456)) <= 80


def test_a_mailbox_is_counted_without_case_or_plus_tag() -> None:
    assert core.mailbox("Jane+news@Example.com") == "jane@example.com"
    assert core.mailbox("jane@example.com") == "jane@example.com"
    assert core.mailbox("+only@example.com") == "+only@example.com"
