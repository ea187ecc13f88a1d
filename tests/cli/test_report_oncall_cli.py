"""`tocsin report oncall`: hours on call per person, checked against examples worked by hand.

Both examples cross a DST change, and their people live in three zones, so that a figure read on
the wrong clock (the schedule's, or a zone's offset from another month) comes out wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.cli.conftest import Cli
from tocsin.core import oncall_hours
from tocsin.core import schedule as sched
from tocsin.core.oncall_hours import Category
from tocsin.services import incidents
from tocsin.store import schedules, users
from tocsin.store.db import make_engine, make_sessionmaker
from tocsin.store.models import Incident, Notification

PEOPLE = """\
users:
  - {handle: alice, name: Alice, time_zone: Europe/Berlin}
  - {handle: bob, name: Bob, time_zone: America/New_York}
  - {handle: carol, name: Carol, time_zone: Europe/London}
  - {handle: dave, name: Dave}
"""

SPRING = (
    PEOPLE
    + """\
schedules:
  - name: primary
    time_zone: Europe/Berlin
    layers:
      - name: base
        rotation: 1 day
        start: 2024-03-29T09:00
        participants: [alice, bob]
"""
)

FALL = (
    PEOPLE
    + """\
schedules:
  - name: nyc
    time_zone: America/New_York
    layers:
      - name: base
        rotation: 12 hours
        start: 2024-11-02T08:00
        participants: [alice, bob]
"""
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Pages:
    """Writes incidents and the outbox rows of their pages as the sender leaves them."""

    def __init__(self, db_url: str) -> None:
        self.engine: Engine = make_engine(db_url)
        self.count = 0

    def incident(self, title: str, at: datetime, *, drill: bool = False) -> int:
        with make_sessionmaker(self.engine)() as session, session.begin():
            found: Incident = incidents.declare(
                session, title=title, severity="SEV-2", is_drill=drill, actor="test", now=at
            ).incident
            return found.id

    def page(
        self,
        incident: int,
        handle: str,
        step: str,
        *,
        created: datetime,
        sent: datetime,
        status: str = "sent",
    ) -> None:
        """One row: one contact method's delivery of escalation `step` to `handle`."""
        self.count += 1
        with make_sessionmaker(self.engine)() as session, session.begin():
            session.add(
                Notification(
                    idempotency_key=f"test-{self.count}",
                    incident_id=incident,
                    user_id=users.get_by_handle(session, handle).id,
                    kind="page",
                    status=status,
                    due_at=created,
                    attempts=1,
                    message={"step": step},
                    created_at=created,
                    sent_at=sent if status == "sent" else None,
                )
            )


@pytest.fixture
def pages(cli: Cli) -> Iterator[Pages]:
    writer = Pages(cli.db_url)
    yield writer
    writer.engine.dispose()


def figures(data: dict[str, object]) -> dict[str, tuple[float, ...]]:
    """Return user -> (total, business, evenings, nights, weekends, pages, night pages)."""
    people = data["people"]
    assert isinstance(people, list)
    return {
        p["user"]: (
            p["total_hours"],
            p["business_hours"],
            p["evening_hours"],
            p["night_hours"],
            p["weekend_hours"],
            p["pages"],
            p["night_pages"],
        )
        for p in people
    }


def core_figures(
    cli: Cli, name: str, start: datetime, end: datetime, received: list[tuple[str, datetime]]
) -> dict[str, tuple[float, ...]]:
    """The same figures from the pure core, on the stored schedule."""
    engine = make_engine(cli.db_url)
    with make_sessionmaker(engine)() as session:
        core = schedules.to_core(schedules.get_by_name(session, name))
        zones = {u.handle: u.time_zone for u in users.list_(session)}
    engine.dispose()
    found = oncall_hours.on_call_hours(
        sched.final_shifts(core, start, end), zones, received, start, end
    )
    hour = timedelta(hours=1)
    return {
        p.user: (
            p.total / hour,
            *(p.hours[c] / hour for c in Category),
            p.pages,
            p.night_pages,
        )
        for p in found
    }


def test_spring_forward_in_berlin_worked_by_hand(cli: Cli, pages: Pages, tmp_path: Path) -> None:
    config = tmp_path / "tocsin.yaml"
    config.write_text(SPRING)
    cli.ok("apply", "-f", str(config))
    # Override times are local to the schedule (Berlin: CET = UTC+1 until 2024-03-31 01:00Z,
    # then CEST = UTC+2).
    cli.ok("override", "add", "primary", "--user", "carol",
           "--from", "2024-03-29T18:00", "--to", "2024-03-29T23:00")  # fmt: skip
    cli.ok("override", "add", "primary", "--user", "carol",
           "--from", "2024-03-30T20:00", "--to", "2024-03-31T04:00")  # fmt: skip
    # The range, in Berlin: Fri 2024-03-29 00:00 CET (03-28 23:00Z) to Tue 04-02 00:00 CEST
    # (04-01 22:00Z): 95 real hours, one less than four days, for the spring-forward.
    #
    # The layer hands off daily at 09:00 Berlin from Fri 03-29, alice then bob; before its
    # start nobody is on call (03-28 23:00Z to 03-29 08:00Z: 9 h of gap). Final schedule:
    #   1 alice 03-29 08:00Z-17:00Z  Fri 09:00-18:00 CET
    #   2 carol 03-29 17:00Z-22:00Z  (override 1)
    #   3 alice 03-29 22:00Z-03-30 08:00Z  Fri 23:00-Sat 09:00 CET
    #   4 bob   03-30 08:00Z-19:00Z  (his day runs Sat 09:00 CET to Sun 09:00 CEST: 23 h)
    #   5 carol 03-30 19:00Z-03-31 02:00Z  (override 2: Sat 20:00 CET to Sun 04:00 CEST is
    #           7 real hours, not 8: 02:00-03:00 does not exist that night)
    #   6 bob   03-31 02:00Z-07:00Z
    #   7 alice 03-31 07:00Z-04-01 07:00Z  Sun 09:00 CEST-Mon 09:00 CEST
    #   8 bob   04-01 07:00Z-22:00Z  (clipped by the range's end)
    #
    # alice, Europe/Berlin, on the schedule's clock:
    #   1: Fri 09-17 business 8, 17-18 evenings 1
    #   3: Fri 23-24 nights 1, Sat 00-09 weekends 9
    #   7: Sun 09-24 weekends 15, Mon 00-07 nights 7, 07-09 evenings 2
    #   total 43 = business 8 + evenings 3 + nights 8 + weekends 24
    # bob, America/New_York: EDT (UTC-4) since 03-10, not EST (UTC-5) - the trap:
    #   4: Sat 04:00-15:00 EDT weekends 11
    #   6: Sat 22:00-Sun 03:00 EDT weekends 5
    #   8: Mon 03:00-18:00 EDT: nights 03-07 4, evenings 07-09 2, business 09-17 8,
    #      evenings 17-18 1 (read as EST it would be 02:00-17:00: nights 5, no evening)
    #   total 31 = business 8 + evenings 3 + nights 4 + weekends 16
    # carol, Europe/London (GMT until 03-31 01:00Z, then BST):
    #   2: Fri 17:00-22:00 GMT evenings 5 (in Berlin it would be 4 evening + 1 night)
    #   5: Sat 19:00 GMT-Sun 03:00 BST weekends 7
    #   total 12 = evenings 5 + weekends 7
    # Sum 43 + 31 + 12 = 86 = 95 - 9 h of gap.
    #
    # Pages, counted once per incident, person and step, at the first delivery:
    one = pages.incident("Queue backlog", utc("2024-03-29T20:55"))
    # carol, two methods of one step: 21:00Z is 21:00 GMT (22:00 in Berlin): 1 page, not night
    pages.page(one, "carol", "0.0", created=utc("2024-03-29T20:56"), sent=utc("2024-03-29T21:00"))
    pages.page(one, "carol", "0.0", created=utc("2024-03-29T20:56"), sent=utc("2024-03-29T21:05"))
    two = pages.incident("Disk full", utc("2024-04-01T10:55"))
    # bob, 10:59Z = 06:59 EDT: a night page; the loop's re-page at 11:00Z = 07:00 EDT: not night
    pages.page(two, "bob", "0.0", created=utc("2024-04-01T10:56"), sent=utc("2024-04-01T10:59"))
    pages.page(two, "bob", "0.1", created=utc("2024-04-01T10:57"), sent=utc("2024-04-01T11:00"))
    three = pages.incident("Spring night", utc("2024-03-31T01:25"))
    # alice, 01:30Z = Sun 03:30 CEST: a night page (night pages count on any day)
    pages.page(three, "alice", "0.0", created=utc("2024-03-31T01:26"), sent=utc("2024-03-31T01:30"))
    # Not counted: a drill; a failed delivery; a page first delivered before the range (its
    # second method lands inside it); dave, paged but not in the schedule.
    drill = pages.incident("Drill", utc("2024-03-31T00:30"), drill=True)
    pages.page(drill, "alice", "0.0", created=utc("2024-03-31T00:30"), sent=utc("2024-03-31T00:31"))
    failed = pages.incident("Flaky", utc("2024-03-30T01:55"))
    pages.page(
        failed, "alice", "0.0", created=utc("2024-03-30T01:56"), sent=utc("2024-03-30T02:00"),
        status="failed",
    )  # fmt: skip
    early = pages.incident("Late Thursday", utc("2024-03-28T22:25"))
    pages.page(early, "alice", "0.0", created=utc("2024-03-28T22:26"), sent=utc("2024-03-28T22:30"))
    pages.page(early, "alice", "0.0", created=utc("2024-03-28T22:26"), sent=utc("2024-03-28T23:05"))
    pages.page(one, "dave", "1.0", created=utc("2024-03-29T21:10"), sent=utc("2024-03-29T21:11"))

    data = cli.ok(
        "report", "oncall", "--from", "2024-03-29", "--to", "2024-04-02", "--schedule", "primary",
        "--json",
    ).json()  # fmt: skip
    assert (data["from"], data["to"], data["time_zone"]) == (
        "2024-03-28T23:00:00Z",
        "2024-04-01T22:00:00Z",
        "Europe/Berlin",
    )
    expected = {
        # user: (total, business, evenings, nights, weekends, pages, night pages)
        "alice": (43.0, 8.0, 3.0, 8.0, 24.0, 1, 1),
        "bob": (31.0, 8.0, 3.0, 4.0, 16.0, 2, 1),
        "carol": (12.0, 0.0, 5.0, 0.0, 7.0, 1, 0),
    }
    assert figures(data) == expected
    assert [p["user"] for p in data["people"]] == ["alice", "bob", "carol"]
    assert data["totals"] == {
        "total_hours": 86.0,
        "business_hours": 16.0,
        "evening_hours": 11.0,
        "night_hours": 12.0,
        "weekend_hours": 47.0,
        "pages": 4,
        "night_pages": 2,
    }
    received = [
        ("carol", utc("2024-03-29T21:00")),
        ("bob", utc("2024-04-01T10:59")),
        ("bob", utc("2024-04-01T11:00")),
        ("alice", utc("2024-03-31T01:30")),
    ]
    start, end = utc("2024-03-28T23:00"), utc("2024-04-01T22:00")
    assert core_figures(cli, "primary", start, end, received) == expected
    # Without --schedule every schedule counts (here the one) and everyone paged appears: dave's
    # page is in, and dates without an offset are UTC.
    everyone = cli.ok(
        "report", "oncall", "--from", "2024-03-28T23:00Z", "--to", "2024-04-01T22:00Z", "--json"
    ).json()
    assert figures(everyone) == expected | {"dave": (0.0, 0.0, 0.0, 0.0, 0.0, 1, 0)}


def test_fall_back_in_new_york_worked_by_hand(cli: Cli, pages: Pages, tmp_path: Path) -> None:
    config = tmp_path / "tocsin.yaml"
    config.write_text(FALL)
    cli.ok("apply", "-f", str(config))
    # New York: EDT (UTC-4) until 2024-11-03 06:00Z, when 02:00 EDT becomes 01:00 EST (UTC-5).
    # Berlin and London changed a week earlier (10-27): CET = UTC+1, GMT = UTC+0 all along.
    cli.ok("override", "add", "nyc", "--user", "carol",
           "--from", "2024-11-04T12:00", "--to", "2024-11-04T14:00")  # fmt: skip
    # The range: Sat 11-02 00:00 EDT (04:00Z) to Tue 11-05 00:00 EST (05:00Z): 73 real hours,
    # one more than three days. The layer hands off at 08:00 and 20:00 New York wall time from
    # Sat 08:00 (12:00Z); before it, 8 h of gap. Final schedule:
    #   1 alice 11-02 12:00Z-11-03 00:00Z  (Sat 08:00-20:00 EDT)
    #   2 bob   11-03 00:00Z-13:00Z  Sat 20:00 EDT-Sun 08:00 EST: 12 h of wall clock, 13 real
    #   3 alice 11-03 13:00Z-11-04 01:00Z  (Sun 08:00-20:00 EST)
    #   4 bob   11-04 01:00Z-13:00Z  (Sun 20:00-Mon 08:00 EST)
    #   5 alice 11-04 13:00Z-17:00Z  (Mon 08:00-12:00 EST)
    #   6 carol 11-04 17:00Z-19:00Z  (override: Mon 12:00-14:00 EST)
    #   7 alice 11-04 19:00Z-11-05 01:00Z  (Mon 14:00-20:00 EST)
    #   8 bob   11-05 01:00Z-05:00Z  (Mon 20:00 EST-, clipped at Tue 00:00 EST)
    #
    # alice, Europe/Berlin (CET):
    #   1: Sat 13:00-Sun 01:00 CET weekends 12
    #   3: Sun 14:00-24:00 weekends 10, Mon 00:00-02:00 nights 2
    #   5: Mon 14:00-17:00 business 3, 17:00-18:00 evenings 1
    #   7: Mon 20:00-22:00 evenings 2, 22:00-24:00 nights 2, Tue 00:00-02:00 nights 2
    #   total 34 = business 3 + evenings 3 + nights 6 + weekends 22
    # bob, America/New_York:
    #   2: Sat 20:00 EDT-Sun 08:00 EST weekends 13 (the 25-hour Sunday: 01:00-02:00 twice)
    #   4: Sun 20:00-24:00 weekends 4, Mon 00:00-07:00 nights 7, 07:00-08:00 evenings 1
    #   8: Mon 20:00-22:00 evenings 2, 22:00-24:00 nights 2
    #   total 29 = evenings 3 + nights 9 + weekends 17
    # carol, Europe/London (GMT):
    #   6: Mon 17:00-19:00 GMT evenings 2 (business hours in New York, where the override was
    #      written)
    # Sum 34 + 29 + 2 = 65 = 73 - 8 h of gap.
    #
    # Pages: bob at 05:30Z = 01:30 EDT and at 06:30Z = 01:30 EST (the same wall time twice,
    # both night pages); bob at 12:00Z = 07:00 EST (not night); alice at 21:00Z = 22:00 CET
    # (night).
    inc = pages.incident("Replication lag", utc("2024-11-03T05:25"))
    pages.page(inc, "bob", "0.0", created=utc("2024-11-03T05:26"), sent=utc("2024-11-03T05:30"))
    pages.page(inc, "bob", "0.1", created=utc("2024-11-03T06:26"), sent=utc("2024-11-03T06:30"))
    later = pages.incident("Certificate expiry", utc("2024-11-04T11:55"))
    pages.page(later, "bob", "0.0", created=utc("2024-11-04T11:56"), sent=utc("2024-11-04T12:00"))
    pages.page(later, "alice", "1.0", created=utc("2024-11-04T20:59"), sent=utc("2024-11-04T21:00"))

    data = cli.ok(
        "report", "oncall", "--from", "2024-11-02", "--to", "2024-11-05", "--schedule", "nyc",
        "--json",
    ).json()  # fmt: skip
    assert (data["from"], data["to"]) == ("2024-11-02T04:00:00Z", "2024-11-05T05:00:00Z")
    expected = {
        "alice": (34.0, 3.0, 3.0, 6.0, 22.0, 1, 1),
        "bob": (29.0, 0.0, 3.0, 9.0, 17.0, 3, 2),
        "carol": (2.0, 0.0, 2.0, 0.0, 0.0, 0, 0),
    }
    assert figures(data) == expected
    assert [p["user"] for p in data["people"]] == ["alice", "bob", "carol"]
    assert data["totals"]["total_hours"] == 65.0
    received = [
        ("bob", utc("2024-11-03T05:30")),
        ("bob", utc("2024-11-03T06:30")),
        ("bob", utc("2024-11-04T12:00")),
        ("alice", utc("2024-11-04T21:00")),
    ]
    start, end = utc("2024-11-02T04:00"), utc("2024-11-05T05:00")
    assert core_figures(cli, "nyc", start, end, received) == expected


@pytest.fixture
def spring(cli: Cli, tmp_path: Path) -> Cli:
    config = tmp_path / "tocsin.yaml"
    config.write_text(SPRING)
    cli.ok("apply", "-f", str(config))
    return cli


def test_csv_and_table(spring: Cli) -> None:
    csv = spring.ok(
        "report", "oncall", "--from", "2024-03-29", "--to", "2024-03-30", "--schedule", "primary",
        "--csv",
    ).stdout.splitlines()  # fmt: skip
    # Fri 09:00 CET to Sat 00:00: alice, 8 business, 5 evening and 2 night hours.
    assert csv == [
        "user,name,time_zone,total_hours,business_hours,evening_hours,night_hours,"
        "weekend_hours,pages,night_pages",
        "alice,Alice,Europe/Berlin,15.0,8.0,5.0,2.0,0.0,0,0",
    ]
    shown = spring.ok(
        "report", "oncall", "--from", "2024-03-29", "--to", "2024-03-31T12:00",
        "--schedule", "primary",
    ).stdout  # fmt: skip
    rows = {line.split("│")[1].strip(): line for line in shown.splitlines() if "│" in line}
    # alice: Fri 09:00-Sat 09:00 and Sun 09:00-12:00 CEST: 24 + 3 = 27; bob Sat 09:00 CET to
    # Sun 09:00 CEST: 23 (the spring-forward).
    assert [c.strip() for c in rows["alice"].split("│")[3:8]] == ["27", "8", "5", "2", "12"]
    assert [c.strip() for c in rows["bob"].split("│")[3:8]] == ["23", "0", "0", "0", "23"]
    assert [c.strip() for c in rows["Total"].split("│")[3:4]] == ["50"]


def test_csv_keeps_a_name_a_name_in_a_spreadsheet(cli: Cli, tmp_path: Path) -> None:
    # Names come from people and from the identity provider: one written as a formula must
    # reach a spreadsheet as text, commas and quotes intact.
    config = tmp_path / "tocsin.yaml"
    config.write_text(
        SPRING.replace("name: Alice,", """name: '=HYPERLINK("https://x.example", "A")',""")
    )
    cli.ok("apply", "-f", str(config))
    csv = cli.ok(
        "report", "oncall", "--from", "2024-03-29", "--to", "2024-03-30", "--schedule", "primary",
        "--csv",
    ).stdout.splitlines()  # fmt: skip
    assert csv[1] == (
        """alice,"'=HYPERLINK(""https://x.example"", ""A"")",Europe/Berlin,15.0,8.0,5.0,2.0,0.0,"""
        "0,0"
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(
            ["--from", "2024-04-02", "--to", "2024-03-29"],
            2,
            "error: to '2024-03-29' must be after from '2024-04-02'",
            id="from-after-to",
        ),
        pytest.param(
            ["--from", "2023-01-01", "--to", "2024-03-29"],
            2,
            "error: the range from '2023-01-01' to '2024-03-29' is over a year (366 days)",
            id="over-a-year",
        ),
        pytest.param(
            ["--from", "2024-03-29", "--to", "2024-04-02", "--schedule", "secondary"],
            3,
            "error: unknown schedule 'secondary' (schedules: primary)",
            id="unknown-schedule",
        ),
        pytest.param(
            ["--from", "29/03/2024", "--to", "2024-04-02"],
            2,
            "error: from: time '29/03/2024' is not valid: expected ISO-8601 such as "
            "2020-03-08T08:30, 2020-03-08T08:30Z or 2020-03-08T08:30+02:00",
            id="not-a-date",
        ),
        pytest.param(
            ["--from", "2024-03-29", "--to", "2024-04-02", "--json", "--csv"],
            2,
            "error: choose one of --json and --csv",
            id="json-and-csv",
        ),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(
    spring: Cli, args: list[str], code: int, message: str
) -> None:
    result = spring("report", "oncall", *args)
    assert (result.code, result.stderr, result.stdout) == (code, message + "\n", "")


def test_the_response_metrics_still_answer_to_report(spring: Cli) -> None:
    data = spring.ok("report", "--since", "all", "--json").json()
    assert data["overall"]["count"] == 0
    assert "oncall" in spring.ok("report", "--help").stdout
