"""Teams cards through a Workflows webhook, checked against the Adaptive Card schema."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from tests.fakes.teams import FakeTeams, card_problems, fake_teams
from tocsin.notify import Message, Outcome
from tocsin.notify.teams import TeamsAdapter, card

PAGE = Message(
    idempotency_key="k-1",
    subject="[SEV-1] INC-12 checkout: Checkout is returning 502 for every request",
    text="Paging you: db-oncall level 1.",
    severity="SEV-1",
    incident="INC-12",
    service="checkout",
    url="https://tocsin.example/incidents/INC-12",
    ack_url="https://tocsin.example/ack/abc",
    runbook_url="https://tocsin.example/services/checkout#high-latency",
    items=("INC-13 [SEV-2] queue depth high",),
)


@pytest.fixture
def teams() -> Iterator[FakeTeams]:
    with fake_teams() as fake:
        yield fake


def test_a_page_arrives_as_a_card_with_its_buttons(teams: FakeTeams) -> None:
    with TeamsAdapter(teams.url) as adapter:
        result = adapter.send(PAGE)
    assert result.outcome is Outcome.SENT, result.detail
    [sent] = teams.cards
    assert sent["body"][0]["color"] == "Attention"
    assert sent["body"][1]["facts"] == [
        {"title": "Severity", "value": "SEV-1"},
        {"title": "Incident", "value": "INC-12"},
        {"title": "Service", "value": "checkout"},
    ]
    assert [(a["title"], a["url"]) for a in sent["actions"]] == [
        ("Acknowledge", "https://tocsin.example/ack/abc"),
        ("Open incident", "https://tocsin.example/incidents/INC-12"),
        ("Runbook", "https://tocsin.example/services/checkout#high-latency"),
    ]


@pytest.mark.parametrize(
    ("severity", "colour"),
    [("SEV-1", "Attention"), ("SEV-2", "Warning"), ("SEV-3", "Accent"), ("custom", "Default")],
)
def test_every_card_is_valid_and_coloured_by_severity(severity: str, colour: str) -> None:
    bare = Message("k", "Resolved: INC-3", "", severity)
    for message in (PAGE, bare):
        found = card(dataclasses.replace(message, severity=severity))
        assert card_problems(found) == []
        assert found["body"][0]["color"] == colour


def test_refusals_are_classified(teams: FakeTeams) -> None:
    teams.status = 503
    assert TeamsAdapter(teams.url).send(PAGE).outcome is Outcome.TEMPORARY
    teams.status = 202
    assert TeamsAdapter("http://127.0.0.1:9/flow", timeout=2).send(PAGE).outcome is (
        Outcome.TEMPORARY
    )
    # the fake refuses what Teams would: a card the schema does not allow
    assert card_problems({"type": "AdaptiveCard", "version": "1.5", "body": "no"}) != []
