"""`tocsin maintenance announce|public|cancel-public`: public maintenance from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Cli

CONFIG = """\
users:
  - {handle: alice, name: Alice}
components:
  - {slug: data, name: Data storage}
  - {slug: website, name: Website}
services:
  - {slug: database, component: data}
  - {slug: replica, component: data}
"""


@pytest.fixture
def configured(cli: Cli, tmp_path: Path) -> Cli:
    config = tmp_path / "tocsin.yaml"
    config.write_text(CONFIG)
    cli.ok("apply", "-f", str(config))
    return cli


def test_announce_list_and_cancel(configured: Cli) -> None:
    cli = configured
    assert cli.ok("maintenance", "public", "--all").stdout == "No public maintenance.\n"
    # Times without an offset are UTC, as for `maintenance add`; the end may be a duration.
    made = cli.ok(
        "maintenance", "announce", "--title", "Storage upgrade", "--component", "data",
        "--from", "2024-06-21T22:00", "--to", "90m", "--message", "Saving pauses.", "--json",
    ).json()  # fmt: skip
    assert made["start"] == "2024-06-21T22:00:00Z"
    assert made["end"] == "2024-06-21T23:30:00Z"
    assert made["stage"] == "scheduled"
    assert made["silenced"] == ["database", "replica"]
    # Its silencing windows are maintenance windows like any other.
    windows = cli.ok("maintenance", "list", "--json").json()
    assert [(w["service"], w["reason"]) for w in windows] == [
        ("database", f"Public maintenance {made['id']}: Storage upgrade"),
        ("replica", f"Public maintenance {made['id']}: Storage upgrade"),
    ]
    kept = cli.ok(
        "maintenance", "announce", "--title", "Website move", "--component", "website",
        "--from", "2024-06-22T08:00+02:00", "--to", "2024-06-22T09:00+02:00", "--keep-paging",
    )  # fmt: skip
    assert kept.stderr.startswith("Public maintenance 2 (scheduled): 2024-06-22 06:00:00 UTC")
    listed = cli.ok("maintenance", "public").stdout
    assert "Storage upgrade" in listed and "Website move" in listed
    assert "database, replica" in listed

    cli.ok("maintenance", "cancel-public", str(made["id"]))
    assert [m["title"] for m in cli.ok("maintenance", "public", "--json").json()] == [
        "Website move"
    ]
    every = cli.ok("maintenance", "public", "--all", "--json").json()
    assert [(m["title"], m["stage"]) for m in every] == [
        ("Storage upgrade", "cancelled"),
        ("Website move", "scheduled"),
    ]
    assert cli.ok("maintenance", "list", "--json").json() == []
    again = cli("maintenance", "cancel-public", str(made["id"]))
    assert again.code == 4
    assert again.stderr == f"error: public maintenance {made['id']} is already cancelled\n"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        pytest.param(
            ["--title", " ", "--component", "payments", "--to", "2h"],
            "error: title: say in a line what the maintenance is\n"
            "error: components: unknown 'payments'; known: data, website\n",
            id="every-problem-at-once",
        ),
        pytest.param(
            ["--title", "T", "--component", "data", "--from", "2024-06-20T09:00Z", "--to", "30m"],
            "error: end: already past; the maintenance would be over before it is announced\n",
            id="already-over",
        ),
        pytest.param(
            ["--title", "T", "--component", "data", "--to", "tomorrow"],
            "error: 'tomorrow' is not a time; write it like 2024-06-20T10:30Z, "
            "2024-06-20T10:30+02:00 or '10m ago'\n",
            id="not-a-time",
        ),
        pytest.param(
            ["--title", "x" * 201, "--component", "data", "--to", "1h"],
            "error: title: 201 characters, at most 200\n",
            id="title-too-long",
        ),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    configured: Cli, args: list[str], error: str
) -> None:
    result = configured("maintenance", "announce", *args)
    assert result.code == 2
    assert result.stderr == error
    assert configured.ok("maintenance", "public", "--all", "--json").json() == []
    assert configured.ok("maintenance", "list", "--all", "--json").json() == []


def test_missing_the_end_is_a_usage_error(configured: Cli) -> None:
    result = configured("maintenance", "announce", "--title", "T", "--component", "data")
    assert result.code == 2
    assert "Missing option '--to'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
