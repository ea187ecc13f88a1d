"""The Slack adapter against a local receiver answering like Slack's incoming webhooks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.notify.conftest import Receiver, Reply, page
from tocsin.errors import InvalidInput
from tocsin.notify import Message, Outcome
from tocsin.notify.slack import (
    BUTTON_URL_LIMIT,
    FIELD_LIMIT,
    HEADER_LIMIT,
    SECTION_LIMIT,
    SlackAdapter,
    clip,
    payload,
)


@pytest.fixture
def slack(receiver: Receiver) -> Receiver:
    receiver.default = Reply(200, b"ok")  # what Slack answers on success
    return receiver


@pytest.fixture
def adapter(slack: Receiver) -> Iterator[SlackAdapter]:
    with SlackAdapter(slack.url, timeout=2.0) as adapter:
        yield adapter


def posted(receiver: Receiver, index: int = 0) -> dict[str, Any]:
    request = receiver.requests[index]
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    document: dict[str, Any] = json.loads(request.body)
    return document


def blocks_of(document: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [block for block in document["blocks"] if block["type"] == kind]


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_block_kit_shape(slack: Receiver, adapter: SlackAdapter) -> None:
    result = adapter.send(page())

    assert (result.outcome, result.detail) == (Outcome.SENT, "HTTP 200 from Slack: ok")
    document = posted(slack)
    assert document["text"] == "[SEV-1] INC-7 api-gateway: All requests returning 502"
    assert document["unfurl_links"] is False and document["unfurl_media"] is False
    assert [block["type"] for block in document["blocks"]] == [
        "header",
        "section",
        "section",
        "actions",
    ]
    header, facts, summary, actions = document["blocks"]
    assert header["text"] == {
        "type": "plain_text",
        "text": "[SEV-1] INC-7 api-gateway: All requests returning 502",
        "emoji": True,
    }
    assert [field["text"] for field in facts["fields"]] == [
        "*Severity*\nSEV-1",
        "*Incident*\nINC-7",
        "*Service*\napi-gateway",
    ]
    assert all(field["type"] == "mrkdwn" for field in facts["fields"])
    assert summary["text"]["type"] == "plain_text"
    assert summary["text"]["text"].startswith("Severity: SEV-1\nService: api-gateway\n")
    buttons = actions["elements"]
    assert [(b["type"], b["action_id"], b["text"]["text"], b["url"]) for b in buttons] == [
        ("button", "open_incident", "Open INC-7", "https://tocsin.example/incidents/INC-7"),
        ("button", "acknowledge", "Acknowledge", "https://tocsin.example/ack/abc?sig=xyz"),
        ("button", "runbook", "Runbook", "https://runbooks.example/api-gateway"),
    ]
    assert buttons[1]["style"] == "primary"
    assert document == payload(page())


def test_bundled_items_are_a_list(slack: Receiver, adapter: SlackAdapter) -> None:
    items = ("INC-7 api-gateway: 502s", "INC-8 billing: queue backlog", "INC-9 search: slow")

    assert adapter.send(page(items=items)).outcome is Outcome.SENT

    sections = blocks_of(posted(slack), "section")
    assert sections[-1]["text"] == {
        "type": "plain_text",
        "text": "• INC-7 api-gateway: 502s\n• INC-8 billing: queue backlog\n• INC-9 search: slow",
        "emoji": True,
    }


def test_many_items_stay_within_one_section() -> None:
    items = tuple(f"INC-{n} service-{n}: " + "x" * 80 for n in range(200))

    text = blocks_of(payload(page(items=items)), "section")[-1]["text"]["text"]

    assert utf16_len(text) <= SECTION_LIMIT
    lines = text.split("\n")
    shown = len(lines) - 1
    assert lines[-1] == f"… and {200 - shown} more"
    assert all(line.startswith("• INC-") for line in lines[:-1])


def test_long_texts_are_clipped_with_an_ellipsis(slack: Receiver, adapter: SlackAdapter) -> None:
    message = page(
        subject="[SEV-2] INC-12 " + "checkout " * 40,
        text="Customers cannot pay. " * 500,
        service="a & b <team>" * 300,
    )

    assert adapter.send(message).outcome is Outcome.SENT

    document = posted(slack)
    header = blocks_of(document, "header")[0]["text"]["text"]
    assert utf16_len(header) <= HEADER_LIMIT and header.endswith("…")
    summary = blocks_of(document, "section")[1]["text"]["text"]
    assert utf16_len(summary) <= SECTION_LIMIT and summary.endswith("…")
    service = blocks_of(document, "section")[0]["fields"][2]["text"]
    assert utf16_len(service) <= FIELD_LIMIT and service.endswith("…")
    assert service.startswith("*Service*\na &amp; b &lt;team&gt;")
    # No half-escaped entity before the ellipsis.
    tail = service[:-1]
    assert "&" not in tail[tail.rfind(";") + 1 :]


def test_mrkdwn_fallback_is_escaped() -> None:
    message = page(subject="[SEV-2] <!channel> R&D build broken", incident=None, service=None)

    document = payload(message)

    assert document["text"] == "[SEV-2] &lt;!channel&gt; R&amp;D build broken"
    # plain_text is shown literally, so the header needs (and gets) no escaping.
    assert document["blocks"][0]["text"]["text"] == "[SEV-2] <!channel> R&D build broken"
    assert [f["text"] for f in document["blocks"][1]["fields"]] == ["*Severity*\nSEV-1"]


def test_minimal_message_has_no_empty_blocks() -> None:
    document = payload(Message("k", "[SEV-4] disk 80%", "", ""))

    assert [block["type"] for block in document["blocks"]] == ["header"]


def test_over_long_url_drops_only_its_button() -> None:
    message = page(runbook_url="https://runbooks.example/" + "r" * BUTTON_URL_LIMIT)

    [actions] = blocks_of(payload(message), "actions")

    assert [b["action_id"] for b in actions["elements"]] == ["open_incident", "acknowledge"]


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        pytest.param("short", 10, "short", id="fits"),
        pytest.param("exactly 10", 10, "exactly 10", id="exact"),
        pytest.param("one two three", 8, "one two…", id="cut"),
        pytest.param("🔥🔥🔥🔥", 6, "🔥🔥…", id="astral-counts-two"),
    ],
)
def test_clip(text: str, limit: int, expected: str) -> None:
    assert clip(text, limit) == expected
    assert utf16_len(clip(text, limit)) <= limit


@pytest.mark.parametrize(
    ("status", "body", "headers", "outcome", "retry_after"),
    [
        pytest.param(200, b"ok", {}, Outcome.SENT, None, id="200-ok"),
        pytest.param(400, b"invalid_payload", {}, Outcome.PERMANENT, None, id="invalid_payload"),
        pytest.param(400, b"invalid_blocks", {}, Outcome.PERMANENT, None, id="invalid_blocks"),
        pytest.param(403, b"action_prohibited", {}, Outcome.PERMANENT, None, id="prohibited"),
        pytest.param(404, b"no_service", {}, Outcome.PERMANENT, None, id="no_service"),
        pytest.param(404, b"no_team", {}, Outcome.PERMANENT, None, id="no_team"),
        pytest.param(410, b"channel_is_archived", {}, Outcome.PERMANENT, None, id="archived"),
        pytest.param(
            429, b"rate_limited", {"Retry-After": "3"}, Outcome.TEMPORARY, 3.0, id="rate_limited"
        ),
        pytest.param(500, b"rollup_error", {}, Outcome.TEMPORARY, None, id="500"),
        pytest.param(503, b"", {}, Outcome.TEMPORARY, None, id="503"),
    ],
)
def test_slack_answers(
    slack: Receiver,
    adapter: SlackAdapter,
    status: int,
    body: bytes,
    headers: dict[str, str],
    outcome: Outcome,
    retry_after: float | None,
) -> None:
    slack.reply(status, body, headers)

    result = adapter.send(page())

    assert (result.outcome, result.retry_after) == (outcome, retry_after)
    expected = f"HTTP {status} from Slack" + (f": {body.decode()}" if body else "")
    assert result.detail == expected


def test_connection_refused_is_temporary(dead_url: str) -> None:
    with SlackAdapter(dead_url, timeout=2.0) as adapter:
        result = adapter.send(page())

    assert result.outcome is Outcome.TEMPORARY
    assert result.detail.startswith("cannot connect to Slack:")


def test_timeout_is_temporary(slack: Receiver) -> None:
    slack.reply(200, b"ok", delay=1.0)

    with SlackAdapter(slack.url, timeout=0.2) as adapter:
        result = adapter.send(page())

    assert result.outcome is Outcome.TEMPORARY
    assert result.detail == "no answer from Slack within 0.2 s (ReadTimeout)"


def test_bad_url_is_refused_at_construction() -> None:
    with pytest.raises(InvalidInput):
        SlackAdapter("hooks.slack.com/services/T/B/X")
