"""`tocsin import opsgenie`: an Opsgenie account moves in through its REST API (a local fake
serving answers in the documented shapes, paged by `paging.next`, with a 429 first) or from
the same answers saved to files; the kept API key pages the on-call person through the real
opsgenie-sdk client."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, run_import
from tests.conftest import LiveServer
from tests.engine.test_escalation_flow import engine_for
from tests.fakes.sources import GENIE_KEY, OPSGENIE, FakePagerDuty, fake_pagerduty
from tocsin.services import incidents
from tocsin.store.db import make_engine, make_sessionmaker

OG_KEY = "eb243592-faa2-4ba2-a551-1afdf565c889"


@pytest.fixture
def opsgenie() -> Iterator[FakePagerDuty]:
    with fake_pagerduty(opsgenie=True) as fake:
        yield fake


def test_import_apply_and_the_kept_key_pages_the_schedules_on_call(
    cli: Cli, tmp_path: Path, opsgenie: FakePagerDuty, stepped_server: LiveServer
) -> None:
    code, _out, err = run_import(
        "opsgenie", cli, tmp_path / "api", "--api-url", opsgenie.url, "--token", GENIE_KEY
    )
    assert code == 0, err
    assert opsgenie.requests[0] == opsgenie.requests[1]  # a 429, waited out
    assert sum(r.startswith("/v2/users?") for r in opsgenie.requests) == 1 + 2  # two pages
    code, _out, err = run_import("opsgenie", cli, tmp_path / "folder", "--from-dir", str(OPSGENIE))
    assert code == 0, err
    config = (tmp_path / "api" / "tocsin.yaml").read_text()
    assert config == (tmp_path / "folder" / "tocsin.yaml").read_text()
    keys = tmp_path / "api" / "tocsin.keys.yaml"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert OG_KEY not in config and OG_KEY in keys.read_text()

    cli.ok("apply", "-f", str(tmp_path / "api" / "tocsin.yaml"), "--keys", str(keys))
    # Thursday 12:30 in Berlin: the weekday rotation's first week, alice's turn; no night.
    on_call = {s["schedule"]: s["users"] for s in cli.ok("oncall", "--json").json()}
    assert on_call == {"payments-schedule-weekdays": ["alice"], "payments-schedule-nights": []}

    import opsgenie_sdk

    configuration = opsgenie_sdk.Configuration()
    configuration.api_key["Authorization"] = OG_KEY
    configuration.host = stepped_server.url
    configuration.retry_enabled = False
    client = opsgenie_sdk.ApiClient(configuration=configuration)
    opsgenie_sdk.AlertApi(api_client=client).create_alert(
        create_alert_payload=opsgenie_sdk.CreateAlertPayload(
            message="Card payments failing", alias="cards", priority="P1", source="alertmanager"
        )
    )
    client.rest_client.pool_manager.clear()
    engine = make_engine(cli.db_url)
    sessions = make_sessionmaker(engine)
    assert stepped_server.clock is not None
    engine_for(sessions, stepped_server.clock).run_once()
    with sessions() as session:
        timeline = [e.message for e in incidents.get(session, "INC-1").events]
    engine.dispose()
    assert (
        "Paging alice (payments-escalation level 1: schedule:payments-schedule-weekdays,"
        " schedule:payments-schedule-nights) via email, voice" in timeline
    )


def test_the_report_and_the_schedule_say_what_changed(cli: Cli, tmp_path: Path) -> None:
    from tocsin import config

    code, _stdout, err = run_import("opsgenie", cli, tmp_path / "out", "--from-dir", str(OPSGENIE))
    assert code == 0, err
    rows = (tmp_path / "out" / "report.md").read_text().splitlines()
    for row in (
        "| rotation | Payments Schedule: Weekdays | changed | a 'none' participant is a turn with"
        " nobody on call (-) |",
        "| rotation | Payments Schedule: Nights | changed | the turn of team participant"
        " Payments has nobody on call: layers take users |",
        "| schedule | Payments Schedule | changed | split into payments-schedule-weekdays,"
        " payments-schedule-nights: Opsgenie pages everyone on call in every rotation, and each"
        " escalation that notifies it pages all of these |",
        "| escalation rule | Payments Escalation: next of schedule Payments Schedule | skipped |"
        " the next on-call has no counterpart |",
        "| integration | Alertmanager | imported | its API key is kept |",
        "| integration | Payments email | skipped | Email integrations have no counterpart |",
        "| heartbeat | nightly-backup | imported |  |",
        "| contact method | alice: mobile | skipped | the Opsgenie app's push cannot move: add"
        " ntfy or Web Push on the profile page |",
    ):
        assert row in rows
    first, second = config.load(tmp_path / "out" / "tocsin.yaml").spec.schedules
    [weekdays], [nights] = first.layers, second.layers
    assert weekdays.participants == ["alice", "-", "bob"]
    # Monday 09:00 to Friday 18:00, split into exact days.
    assert [(r.days, r.from_, r.to) for r in weekdays.restrictions] == [
        (["mon"], "09:00", "00:00"),
        (["tue"], "00:00", "00:00"),
        (["wed"], "00:00", "00:00"),
        (["thu"], "00:00", "00:00"),
        (["fri"], "00:00", "18:00"),
    ]
    assert [(r.days, r.from_, r.to) for r in nights.restrictions] == [(None, "18:00", "09:00")]
    assert nights.participants == ["bob", "-"]  # the team's turn keeps its place, with nobody
    [policy] = config.load(tmp_path / "out" / "tocsin.yaml").spec.escalation_policies
    # Rules at 0 and 15 minutes from the alert: levels 15 minutes apart, then 5 before a repeat.
    assert [(lv.targets, lv.delay) for lv in policy.levels] == [
        (["schedule:payments-schedule-weekdays", "schedule:payments-schedule-nights"], "15m"),
        (["user:alice"], "5m"),
    ]
    assert policy.repeat == 2


def test_a_refused_key_is_one_line_and_nothing_is_written(
    cli: Cli, tmp_path: Path, opsgenie: FakePagerDuty
) -> None:
    code, _out, err = run_import(
        "opsgenie", cli, tmp_path / "out", "--api-url", opsgenie.url, "--token", "nope"
    )
    assert code == 2
    assert err.strip() == (
        "error: GET /v2/users: Opsgenie refused the token (401): it is wrong or expired"
    )
    assert list((tmp_path / "out").iterdir()) == []


def test_verify_agrees_with_opsgenies_timeline_across_the_clock_change(
    dst_cli: Cli, tmp_path: Path
) -> None:
    code, stdout, err = run_import(
        "opsgenie",
        dst_cli,
        tmp_path / "out",
        "--from-dir",
        str(OPSGENIE.with_name("opsgenie-dst")),
        verify=True,
    )
    assert code == 0, stdout + err
    assert "1 schedule(s) match Opsgenie's rendering at every instant" in err
