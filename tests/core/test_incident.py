"""The incident status machine and the seed's timeline wording."""

from __future__ import annotations

import pytest

from tocsin.core.incident import (
    IncidentStatus as S,
)
from tocsin.core.incident import (
    PublicStatus,
    Role,
    Visibility,
    channel_name,
    default_public_status,
    parse_incident_ref,
    parse_role,
    parse_status,
    plan_transition,
    role_message,
    severity_message,
    status_message,
    update_message,
    valid_next,
)
from tocsin.errors import Conflict, InvalidInput


@pytest.mark.parametrize(
    ("source", "target", "skipped", "stamps"),
    [
        pytest.param(S.DETECTED, S.TRIAGING, (), ("acknowledged_at",), id="detected-triaging"),
        pytest.param(
            S.DETECTED,
            S.MITIGATING,
            (S.TRIAGING,),
            ("acknowledged_at", "mitigated_at"),
            id="jump-over-triage",
        ),
        pytest.param(
            S.DETECTED,
            S.RESOLVED,
            (S.TRIAGING, S.MITIGATING),
            ("acknowledged_at", "resolved_at"),
            id="jump-to-resolved",
        ),
        pytest.param(S.TRIAGING, S.MITIGATING, (), ("mitigated_at",), id="triaging-mitigating"),
        pytest.param(S.MITIGATING, S.RESOLVED, (), ("resolved_at",), id="mitigating-resolved"),
        pytest.param(S.RESOLVED, S.POSTMORTEM, (), (), id="resolved-postmortem"),
        pytest.param(S.RESOLVED, S.CLOSED, (S.POSTMORTEM,), ("closed_at",), id="skip-postmortem"),
        pytest.param(S.POSTMORTEM, S.CLOSED, (), ("closed_at",), id="postmortem-closed"),
    ],
)
def test_forward_moves_record_skipped_stages_and_stamp_milestones(
    source: S, target: S, skipped: tuple[S, ...], stamps: tuple[str, ...]
) -> None:
    move = plan_transition("INC-1", source, target)
    assert move.skipped == skipped
    assert move.stamps == stamps
    assert not move.reopen


def test_resolved_to_mitigating_reopens_and_clears_resolution() -> None:
    move = plan_transition("INC-1", S.RESOLVED, S.MITIGATING)
    assert move.reopen
    assert move.clears == ("resolved_at",)


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        pytest.param(S.CLOSED, S.MITIGATING, "INC-1 is closed and cannot be reopened", id="closed"),
        pytest.param(S.CLOSED, S.CLOSED, "INC-1 is already closed", id="same"),
        pytest.param(S.MITIGATING, S.TRIAGING, "cannot go back from mitigating", id="back"),
        pytest.param(S.POSTMORTEM, S.MITIGATING, "only a resolved incident", id="pm-reopen"),
        pytest.param(S.RESOLVED, S.DETECTED, "cannot go back from resolved", id="to-detected"),
    ],
)
def test_backward_moves_other_than_reopen_are_conflicts(source: S, target: S, message: str) -> None:
    with pytest.raises(Conflict, match=message):
        plan_transition("INC-1", source, target)


def test_valid_next_lists_reopen_first_for_resolved() -> None:
    assert valid_next(S.RESOLVED) == [S.MITIGATING, S.POSTMORTEM, S.CLOSED]
    assert valid_next(S.CLOSED) == []
    assert valid_next(S.DETECTED)[0] is S.TRIAGING


def test_unknown_status_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_status("fixed")
    assert str(caught.value) == (
        "unknown status 'fixed'; valid statuses: "
        "detected, triaging, mitigating, resolved, postmortem, closed"
    )
    assert parse_status(" Mitigating ") is S.MITIGATING


def test_unknown_role_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidInput, match="valid roles: commander, scribe, communications"):
        parse_role("hero")
    assert parse_role("IC".replace("IC", "commander")) is Role.COMMANDER


@pytest.mark.parametrize(
    ("text", "number"),
    [("INC-42", 42), ("inc-7", 7), ("INC7", 7), ("12", 12), (" INC-3 ", 3)],
)
def test_incident_references(text: str, number: int) -> None:
    assert parse_incident_ref(text) == number


@pytest.mark.parametrize("text", ["INC-", "INC-x", "42a", "", "PR-4"])
def test_bad_incident_references(text: str) -> None:
    with pytest.raises(InvalidInput, match="write it like INC-42"):
        parse_incident_ref(text)


def test_seed_wording() -> None:
    assert role_message(Role.COMMANDER, "Alice") == "IC assigned: Alice"
    assert role_message(Role.RESPONDER, "Bob", "Networking") == "Responder added: Bob (Networking)"
    assert role_message(Role.SCRIBE, "Dan") == "Scribe assigned: Dan"
    assert status_message(S.MITIGATING, "Rolling back") == "[MITIGATING] Rolling back"
    assert status_message(S.TRIAGING, None) == "[TRIAGING]"
    assert (
        severity_message("SEV-3", "SEV-1", True, "all regions down")
        == "Severity upgraded from SEV-3 to SEV-1: all regions down"
    )
    assert (
        update_message(Visibility.PUBLIC, PublicStatus.IDENTIFIED, "Rolling back")
        == "Public update (identified): Rolling back"
    )
    assert update_message(Visibility.INTERNAL, None, "db at 90%") == "Internal update: db at 90%"


def test_channel_is_named_after_the_primary_service() -> None:
    assert channel_name(4, ["api-gateway", "database"]) == "#incident-api-gateway"
    assert channel_name(4, []) == "#incident-inc-4"


@pytest.mark.parametrize(
    ("status", "public"),
    [
        (S.DETECTED, PublicStatus.INVESTIGATING),
        (S.TRIAGING, PublicStatus.INVESTIGATING),
        (S.MITIGATING, PublicStatus.IDENTIFIED),
        (S.RESOLVED, PublicStatus.RESOLVED),
    ],
)
def test_default_public_status_follows_the_incident(status: S, public: PublicStatus) -> None:
    assert default_public_status(status) is public
