"""The rules of an incident's chat channel: its name, its topic, and what is posted there."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tocsin.core import chatops


def test_the_channel_is_named_after_the_incident() -> None:
    assert chatops.channel_name("inc", 42, "API 502s") == "inc-42-api-502s"
    assert chatops.channel_name("inc", 7, "Checkout: 5xx > 2%!") == "inc-7-checkout-5xx-2"
    assert chatops.channel_name("ir", 3, "Zahlungen schlagen fehl (EU)") == (
        "ir-3-zahlungen-schlagen-fehl-eu"
    )
    assert chatops.channel_name("inc", 9, "!!!") == "inc-9"  # nothing of the title is usable
    long = chatops.channel_name("inc", 12345, "database " * 20)
    assert len(long) == 80
    assert long.startswith("inc-12345-database-database")
    assert not long.endswith("-")


@given(st.text(max_size=300), st.integers(min_value=1, max_value=10**9))
def test_every_title_makes_a_name_slack_accepts(title: str, number: int) -> None:
    name = chatops.channel_name("inc", number, title)
    assert 1 <= len(name) <= chatops.MAX_NAME
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-_")
    assert name.startswith(f"inc-{number}")


def test_prefixes_slack_can_start_a_name_with() -> None:
    assert chatops.valid_prefix("inc")
    assert chatops.valid_prefix("sev_room")
    for bad in ("", "Inc", "inc room", "-inc", "x" * 21, "inc.room"):
        assert not chatops.valid_prefix(bad), bad


def test_the_topic_says_severity_status_and_commander() -> None:
    assert chatops.topic("SEV-1", "mitigating", "bob") == "SEV-1 | Mitigating | IC @bob"
    assert chatops.topic("SEV-2", "detected", None) == "SEV-2 | Detected | no IC yet"
    assert len(chatops.topic("SEV-1", "triaging", "x" * 400)) == chatops.MAX_TOPIC


def test_what_is_posted_and_what_stays_in_tocsin() -> None:
    assert chatops.post_text("status_changed", "bob", "[MITIGATING] rolled back") == (
        ":arrows_counterclockwise: [MITIGATING] rolled back (by bob)"
    )
    assert chatops.post_text("acknowledged", "tocsin", "Acknowledged") == (
        ":white_check_mark: Acknowledged"
    )
    for quiet in ("notified", "note", "alert_attached", "escalation", "reminder", "nonsense"):
        assert chatops.post_text(quiet, "bob", "words") is None, quiet


def test_only_leaving_the_open_statuses_resolves() -> None:
    assert chatops.resolves("status_changed", "mitigating", "resolved")
    assert chatops.resolves("status_changed", "triaging", "closed")
    assert not chatops.resolves("status_changed", "resolved", "closed")  # said already
    assert not chatops.resolves("status_changed", "detected", "mitigating")
    assert not chatops.resolves("severity_changed", "mitigating", "resolved")
    assert not chatops.resolves("status_changed", None, "resolved")
    rules = chatops.ChannelRules(severities=("SEV-1",))
    assert rules.wants("SEV-1")
    assert not rules.wants("SEV-2")
