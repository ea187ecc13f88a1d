"""`tocsin schedule|oncall|override`, from a YAML file and from the database alike."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.cli.conftest import Cli

ROOT = Path(__file__).resolve().parents[2]
FOLLOW_THE_SUN = ROOT / "examples" / "follow-the-sun" / "tocsin.yaml"

PRIMARY = """\
users:
  - {handle: alice, name: Alice, email: alice@example.com, time_zone: America/New_York}
  - {handle: bob, name: Bob}
  - {handle: carol, name: Carol}
schedules:
  - name: primary
    time_zone: America/Chicago
    layers:
      - name: base
        rotation: 1 day
        start: 2020-03-06T02:30
        participants: [alice, bob]
        restrictions:
          - {days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00"}
    overrides:
      - {user: carol, from: 2020-03-08T08:30, to: 2020-03-08T08:45}
"""

# Worked out by hand: Chicago is UTC-6 until 2020-03-08 02:00, UTC-5 after; the handoff at
# 02:30 on the 8th does not exist (03:00 CDT); Sat and Sun are outside the restriction.
PRIMARY_FINAL = [
    {"start": "2020-03-06T06:00:00Z", "end": "2020-03-06T15:00:00Z", "users": []},
    {"start": "2020-03-06T15:00:00Z", "end": "2020-03-06T23:00:00Z", "users": ["alice"]},
    {"start": "2020-03-06T23:00:00Z", "end": "2020-03-08T13:30:00Z", "users": []},
    {"start": "2020-03-08T13:30:00Z", "end": "2020-03-08T13:45:00Z", "users": ["carol"]},
    {"start": "2020-03-08T13:45:00Z", "end": "2020-03-09T14:00:00Z", "users": []},
    {"start": "2020-03-09T14:00:00Z", "end": "2020-03-09T22:00:00Z", "users": ["bob"]},
    {"start": "2020-03-09T22:00:00Z", "end": "2020-03-10T05:00:00Z", "users": []},
]


@pytest.fixture
def primary(tmp_path: Path) -> Path:
    path = tmp_path / "tocsin.yaml"
    path.write_text(PRIMARY)
    return path


def test_final_schedule_from_the_file_needs_no_database(tmp_path: Path, primary: Path) -> None:
    from tests.conftest import T0
    from tocsin.clock import FixedClock

    cli = Cli(f"sqlite:///{tmp_path / 'never-created.db'}", FixedClock(T0))
    result = cli.ok(
        "schedule",
        "show",
        "primary",
        "-c",
        str(primary),
        "--from",
        "2020-03-06T00:00",
        "--to",
        "2020-03-10T00:00",
        "--json",
    )
    assert result.json() == PRIMARY_FINAL
    assert not (tmp_path / "never-created.db").exists()


def test_times_with_an_offset_are_absolute(cli: Cli, primary: Path) -> None:
    result = cli.ok(
        "schedule",
        "show",
        "primary",
        "-c",
        str(primary),
        "--from",
        "2020-03-06T06:00Z",
        "--to",
        "2020-03-10T05:00:00+00:00",
        "--json",
    )
    assert result.json() == PRIMARY_FINAL


def test_the_same_schedule_from_the_database(cli: Cli, primary: Path) -> None:
    assert "create schedule primary" in cli.ok("apply", "-f", str(primary)).stdout
    result = cli.ok(
        "schedule",
        "show",
        "primary",
        "--from",
        "2020-03-06T00:00",
        "--to",
        "2020-03-10T00:00",
        "--json",
    )
    assert result.json() == PRIMARY_FINAL
    assert cli.ok("apply", "-f", str(primary)).stdout == ""  # idempotent


@pytest.mark.parametrize(
    ("at", "users"),
    [
        ("2020-03-06T09:00", ["alice"]),  # local Friday 09:00 CST, inclusive start
        ("2020-03-06T17:00", []),  # end is exclusive
        ("2020-03-08T08:30", ["carol"]),  # the override, on a Sunday
        ("2020-03-08T13:44:59Z", ["carol"]),
        ("2020-03-08T13:45Z", []),
        ("2020-03-09T09:00", ["bob"]),
    ],
)
def test_oncall_at_an_instant(cli: Cli, primary: Path, at: str, users: list[str]) -> None:
    answer = cli.ok("oncall", "--schedule", "primary", "--at", at, "-c", str(primary), "--json")
    assert answer.json()["users"] == users
    assert answer.json()["schedule"] == "primary"


def test_oncall_without_a_schedule_lists_every_schedule(cli: Cli, primary: Path) -> None:
    text = PRIMARY + FOLLOW_THE_SUN.read_text().split("schedules:\n", 1)[1]
    text = text.replace("users:\n", "users:\n" + _sun_users(), 1)
    both = primary.with_name("both.yaml")
    both.write_text(text)
    answer = cli.ok("oncall", "--at", "2021-03-15T13:30:00Z", "-c", str(both), "--json").json()
    assert answer == [
        {"schedule": "follow-the-sun", "at": "2021-03-15T13:30:00Z", "users": ["ana"]},
        {"schedule": "primary", "at": "2021-03-15T13:30:00Z", "users": []},
    ]


def _sun_users() -> str:
    lines = FOLLOW_THE_SUN.read_text().split("users:\n", 1)[1].split("\n\n", 1)[0]
    return lines + "\n"


def test_follow_the_sun_example_has_the_gap_and_it_moves_with_us_dst(cli: Cli) -> None:
    shown = cli.ok(
        "schedule",
        "show",
        "follow-the-sun",
        "-c",
        str(FOLLOW_THE_SUN),
        "--from",
        "2021-03-12T00:00Z",
        "--to",
        "2021-03-16T00:00Z",
        "--json",
    ).json()
    # Friday 12 March: everyone on standard time. Tokyo 00-08Z, Berlin 08-16Z, New York 14-22Z
    # (the later-listed US layer wins the 14-16Z overlap), nobody 22-24Z. Weekly rotations from
    # Monday 4 January: the week of the 8th is week 9, the second participant's.
    assert shown[:4] == [
        {"start": "2021-03-12T00:00:00Z", "end": "2021-03-12T08:00:00Z", "users": ["kenji"]},
        {"start": "2021-03-12T08:00:00Z", "end": "2021-03-12T14:00:00Z", "users": ["dirk"]},
        {"start": "2021-03-12T14:00:00Z", "end": "2021-03-12T22:00:00Z", "users": ["ben"]},
        {"start": "2021-03-12T22:00:00Z", "end": "2021-03-13T00:00:00Z", "users": []},
    ]
    # Monday 15 March: New York is on EDT (since the 14th), Berlin not yet (the 28th):
    # New York covers 13-21Z and the gap grows to 21-24Z.
    assert shown[-4:] == [
        {"start": "2021-03-15T00:00:00Z", "end": "2021-03-15T08:00:00Z", "users": ["emi"]},
        {"start": "2021-03-15T08:00:00Z", "end": "2021-03-15T13:00:00Z", "users": ["clara"]},
        {"start": "2021-03-15T13:00:00Z", "end": "2021-03-15T21:00:00Z", "users": ["ana"]},
        {"start": "2021-03-15T21:00:00Z", "end": "2021-03-16T00:00:00Z", "users": []},
    ]


def test_schedule_check_reports_the_follow_the_sun_gaps(cli: Cli) -> None:
    cli.clock.set(datetime(2021, 3, 8, 0, 0, tzinfo=UTC))
    result = cli("schedule", "check", "-c", str(FOLLOW_THE_SUN), "--days", "14")
    assert result.code == 1
    assert "follow-the-sun: 14 uncovered window(s) in the next 14 days, 36h00 in all" in (
        result.stdout.replace("\n", " ")
    )
    # before the US change (Mon 8 .. Sat 13, and Sun 14 until 07:00Z): 22:00-24:00 UTC
    assert "Mon 2021-03-08 22:00 UTC" in result.stdout
    # after it: 21:00-24:00 UTC
    assert "Mon 2021-03-15 21:00 UTC" in result.stdout


def test_schedule_check_passes_a_covered_schedule_and_names_losing_layers(
    cli: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "covered.yaml"
    path.write_text(
        "schedules:\n"
        "  - name: always\n"
        "    time_zone: UTC\n"
        "    layers:\n"
        "      - {name: hidden, rotation: 1 week, start: 2020-01-01T00:00, participants: [a]}\n"
        "      - {name: base, rotation: 1 week, start: 2020-01-01T00:00, participants: [b, c]}\n"
    )
    result = cli("schedule", "check", "-c", str(path))
    assert result.code == 0, result.stderr
    assert "always: covered around the clock for the next 90 days" in result.stdout
    assert "warning: always: layer 'hidden' never wins" in result.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            ("participants: [alice, bob]", "participants: [alice, zed]"),
            "schedules[0].layers[0].participants[1]: schedule 'primary': unknown user 'zed'",
            id="unknown-user",
        ),
        pytest.param(
            ("time_zone: America/Chicago", "time_zone: America/Chicgo"),
            "schedules[0].time_zone: schedule 'primary': unknown time zone 'America/Chicgo'",
            id="unknown-zone",
        ),
        pytest.param(
            ("rotation: 1 day", "rotation: 3 fortnights"),
            "schedules[0].layers[0].rotation: schedule 'primary': rotation '3 fortnights' has an "
            "unknown unit 'fortnights'",
            id="fortnights",
        ),
        pytest.param(
            ('to: "17:00"', 'to: "25:00"'),
            "schedules[0].layers[0].restrictions[0]: schedule 'primary': restriction to time "
            "'25:00' is not valid",
            id="25-oclock",
        ),
        pytest.param(
            ("to: 2020-03-08T08:45", "to: 2020-03-08T08:15"),
            "schedules[0].overrides[0].to: schedule 'primary': override for 'carol' ends at "
            "'2020-03-08T08:15', not after '2020-03-08T08:30'",
            id="override-backwards",
        ),
        pytest.param(
            ("participants: [alice, bob]", "participants: []"),
            "schedules[0].layers[0].participants: schedule 'primary': layer 'base' has no "
            "participants",
            id="no-participants",
        ),
    ],
)
def test_bad_schedules_name_file_line_schedule_and_value(
    cli: Cli, primary: Path, change: tuple[str, str], message: str
) -> None:
    primary.write_text(PRIMARY.replace(*change))
    for args in (
        ["schedule", "show", "primary", "-c", str(primary)],
        ["oncall", "-c", str(primary)],
        ["schedule", "check", "-c", str(primary)],
        ["apply", "-f", str(primary)],
    ):
        result = cli(*args)
        assert result.code == 2, (args, result.stderr)
        assert result.stderr.startswith(f"error: {primary}:")
        assert message in result.stderr
        assert "Traceback" not in result.stderr
    assert cli.ok("user", "list", "--json").json() == []  # apply changed nothing


def test_overrides_from_the_cli_are_stored_and_win(cli: Cli, primary: Path) -> None:
    cli.ok("apply", "-f", str(primary))
    added = cli.ok(
        "override",
        "add",
        "primary",
        "--user",
        "bob",
        "--from",
        "2020-03-07T10:00",
        "--to",
        "2020-03-07T12:00",
        "--note",
        "swap",
        "--json",
    ).json()
    assert (added["start"], added["end"], added["source"]) == (
        "2020-03-07T16:00:00Z",
        "2020-03-07T18:00:00Z",
        "manual",
    )
    oncall = cli.ok("oncall", "--schedule", "primary", "--at", "2020-03-07T11:00", "--json")
    assert oncall.json()["users"] == ["bob"]
    listed = cli.ok("override", "list", "primary", "--all", "--json").json()
    assert [(o["user"], o["source"]) for o in listed] == [("bob", "manual"), ("carol", "config")]
    shown = cli.ok(
        "schedule", "show", "primary", "--from", "2020-03-07T00:00", "--to", "2020-03-08T00:00"
    )
    assert "bob (override)" in shown.stdout
    # applying the file again keeps the override people added
    cli.ok("apply", "-f", str(primary))
    assert len(cli.ok("override", "list", "primary", "--all", "--json").json()) == 2
    config_id = next(o["id"] for o in listed if o["source"] == "config")
    refused = cli("override", "remove", "primary", str(config_id))
    assert refused.code == 4
    assert "comes from the config file" in refused.stderr
    cli.ok("override", "remove", "primary", str(added["id"]))
    oncall = cli.ok("oncall", "--schedule", "primary", "--at", "2020-03-07T11:00", "--json")
    assert oncall.json()["users"] == []


def test_override_bad_input(cli: Cli, primary: Path) -> None:
    cli.ok("apply", "-f", str(primary))
    backwards = cli(
        "override",
        "add",
        "primary",
        "--user",
        "bob",
        "--from",
        "2020-03-07T12:00",
        "--to",
        "2020-03-07T10:00",
    )
    assert backwards.code == 2
    assert "error: schedule 'primary': override for 'bob' ends at" in backwards.stderr
    assert cli(
        "override",
        "add",
        "nope",
        "--user",
        "bob",
        "--from",
        "2020-03-07T12:00",
        "--to",
        "2020-03-07T13:00",
    ).stderr == ("error: unknown schedule 'nope' (schedules: primary)\n")
    assert (
        cli(
            "override",
            "add",
            "primary",
            "--user",
            "zed",
            "--from",
            "2020-03-07T12:00",
            "--to",
            "2020-03-07T13:00",
        ).stderr
        == "error: unknown user 'zed'\n"
    )
    assert (
        "is not valid: expected ISO-8601"
        in cli(
            "override",
            "add",
            "primary",
            "--user",
            "bob",
            "--from",
            "noon",
            "--to",
            "2020-03-07T13:00",
        ).stderr
    )


def test_human_output_shows_local_times_and_day_bars(cli: Cli, primary: Path) -> None:
    shown = cli.ok(
        "schedule",
        "show",
        "primary",
        "-c",
        str(primary),
        "--from",
        "2020-03-06T00:00",
        "--to",
        "2020-03-10T00:00",
    ).stdout
    assert "Fri 2020-03-06 09:00 CST" in shown
    assert "Mon 2020-03-09 17:00 CDT" in shown
    assert "NOBODY (gap)" in shown
    assert "carol (override)" in shown
    bars = [line for line in shown.splitlines() if line.startswith(("Fri 2020", "Mon 2020"))]
    # Friday: nobody until 09:00 (18 cells), Alice 09:00-17:00 (16 cells), nobody after.
    assert bars[0] == "Fri 2020-03-06 " + "░" * 18 + "█" * 16 + "░" * 14


def test_schedule_check_and_list_from_the_database(cli: Cli) -> None:
    cli.ok("apply", "-f", str(FOLLOW_THE_SUN))
    cli.clock.set(datetime(2021, 3, 8, 0, 0, tzinfo=UTC))
    result = cli("schedule", "check", "--days", "14")
    assert result.code == 1
    assert "14 uncovered window(s)" in result.stdout
    cli.clock.set(datetime(2021, 3, 15, 13, 30, tzinfo=UTC))
    listed = cli.ok("schedule", "list", "--json").json()
    assert listed == [
        {
            "name": "follow-the-sun",
            "time_zone": "UTC",
            "layers": ["apac", "eu", "us"],
            "on_call": ["ana"],
        }
    ]
    assert cli.ok("oncall", "--json").json()[0]["users"] == ["ana"]


def test_schedule_check_warns_of_a_disabled_person_who_takes_shifts(cli: Cli) -> None:
    cli.ok("apply", "-f", str(FOLLOW_THE_SUN))
    cli.clock.set(datetime(2021, 3, 8, 0, 0, tzinfo=UTC))
    assert "is disabled" not in cli("schedule", "check", "--days", "14").stderr
    cli.ok("user", "disable", "ana")
    warned = cli("schedule", "check", "--days", "14")
    assert (
        "warning: follow-the-sun: @ana is disabled but takes shifts (layer us); their pages "
        "reach nobody who can act on them"
    ) in " ".join(warned.stderr.split())
