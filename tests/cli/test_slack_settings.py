"""Incident-channel settings a deployment got wrong are named in one line, before anything
runs."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Cli


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("TOCSIN_SLACK_CHANNEL_PREFIX", "Incident Room", "cannot start a Slack channel name"),
        ("TOCSIN_SLACK_ARCHIVE_AFTER", "soon", "'soon' is not a duration"),
    ],
)
def test_a_bad_channel_setting_is_one_line_and_exit_2(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, name: str, value: str, said: str
) -> None:
    monkeypatch.setenv("TOCSIN_SLACK_BOT_TOKEN", "xoxb-1-2-settings")
    monkeypatch.setenv(name, value)
    result = cli("incident", "list")
    assert result.code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {name}") and said in line, line
    # Without the Slack app the same values are not used, and nothing is refused.
    monkeypatch.delenv("TOCSIN_SLACK_BOT_TOKEN")
    assert cli("incident", "list").code == 0


def test_a_bad_sqlite_synchronous_setting_is_one_line_and_exit_2(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOCSIN_SQLITE_SYNCHRONOUS", "off")
    result = cli("incident", "list")
    assert result.code == 2
    [line] = result.stderr.strip().splitlines()
    assert line == "error: TOCSIN_SQLITE_SYNCHRONOUS 'off' is not one of: normal, full", line
    monkeypatch.setenv("TOCSIN_SQLITE_SYNCHRONOUS", "FULL")
    assert cli("incident", "list").code == 0
