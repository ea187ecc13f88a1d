"""The seed's severity table, ordered, looked up forgivingly, configurable."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tocsin.core.severity import DEFAULT_SEVERITIES, Severity, SeverityScale
from tocsin.errors import InvalidInput


def test_the_seed_table() -> None:
    rows = [(s.name, s.definition, s.response_time_label, s.example) for s in DEFAULT_SEVERITIES]
    assert rows == [
        ("SEV-1", "Complete outage, all users affected", "5 min", "Database primary down"),
        ("SEV-2", "Major feature degraded, partial outage", "15 min", "API latency > 5s"),
        ("SEV-3", "Minor issue, workaround available", "1 hour", "UI display bug"),
        ("SEV-4", "Cosmetic, no user impact", "Next business day", "Documentation error"),
    ]
    assert DEFAULT_SEVERITIES[0].update_cadence == timedelta(minutes=15)


@pytest.mark.parametrize("name", ["SEV-1", "sev-1", "SEV1", "sev_1", "1", " Sev-1 "])
def test_lookup_is_forgiving(name: str) -> None:
    assert SeverityScale().get(name).name == "SEV-1"


def test_unknown_severity_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidInput) as caught:
        SeverityScale().get("SEV-5")
    assert (
        str(caught.value)
        == "unknown severity 'SEV-5'; valid severities: SEV-1, SEV-2, SEV-3, SEV-4"
    )


def test_sev1_is_the_highest() -> None:
    scale = SeverityScale()
    assert scale.compare("SEV-1", "SEV-2") < 0
    assert scale.compare("SEV-4", "SEV-3") > 0
    assert scale.names == ["SEV-1", "SEV-2", "SEV-3", "SEV-4"]


def test_a_custom_scale_is_ordered_by_rank() -> None:
    scale = SeverityScale(
        (
            Severity("P2", 2, "Degraded", timedelta(minutes=30)),
            Severity("P1", 1, "Down", timedelta(minutes=5)),
        )
    )
    assert scale.names == ["P1", "P2"]


def test_a_broken_scale_reports_every_problem() -> None:
    with pytest.raises(InvalidInput) as caught:
        SeverityScale(
            (
                Severity("SEV-1", 1, "a", None),
                Severity("sev1", 1, "b", None),
                Severity("bad name!", 0, "c", None),
            )
        )
    assert len(caught.value.problems) == 4


def test_per_service_definitions_replace_text_only() -> None:
    scale = SeverityScale().with_definitions({"SEV-1": {"definition": "Primary down"}})
    assert scale.get("SEV-1").definition == "Primary down"
    assert scale.get("SEV-1").response_time == timedelta(minutes=5)
    assert scale.get("SEV-2").definition == "Major feature degraded, partial outage"
