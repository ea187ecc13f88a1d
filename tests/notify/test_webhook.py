"""The webhook adapter against a real local HTTP receiver that checks signatures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.notify.conftest import SECRET, Receiver, page
from tocsin import __version__
from tocsin.errors import InvalidInput
from tocsin.notify import (
    Adapter,
    Message,
    Outcome,
    http_outcome,
    parse_retry_after,
    sign,
    verify,
)
from tocsin.notify.webhook import WebhookAdapter, payload


@pytest.fixture
def hook(receiver: Receiver) -> Receiver:
    receiver.secret = SECRET
    return receiver


@pytest.fixture
def adapter(hook: Receiver) -> Iterator[WebhookAdapter]:
    with WebhookAdapter(hook.url, SECRET, timeout=2.0) as adapter:
        yield adapter


def test_sent_with_signed_json_and_headers(hook: Receiver, adapter: WebhookAdapter) -> None:
    message = page(items=("web-1: 502 rate 40%", "web-2: 502 rate 38%"))
    hook.reply(200, b"accepted")

    result = adapter.send(message)

    assert (result.outcome, result.detail, result.retry_after) == (
        Outcome.SENT,
        "HTTP 200 from receiver: accepted",
        None,
    )
    [request] = hook.requests
    assert request.method == "POST"
    assert request.path == "/hook"
    assert request.verified is True
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-tocsin-signature"] == sign(request.body, SECRET)
    assert request.headers["idempotency-key"] == "INC-7:page:1"
    assert request.headers["user-agent"] == f"Tocsin/{__version__}"
    document = json.loads(request.body)
    assert list(document) == [
        "idempotency_key",
        "subject",
        "text",
        "severity",
        "incident",
        "service",
        "url",
        "ack_url",
        "runbook_url",
        "items",
        "policy",
        "level",
    ]
    assert Message(**{**document, "items": tuple(document["items"])}) == message
    assert document == payload(message)


def test_optional_fields_are_null_and_text_is_utf8(hook: Receiver, adapter: WebhookAdapter) -> None:
    message = Message("k-1", "[SEV-3] Disque plein à 95 % 🔥", "Plus de place.", "SEV-3")

    assert adapter.send(message).outcome is Outcome.SENT

    body = hook.requests[0].body
    assert "à 95 % 🔥".encode() in body  # raw UTF-8, as RFC 8259 §8.1 requires
    document = json.loads(body)
    assert document["incident"] is None
    assert document["ack_url"] is None
    assert document["items"] == []
    assert (document["policy"], document["level"]) == (None, None)  # not a level's webhook


def test_tampered_body_fails_verification(hook: Receiver, adapter: WebhookAdapter) -> None:
    assert adapter.send(page()).outcome is Outcome.SENT
    good = hook.requests[0]
    assert verify(good.body, SECRET, good.headers["x-tocsin-signature"])
    tampered = good.body.replace(b"SEV-1", b"SEV-4")
    assert tampered != good.body
    assert not verify(tampered, SECRET, good.headers["x-tocsin-signature"])
    assert not verify(good.body, "another secret", good.headers["x-tocsin-signature"])

    # Replay the tampered body with the original signature: the receiver refuses it.
    with httpx.Client() as client:
        response = client.post(hook.url, content=tampered, headers=dict(good.headers))
    assert response.status_code == 401
    assert hook.requests[1].verified is False


def test_wrong_secret_is_refused_permanently(hook: Receiver) -> None:
    with WebhookAdapter(hook.url, "not the receiver's secret") as adapter:
        result = adapter.send(page())

    assert result.outcome is Outcome.PERMANENT
    assert result.detail == "HTTP 401 from receiver: bad signature"


@pytest.mark.parametrize(
    ("body", "signature", "valid"),
    [
        pytest.param(b"{}", sign(b"{}", SECRET), True, id="match"),
        pytest.param(b"{}", sign(b"{} ", SECRET), False, id="other-body"),
        pytest.param(b"{}", sign(b"{}", SECRET).upper(), False, id="case-matters"),
        pytest.param(b"{}", sign(b"{}", SECRET)[7:], False, id="no-prefix"),
        pytest.param(b"{}", "", False, id="empty"),
        pytest.param(b"{}", "sha256=é", False, id="non-ascii"),
    ],
)
def test_verify(body: bytes, signature: str, valid: bool) -> None:
    assert verify(body, SECRET, signature) is valid


def test_sign_is_hmac_sha256_hex() -> None:
    # RFC 4231 test case 2: HMAC-SHA-256 with key "Jefe".
    assert sign(b"what do ya want for nothing?", "Jefe") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_two_sends_reuse_the_key_and_the_connection(
    hook: Receiver, adapter: WebhookAdapter
) -> None:
    hook.reply(204)
    hook.reply(204)

    first = adapter.send(page())
    second = adapter.send(page())

    assert first.outcome is second.outcome is Outcome.SENT
    assert first.detail == "HTTP 204 from receiver"
    one, two = hook.requests
    assert one.headers["idempotency-key"] == two.headers["idempotency-key"] == "INC-7:page:1"
    assert one.body == two.body
    assert one.client_port == two.client_port  # keep-alive: one TCP connection


@pytest.mark.parametrize(
    ("status", "headers", "outcome", "retry_after"),
    [
        pytest.param(200, {}, Outcome.SENT, None, id="200"),
        pytest.param(202, {}, Outcome.SENT, None, id="202"),
        pytest.param(204, {}, Outcome.SENT, None, id="204"),
        pytest.param(503, {"Retry-After": "7"}, Outcome.TEMPORARY, 7.0, id="503-retry-after"),
        pytest.param(503, {}, Outcome.TEMPORARY, None, id="503"),
        pytest.param(429, {"Retry-After": "30"}, Outcome.TEMPORARY, 30.0, id="429-retry-after"),
        pytest.param(429, {}, Outcome.TEMPORARY, None, id="429"),
        pytest.param(429, {"Retry-After": "soon"}, Outcome.TEMPORARY, None, id="429-bad-value"),
        pytest.param(500, {"Retry-After": "7"}, Outcome.TEMPORARY, None, id="500-ignores-hint"),
        pytest.param(502, {}, Outcome.TEMPORARY, None, id="502"),
        pytest.param(408, {}, Outcome.TEMPORARY, None, id="408"),
        pytest.param(425, {}, Outcome.TEMPORARY, None, id="425"),
        pytest.param(400, {}, Outcome.PERMANENT, None, id="400"),
        pytest.param(401, {}, Outcome.PERMANENT, None, id="401"),
        pytest.param(404, {}, Outcome.PERMANENT, None, id="404"),
        pytest.param(410, {}, Outcome.PERMANENT, None, id="410"),
        pytest.param(413, {}, Outcome.PERMANENT, None, id="413"),
    ],
)
def test_status_classification(
    hook: Receiver,
    adapter: WebhookAdapter,
    status: int,
    headers: dict[str, str],
    outcome: Outcome,
    retry_after: float | None,
) -> None:
    hook.reply(status, b"", headers)

    result = adapter.send(page())

    assert (result.outcome, result.retry_after) == (outcome, retry_after)
    assert result.detail == f"HTTP {status} from receiver"


def test_retry_after_as_http_date(hook: Receiver, adapter: WebhookAdapter) -> None:
    hook.reply(503, b"maintenance", {"Retry-After": "Fri, 31 Dec 2100 23:59:59 GMT"})

    result = adapter.send(page())

    assert result.outcome is Outcome.TEMPORARY
    assert result.retry_after is not None and result.retry_after > 365 * 86400
    assert result.detail == "HTTP 503 from receiver: maintenance"


def test_redirect_is_not_followed(hook: Receiver, adapter: WebhookAdapter) -> None:
    hook.reply(308, b"", {"Location": "https://hooks.example/new"})

    result = adapter.send(page())

    assert result.outcome is Outcome.PERMANENT
    assert "308" in result.detail and "https://hooks.example/new" in result.detail
    assert len(hook.requests) == 1


def test_long_error_body_is_cut_in_detail(hook: Receiver, adapter: WebhookAdapter) -> None:
    hook.reply(400, b"x" * 100_000)

    result = adapter.send(page())

    assert result.outcome is Outcome.PERMANENT
    assert len(result.detail) < 250 and result.detail.endswith("…")


def test_connection_refused_is_temporary(dead_url: str) -> None:
    with WebhookAdapter(dead_url, SECRET, timeout=2.0) as adapter:
        result = adapter.send(page())

    assert result.outcome is Outcome.TEMPORARY
    assert result.detail.startswith("cannot connect to receiver:")
    assert result.retry_after is None


def test_timeout_is_temporary(hook: Receiver) -> None:
    hook.reply(200, b"too late", delay=1.0)

    with WebhookAdapter(hook.url, SECRET, timeout=0.2) as adapter:
        result = adapter.send(page())

    assert result.outcome is Outcome.TEMPORARY
    assert result.detail == "no answer from receiver within 0.2 s (ReadTimeout)"
    assert len(hook.requests) == 1  # it did arrive: why the idempotency key matters


def test_caller_client_is_used_and_left_open(hook: Receiver) -> None:
    with httpx.Client(follow_redirects=True) as client:
        adapter = WebhookAdapter(hook.url, SECRET, client=client)
        hook.reply(307, b"", {"Location": hook.url})
        assert adapter.send(page()).outcome is Outcome.PERMANENT  # still not followed
        adapter.close()
        assert not client.is_closed
        assert adapter.send(page()).outcome is Outcome.SENT


def test_is_an_adapter(adapter: WebhookAdapter) -> None:
    assert isinstance(adapter, Adapter)


@pytest.mark.parametrize(
    ("url", "secret", "timeout"),
    [
        pytest.param("ftp://hooks.example/x", SECRET, 5.0, id="scheme"),
        pytest.param("/relative/path", SECRET, 5.0, id="relative"),
        pytest.param("http://", SECRET, 5.0, id="no-host"),
        pytest.param("https://hooks.example/x", "", 5.0, id="empty-secret"),
        pytest.param("https://hooks.example/x", SECRET, 0.0, id="zero-timeout"),
        pytest.param("https://hooks.example/x", SECRET, float("nan"), id="nan-timeout"),
    ],
)
def test_bad_configuration_is_refused_at_construction(
    url: str, secret: str, timeout: float
) -> None:
    with pytest.raises(InvalidInput):
        WebhookAdapter(url, secret, timeout=timeout)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        pytest.param(299, Outcome.SENT, id="299"),
        pytest.param(301, Outcome.PERMANENT, id="301"),
        pytest.param(451, Outcome.PERMANENT, id="451"),
        pytest.param(599, Outcome.TEMPORARY, id="599"),
        pytest.param(600, Outcome.PERMANENT, id="600"),
    ],
)
def test_http_outcome_edges(status: int, outcome: Outcome) -> None:
    assert http_outcome(status) is outcome


NOW = datetime(2024, 6, 20, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        pytest.param(None, None, id="absent"),
        pytest.param("7", 7.0, id="seconds"),
        pytest.param(" 120 ", 120.0, id="spaces"),
        pytest.param("0", 0.0, id="zero"),
        pytest.param("-5", None, id="negative"),
        pytest.param("1.5", None, id="fraction"),
        pytest.param("\u0667", None, id="non-ascii-digit"),
        pytest.param("Thu, 20 Jun 2024 10:31:30 GMT", 90.0, id="imf-fixdate"),
        pytest.param("Thursday, 20-Jun-24 10:31:30 GMT", 90.0, id="rfc850-date"),
        pytest.param("Thu Jun 20 10:31:30 2024", 90.0, id="asctime-date"),
        pytest.param("Thu, 20 Jun 2024 10:00:00 GMT", 0.0, id="date-in-past"),
        pytest.param("tomorrow", None, id="garbage"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"idempotency_key": ""}, id="empty-key"),
        pytest.param({"idempotency_key": "has space"}, id="key-with-space"),
        pytest.param({"idempotency_key": "clé"}, id="key-non-ascii"),
        pytest.param({"idempotency_key": "k" * 256}, id="key-too-long"),
        pytest.param({"subject": "  "}, id="subject-blank"),
        pytest.param({"subject": "\r\n"}, id="subject-only-line-breaks"),
    ],
)
def test_message_refuses_values_no_transport_can_carry(changes: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        page(**changes)


def test_message_folds_line_breaks() -> None:
    message = page(
        subject="[SEV-1] INC-7 api: 502s\r\nBcc: everyone@example.com",
        items=("first\nsecond", " x \u2028 y "),
    )

    assert message.subject == "[SEV-1] INC-7 api: 502s Bcc: everyone@example.com"
    assert message.items == ("first second", "x y")
