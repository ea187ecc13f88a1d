"""`tocsin import pagerduty`: a PagerDuty account moves in through its REST API (a local fake
serving answers in the documented shapes, paged, with a 429 first) or from the same answers
saved to files; the file applies unchanged, the kept routing key pages the on-call person."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, run_import
from tests.conftest import LiveServer
from tests.engine.test_escalation_flow import engine_for
from tests.fakes.sources import FIXTURES, TOKEN, FakePagerDuty, fake_pagerduty
from tocsin.services import incidents
from tocsin.store.db import make_engine, make_sessionmaker

PD_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def pagerduty() -> Iterator[FakePagerDuty]:
    with fake_pagerduty() as fake:
        yield fake


def test_import_apply_and_a_kept_key_pages_the_on_call(
    cli: Cli, tmp_path: Path, pagerduty: FakePagerDuty, stepped_server: LiveServer
) -> None:
    api, folder = tmp_path / "api", tmp_path / "folder"
    api.mkdir()
    folder.mkdir()
    code, _out, err = run_import(
        "pagerduty", cli, api, "--api-url", pagerduty.url, "--token", TOKEN
    )
    assert code == 0, err
    # Throttled once and waited; /users came in two-item pages (and the rest in one).
    assert pagerduty.requests[0] == pagerduty.requests[1]
    assert sum(r.startswith("/users?") for r in pagerduty.requests) == 1 + 2
    code, _out, err = run_import("pagerduty", cli, folder, "--from-dir", str(FIXTURES))
    assert code == 0, err
    config = (api / "tocsin.yaml").read_text()
    assert config == (folder / "tocsin.yaml").read_text()  # the same file either way

    keys = api / "tocsin.keys.yaml"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert f"checkout-api/prometheus: {PD_KEY}" in keys.read_text()
    report = (api / "report.md").read_text()
    assert PD_KEY not in config and PD_KEY not in report  # keys only in the keys file

    applied = cli.ok("apply", "-f", str(api / "tocsin.yaml"), "--keys", str(keys))
    assert "create integration checkout-api/prometheus (pagerduty, kept key)" in applied.stdout
    # 2024-06-20 10:30 UTC, a Thursday 06:30 in New York: the weekly layer's first week, alice.
    assert cli.ok("oncall", "--json").json()[0]["users"] == ["alice"]

    import pdpyras

    sender = pdpyras.EventsAPISession(PD_KEY)
    sender.url = stepped_server.url
    sender.trigger("Payments failing", "checkout-1", dedup_key="pay", severity="critical")
    sender.close()
    engine = make_engine(cli.db_url)
    sessions = make_sessionmaker(engine)
    assert stepped_server.clock is not None
    engine_for(sessions, stepped_server.clock).run_once()
    with sessions() as session:
        timeline = [e.message for e in incidents.get(session, "INC-1").events]
    engine.dispose()
    assert (
        "Paging alice (platform-ep level 1: schedule:primary-on-call) via work, mobile" in timeline
    )


def test_the_report_names_every_object_and_what_changed(cli: Cli, tmp_path: Path) -> None:
    code, stdout, err = run_import("pagerduty", cli, tmp_path, "--from-dir", str(FIXTURES))
    assert code == 0, err
    rows = (tmp_path / "report.md").read_text().splitlines()
    assert rows[2] == "16 imported, 3 changed, 6 skipped."
    for row in (
        "| user | alice | imported |  |",
        "| user | dave.okafor | imported |  |",
        "| contact method | alice: iPhone | skipped | PagerDuty's app push cannot move: add ntfy"
        " or Web Push on the profile page |",
        "| notification rule | alice: mobile-sms after 0m | skipped | low-urgency rules have no"
        " counterpart: SEV-4 pages wait for business hours |",
        "| layer | Primary On-Call: Old rotation | skipped | ended 2024-06-01T00:00:00-04:00 |",
        "| layer | Primary On-Call: Weekend nights | imported |  |",
        "| override | Primary On-Call: bob from 2024-06-21T09:00:00-04:00 | imported |  |",
        "| override | Primary On-Call: from 2024-06-01T09:00:00-04:00 | skipped | over |",
        "| schedule | Primary On-Call | changed | named primary-on-call |",
        "| integration | Checkout API: Prometheus | imported | its routing key is kept |",
        "| integration | Checkout API: Email | skipped | generic_email_inbound_integration has no"
        " counterpart; Events API integrations move |",
        "| service | Checkout API | changed | its incidents auto-resolved after 4h: Tocsin"
        " resolves them with their alerts instead (auto_resolve) |",
        "| maintenance window | Database upgrade | skipped | 2024-06-29T02:00:00-04:00 to"
        " 2024-06-29T04:00:00-04:00: set it again with `tocsin maintenance add` |",
    ):
        assert row in rows
    # What was not imported as it was is also printed, one line each.
    assert "skipped  layer Primary On-Call: Old rotation: ended" in stdout
    assert "16 imported, 3 changed, 6 skipped" in err


def test_a_weekly_restriction_over_a_weekend_is_split_into_exact_days(
    cli: Cli, tmp_path: Path
) -> None:
    from tocsin import config

    run_import("pagerduty", cli, tmp_path, "--from-dir", str(FIXTURES))
    [schedule] = config.load(tmp_path / "tocsin.yaml").spec.schedules
    weekend = schedule.layers[1]
    # Friday 18:00 for 60 hours: to Monday 06:00, in the schedule's zone.
    assert [(r.days, r.from_, r.to) for r in weekend.restrictions] == [
        (["fri"], "18:00", "00:00"),
        (["sat"], "00:00", "00:00"),
        (["sun"], "00:00", "00:00"),
        (["mon"], "00:00", "06:00"),
    ]


@pytest.mark.parametrize(
    ("setup", "token", "message"),
    [
        (None, "expired-token", "GET /users: PagerDuty refused the token (401): it is wrong or"),
        ("forbid", TOKEN, "GET /schedules: the token may not read this (403)"),
        ("break", TOKEN, "GET /users: the answer is not JSON"),
    ],
)
def test_bad_answers_are_named_and_nothing_is_written(
    cli: Cli,
    tmp_path: Path,
    pagerduty: FakePagerDuty,
    setup: str | None,
    token: str,
    message: str,
) -> None:
    if setup == "forbid":
        pagerduty.forbidden.add("/schedules")
    if setup == "break":
        pagerduty.broken.add("/users")
    out = tmp_path / "out"
    out.mkdir()
    code, _out, err = run_import(
        "pagerduty", cli, out, "--api-url", pagerduty.url, "--token", token
    )
    assert code == 2
    assert err.startswith(f"error: {message}")
    assert len(err.strip().splitlines()) == 1
    assert list(out.iterdir()) == []  # nothing written


def test_a_server_error_is_tried_again_with_backoff(
    cli: Cli, tmp_path: Path, pagerduty: FakePagerDuty, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tocsin.importing

    monkeypatch.setattr(tocsin.importing, "BACKOFF", 0.01)  # the waits, not their length
    pagerduty.failing = 2  # the two requests after the 429 meet an outage
    out = tmp_path / "out"
    out.mkdir()
    code, _out, err = run_import(
        "pagerduty", cli, out, "--api-url", pagerduty.url, "--token", TOKEN
    )
    assert code == 0, err
    assert pagerduty.requests[:4] == [pagerduty.requests[0]] * 4  # 429, 503, 503, then 200
    assert "checkout-api" in (out / "tocsin.yaml").read_text()


def test_a_zone_that_does_not_exist_names_the_schedule(cli: Cli, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "pd"
    shutil.copytree(FIXTURES, copy)
    detail = copy / "schedules" / "PSCHED1.json"
    detail.write_text(detail.read_text().replace('"America/New_York"', '"America/Gotham"'))
    out = tmp_path / "out"
    out.mkdir()
    code, _out, err = run_import("pagerduty", cli, out, "--from-dir", str(copy))
    assert code == 2
    assert err.strip() == (
        "error: schedule Primary On-Call: time zone 'America/Gotham' does not exist"
    )
    assert list(out.iterdir()) == []


DST = FIXTURES.with_name("pagerduty-dst")


def test_verify_finds_the_schedules_the_same_across_both_dst_changes(
    dst_cli: Cli, tmp_path: Path
) -> None:
    cli = dst_cli
    out = tmp_path / "out"
    out.mkdir()
    code, stdout, err = run_import("pagerduty", cli, out, "--from-dir", str(DST), verify=True)
    assert code == 0, err
    assert "2 schedule(s) match PagerDuty's rendering at every instant" in err
    assert "differs" not in stdout
    # The file that matched is the file apply takes, and its schedules say the same.
    cli.ok("apply", "-f", str(out / "tocsin.yaml"))
    at = {
        "2024-10-28T07:30:00Z": "alice",  # Berlin: still alice, the handoff is 09:00 CET
        "2024-10-28T08:30:00Z": "bob",
    }
    for instant, user in at.items():
        berlin = cli.ok("oncall", "--schedule", "berlin-weekly", "--at", instant, "--json")
        assert berlin.json()["users"] == [user], instant


def test_verify_lists_every_stretch_that_differs(dst_cli: Cli, tmp_path: Path) -> None:
    import shutil

    cli = dst_cli
    copy = tmp_path / "pd"
    shutil.copytree(DST, copy)
    # Tocsin will read a handoff an hour early; PagerDuty's rendering is unchanged.
    detail = copy / "schedules" / "PBER001.json"
    detail.write_text(
        detail.read_text().replace("2024-10-07T09:00:00+02:00", "2024-10-07T08:00:00+02:00")
    )
    out = tmp_path / "out"
    out.mkdir()
    code, stdout, _err = run_import("pagerduty", cli, out, "--from-dir", str(copy), verify=True)
    assert code == 1
    lines = [line for line in stdout.splitlines() if line.startswith("differs")]
    assert lines[:2] == [
        "differs  berlin-weekly: 2024-10-14 08:00 to 2024-10-14 09:00 CEST: PagerDuty has alice,"
        " Tocsin has bob",
        "differs  berlin-weekly: 2024-10-21 08:00 to 2024-10-21 09:00 CEST: PagerDuty has bob,"
        " Tocsin has alice",
    ]
    assert len(lines) == 8  # every Monday handoff in the 8 weeks
    assert "## Schedules that differ" in (out / "report.md").read_text()
