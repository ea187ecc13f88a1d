"""`tocsin swap ...`: alice asks for cover, bob is told and takes it, and the schedule says so;
on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.cli.conftest import Cli
from tests.receivers import PageReceiver
from tocsin.clock import FixedClock
from tocsin.engine.outbox import Sender, adapter_factory
from tocsin.errors import Conflict
from tocsin.services import swaps
from tocsin.settings import Settings
from tocsin.store.db import make_engine, make_sessionmaker
from tocsin.store.models import Notification, ScheduleOverride

# Thursday 2024-06-20 10:30 UTC (T0): alice's day of the daily rotation (09:00 Berlin handoffs).
CONFIG = """\
users:
  - {{handle: alice, name: Alice, time_zone: Europe/Berlin}}
  - handle: bob
    name: Bob
    time_zone: America/New_York
    contact_methods:
      - {{name: hook, type: webhook, url: "{hooks}/bob", secret: secret-bob}}
      - {{name: phone, type: sms, number: "+4915112345678"}}
  - handle: carol
    name: Carol
    contact_methods: [{{name: hook, type: webhook, url: "{hooks}/carol", secret: secret-carol}}]
  - {{handle: dave, name: Dave}}
schedules:
  - name: ops
    time_zone: Europe/Berlin
    layers:
      - name: primary
        rotation: 1 day
        start: 2024-06-17T09:00
        participants: [alice, bob, carol]
  - name: db
    time_zone: UTC
    layers:
      - {{name: weekly, rotation: 1 week, start: 2024-06-17T00:00, participants: [bob]}}
"""


@pytest.fixture
def hooks() -> Iterator[PageReceiver]:
    found = PageReceiver()
    yield found
    found.close()


@pytest.fixture
def ops(cli: Cli, hooks: PageReceiver, tmp_path: Path) -> Cli:
    path = tmp_path / "tocsin.yaml"
    path.write_text(CONFIG.format(hooks=hooks.url))
    cli.ok("apply", "-f", str(path))
    return cli


def _as(cli: Cli, who: str) -> Cli:
    cli.actor = who
    return cli


def _send_outbox(db_url: str) -> None:
    engine = make_engine(db_url)
    sender = Sender(
        make_sessionmaker(engine),
        FixedClock(datetime(2024, 6, 20, 10, 30, tzinfo=UTC)),
        adapter_factory(Settings()),
        base_url="https://tocsin.example",
    )
    sender.run_once()
    engine.dispose()


def test_a_swap_is_requested_accepted_and_shows_as_an_override(
    ops: Cli, hooks: PageReceiver
) -> None:
    asked = _as(ops, "alice").ok(
        "swap", "request", "ops", "--from", "2024-06-20T14:00", "--to", "2024-06-20T18:00",
        "--note", "dentist", "--json",
    ).json()  # fmt: skip
    assert (asked["status"], asked["start"], asked["end"], asked["requester"]) == (
        "open",
        "2024-06-20T12:00:00Z",
        "2024-06-20T16:00:00Z",
        "alice",
    )
    # The teammates are told on their non-urgent methods, with a link to the request.
    _send_outbox(ops.db_url)
    got = sorted(hooks.pages, key=lambda p: p["to"])
    assert [p["to"] for p in got] == ["bob", "carol"]
    assert got[0]["subject"] == (
        "[SWAP] @alice asks for cover on ops: Thu 2024-06-20 08:00 EDT to Thu 2024-06-20 12:00 EDT"
    )
    assert "Note: dentist" in got[0]["text"]
    assert got[0]["url"] == f"https://tocsin.example/schedules/ops#swap-{asked['id']}"
    assert got[0]["incident"] is None
    engine = make_engine(ops.db_url)
    with make_sessionmaker(engine)() as session:
        methods = session.scalars(select(Notification.message["user"].as_string())).all()
    engine.dispose()
    assert sorted(methods) == ["bob", "carol"]  # not bob's phone: a swap wakes nobody

    shown = _as(ops, "bob").ok("swap", "show", str(asked["id"]))
    assert "You may take it: tocsin swap accept" in shown.stdout
    taken = ops.ok("swap", "accept", str(asked["id"]), "--yes", "--json").json()
    assert (taken["status"], taken["taker"]) == ("accepted", "bob")

    overrides = ops.ok("override", "list", "ops", "--json").json()
    assert [(o["user"], o["start"], o["end"], o["source"]) for o in overrides] == [
        ("bob", "2024-06-20T12:00:00Z", "2024-06-20T16:00:00Z", "swap")
    ]
    assert f"swap request {asked['id']}" in overrides[0]["note"]
    final = ops.ok(
        "schedule", "show", "ops", "--from", "2024-06-20T13:00", "--to", "2024-06-20T19:00",
        "--json",
    ).json()  # fmt: skip
    assert [(s["start"], s["users"]) for s in final] == [
        ("2024-06-20T11:00:00Z", ["alice"]),
        ("2024-06-20T12:00:00Z", ["bob"]),
        ("2024-06-20T16:00:00Z", ["alice"]),
    ]
    oncall = ops.ok("oncall", "--schedule", "ops", "--at", "2024-06-20T15:00", "--json").json()
    assert oncall["users"] == ["bob"]
    assert (
        "bob (override)"
        in ops.ok(
            "schedule", "show", "ops", "--from", "2024-06-20T13:00", "--to", "2024-06-20T19:00"
        ).stdout
    )

    audit = ops.ok("audit", "list", "--object", "ops", "--json").json()["entries"]
    swap_entries = [
        (e["action"], e["changes"].get("status")) for e in audit if e["object_type"] == "swap"
    ]
    assert swap_entries == [("changed", ["open", "accepted"]), ("created", [None, "open"])]
    assert any(e["object_type"] == "override" and e["who"] == "bob" for e in audit)


def test_the_requester_hears_of_the_acceptance(ops: Cli, hooks: PageReceiver) -> None:
    asked = _as(ops, "bob").ok(
        "swap", "request", "ops", "--from", "2024-06-21T12:00", "--to", "2024-06-21T15:00",
        "--json",
    ).json()  # fmt: skip
    _send_outbox(ops.db_url)
    hooks.pages.clear()
    _as(ops, "carol").ok("swap", "accept", str(asked["id"]))
    _send_outbox(ops.db_url)
    assert [(p["to"], p["subject"]) for p in hooks.pages] == [
        ("bob", "[SWAP] @carol covers your shift on ops: Fri 2024-06-21 06:00 EDT to Fri "
         "2024-06-21 09:00 EDT"),
    ]  # fmt: skip


def test_cancel_before_acceptance_but_not_after(ops: Cli) -> None:
    first = _as(ops, "alice").ok(
        "swap", "request", "ops", "--from", "2024-06-20T14:00", "--to", "2024-06-20T15:00",
        "--json",
    ).json()  # fmt: skip
    refused = _as(ops, "bob")("swap", "cancel", str(first["id"]))
    assert refused.code == 5
    assert "only @alice, who asked" in refused.stderr
    _as(ops, "alice").ok("swap", "cancel", str(first["id"]))
    late = _as(ops, "bob")("swap", "accept", str(first["id"]))
    assert (late.code, late.stderr.strip()) == (
        4,
        f"error: swap request {first['id']} is cancelled, no longer open",
    )
    second = _as(ops, "alice").ok(
        "swap", "request", "ops", "--from", "2024-06-20T14:00", "--to", "2024-06-20T15:00",
        "--json",
    ).json()  # fmt: skip
    _as(ops, "carol").ok("swap", "accept", str(second["id"]))
    again = _as(ops, "alice")("swap", "cancel", str(second["id"]))
    assert (again.code, again.stderr.strip()) == (
        4,
        f"error: swap request {second['id']} was already taken by @carol",
    )
    listed = ops.ok("swap", "list", "--schedule", "ops", "--json").json()
    assert [(s["id"], s["status"]) for s in listed] == [
        (second["id"], "accepted"),
        (first["id"], "cancelled"),
    ]
    assert ops.ok("swap", "list", "--open", "--json").json() == []


def test_a_requester_not_on_call_is_refused_and_nothing_changes(ops: Cli) -> None:
    refused = _as(ops, "bob")(
        "swap", "request", "ops", "--from", "2024-06-20T14:00", "--to", "2024-06-20T18:00"
    )
    assert refused.code == 2
    assert refused.stderr.strip() == (
        "error: @bob is not on call on ops from Thu 2024-06-20 14:00 CEST to Thu 2024-06-20 "
        "18:00 CEST: ask only for cover of your own on-call time"
    )
    bad = _as(ops, "alice")("swap", "request", "ops", "--from", "tomorrow", "--to", "2024-06-20")
    assert bad.code == 2
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert ops.ok("swap", "list", "--json").json() == []


def test_time_an_override_of_the_config_file_gives_cannot_be_handed_over(
    cli: Cli, hooks: PageReceiver, tmp_path: Path
) -> None:
    # Accepting clips the requester's own overrides out of the range, but not one the file
    # holds (the next apply would restore it): alice would stay on call beside her taker.
    path = tmp_path / "tocsin.yaml"
    path.write_text(
        CONFIG.format(hooks=hooks.url).replace(
            "participants: [alice, bob, carol]\n",
            "participants: [alice, bob, carol]\n"
            "    overrides:\n"
            "      - {user: alice, from: 2024-06-21T12:00, to: 2024-06-21T16:00}\n",
        )
    )
    cli.ok("apply", "-f", str(path))
    refused = _as(cli, "alice")(
        "swap", "request", "ops", "--from", "2024-06-21T13:00", "--to", "2024-06-21T15:00"
    )
    assert (refused.code, refused.stderr) == (
        2,
        "error: @alice is on call from Fri 2024-06-21 13:00 CEST to Fri 2024-06-21 15:00 CEST "
        "by an override in the configuration file: change it there, a swap cannot take it "
        "over\n",
    )
    assert cli.ok("swap", "list", "--json").json() == []
    # Her own day, from the layer, she may hand over as ever.
    cli.ok("swap", "request", "ops", "--from", "2024-06-20T14:00", "--to", "2024-06-20T15:00")


def test_only_teammates_take_a_swap_and_the_taker_sees_warnings(ops: Cli) -> None:
    asked = _as(ops, "alice").ok(
        "swap", "request", "ops", "--from", "2024-06-20T14:00", "--to", "2024-06-20T18:00",
        "--json",
    ).json()  # fmt: skip
    stranger = _as(ops, "dave")("swap", "accept", str(asked["id"]))
    assert stranger.code == 5
    assert "only its teammates (people in its layers) may" in stranger.stderr
    own = _as(ops, "alice")("swap", "accept", str(asked["id"]))
    assert own.code == 5 and "cannot take their own swap request" in own.stderr
    # bob holds the db schedule all week: taking it, he would hold two shifts.
    _as(ops, "bob")
    data = ops.ok("swap", "show", str(asked["id"]), "--json").json()
    assert data["warnings"] == [
        {
            "kind": "busy",
            "message": "@bob is on call on schedule 'db' from Thu 2024-06-20 14:00 CEST to Thu "
            "2024-06-20 18:00 CEST",
        }
    ]
    declined = ops("swap", "accept", str(asked["id"]), input="n\n")
    assert declined.code == 1
    assert "warning: @bob is on call on schedule 'db'" in declined.stderr
    assert ops.ok("swap", "show", str(asked["id"]), "--json").json()["status"] == "open"
    assert ops.ok("swap", "accept", str(asked["id"]), "--yes", "--json").json()["taker"] == "bob"


def test_two_teammates_accepting_at_once_one_wins(ops: Cli) -> None:
    asked = _as(ops, "alice").ok(
        "swap", "request", "ops", "--from", "2024-06-20T14:00", "--to", "2024-06-20T18:00",
        "--json",
    ).json()  # fmt: skip
    engine = make_engine(ops.db_url)
    sessions = make_sessionmaker(engine)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def take(who: str) -> None:
        barrier.wait()
        try:
            with sessions() as session, session.begin():
                swaps.accept(session, asked["id"], taker=who, now=ops.clock.now())
            outcomes[who] = "won"
        except Conflict as exc:
            outcomes[who] = exc.message

    threads = [threading.Thread(target=take, args=(who,)) for who in ("bob", "carol")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with sessions() as session:
        overrides = session.scalars(select(ScheduleOverride)).all()
        winners = [o.user.handle for o in overrides]
    engine.dispose()
    assert sorted(outcomes.values()).count("won") == 1
    winner = next(who for who, said in outcomes.items() if said == "won")
    loser = next(who for who in outcomes if who != winner)
    assert outcomes[loser] == f"swap request {asked['id']} was already taken by @{winner}"
    assert winners == [winner]
    assert ops.ok("swap", "show", str(asked["id"]), "--json").json()["taker"] == winner


def test_a_request_whose_range_passed_is_expired_and_cannot_be_taken(ops: Cli) -> None:
    asked = _as(ops, "alice").ok(
        "swap", "request", "ops", "--from", "2024-06-20T14:00", "--to", "2024-06-20T18:00",
        "--json",
    ).json()  # fmt: skip
    # Part-way through, taking it covers the rest only.
    ops.clock.set(datetime(2024, 6, 20, 13, 0, tzinfo=UTC))
    second = _as(ops, "alice").ok(
        "swap", "request", "ops", "--from", "2024-06-20T19:00", "--to", "2024-06-20T21:00",
        "--json",
    ).json()  # fmt: skip
    taken = _as(ops, "carol").ok("swap", "accept", str(asked["id"]))
    assert "from Thu 2024-06-20 15:00 CEST" in taken.stderr  # now, not the request's 14:00
    overrides = ops.ok("override", "list", "ops", "--json").json()
    assert [(o["user"], o["start"], o["end"]) for o in overrides] == [
        ("carol", "2024-06-20T13:00:00Z", "2024-06-20T16:00:00Z")
    ]
    ops.clock.set(datetime(2024, 6, 20, 19, 0, tzinfo=UTC))
    late = ops("swap", "accept", str(second["id"]))
    assert (late.code, late.stderr.strip()) == (
        4,
        f"error: swap request {second['id']} expired: its range is over",
    )
    assert ops.ok("swap", "show", str(second["id"]), "--json").json()["status"] == "expired"
