"""`tocsin import grafana-oncall`: a Grafana OnCall instance moves in through its public API (a
local fake serving answers in the documented shapes, paged by page number, with a 429 first)
or from the same answers saved to files; Alertmanager keeps posting to the same token, and the
on-call person is paged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import Cli, run_import
from tests.conftest import LiveServer
from tests.engine.test_escalation_flow import engine_for
from tests.fakes.sources import GRAFANA, ONCALL_TOKEN, FakePagerDuty, fake_pagerduty
from tocsin.services import incidents
from tocsin.store.db import make_engine, make_sessionmaker

TOKEN_IN_URL = "Zb3nQ7xY2pL9kD4rT6vW8sH1m"
FIRING = Path(__file__).resolve().parents[1] / "fixtures" / "alertmanager-0.25"


@pytest.fixture
def oncall() -> Iterator[FakePagerDuty]:
    with fake_pagerduty(grafana=True) as fake:
        yield fake


def _alert() -> dict[str, object]:
    """An Alertmanager 0.25 webhook body, from a captured request, firing."""
    raw = (FIRING / "req01-webhook_alertmanager.http").read_text()
    body = json.loads(raw.split("\n\n", 1)[1])
    assert isinstance(body, dict)
    for alert in body["alerts"]:
        alert["labels"]["severity"] = "critical"  # pages, as a warning would not
    return body


def test_import_apply_and_alertmanager_keeps_its_token(
    cli: Cli, tmp_path: Path, oncall: FakePagerDuty, stepped_server: LiveServer
) -> None:
    code, _out, err = run_import(
        "grafana-oncall", cli, tmp_path / "api", "--api-url", oncall.url, "--token", ONCALL_TOKEN
    )
    assert code == 0, err
    assert oncall.requests[0] == oncall.requests[1]  # a 429, waited out
    assert "/api/v1/users/?page=2" in oncall.requests  # four users, two a page
    code, _out, err = run_import(
        "grafana-oncall", cli, tmp_path / "folder", "--from-dir", str(GRAFANA)
    )
    assert code == 0, err
    config = (tmp_path / "api" / "tocsin.yaml").read_text()
    assert config == (tmp_path / "folder" / "tocsin.yaml").read_text()
    keys = tmp_path / "api" / "tocsin.keys.yaml"
    assert f"alertmanager-prod/alertmanager: {TOKEN_IN_URL}" in keys.read_text()
    assert TOKEN_IN_URL not in config

    cli.ok("apply", "-f", str(tmp_path / "api" / "tocsin.yaml"), "--keys", str(keys))
    # Thursday 06:30 in New York: the weekly shift's first week, alice; dave has weekends.
    assert cli.ok("oncall", "--json").json()[0]["users"] == ["alice"]
    assert cli.ok("oncall", "--at", "2024-06-22T12:00", "--json").json()[0]["users"] == ["dave"]
    # The override shift: bob, 09:00-17:00 on Friday the 21st.
    assert cli.ok("oncall", "--at", "2024-06-21T10:00", "--json").json()[0]["users"] == ["bob"]

    # Alertmanager keeps its URL's token: only the host changes.
    answer = httpx.post(f"{stepped_server.url}/hooks/alertmanager/{TOKEN_IN_URL}", json=_alert())
    assert answer.status_code == 200, answer.text
    engine = make_engine(cli.db_url)
    sessions = make_sessionmaker(engine)
    assert stepped_server.clock is not None
    engine_for(sessions, stepped_server.clock).run_once()
    with sessions() as session:
        timeline = [e.message for e in incidents.get(session, "INC-1").events]
    engine.dispose()
    assert "Paging alice (primary-chain level 1: schedule:primary) via email" in timeline


def test_the_report_names_what_could_not_move(cli: Cli, tmp_path: Path) -> None:
    code, _stdout, err = run_import(
        "grafana-oncall", cli, tmp_path / "out", "--from-dir", str(GRAFANA)
    )
    assert code == 0, err
    rows = (tmp_path / "out" / "report.md").read_text().splitlines()
    for row in (
        "| schedule | Legacy | skipped | an iCal schedule: rebuild it as layers |",
        "| notification rule | alice: phone call after 5m | skipped | the API gives no phone"
        " number: add it on the profile page |",
        "| route | Alertmanager prod: severity=critical | skipped | a regex route: rebuild it as"
        " a label route |",
        "| integration | Zabbix | skipped | zabbix integrations have no counterpart |",
        "| integration | Alertmanager prod | imported | its URL's token is kept as its key |",
        "| shift | Primary: Cover | changed | a one-off shift is an override |",
    ):
        assert row in rows


def test_an_invalid_token_is_one_line_and_nothing_is_written(
    cli: Cli, tmp_path: Path, oncall: FakePagerDuty
) -> None:
    code, _out, err = run_import(
        "grafana-oncall", cli, tmp_path / "out", "--api-url", oncall.url, "--token", "nope"
    )
    assert code == 2
    assert err.strip() == (
        "error: GET /api/v1/users/: Grafana OnCall refused the token (401): it is wrong or expired"
    )
    assert list((tmp_path / "out").iterdir()) == []


def test_verify_agrees_with_the_final_shifts_across_the_clock_change(
    dst_cli: Cli, tmp_path: Path
) -> None:
    code, stdout, err = run_import(
        "grafana-oncall",
        dst_cli,
        tmp_path / "out",
        "--from-dir",
        str(GRAFANA.with_name("grafana-oncall-dst")),
        verify=True,
    )
    assert code == 0, stdout + err
    assert "1 schedule(s) match Grafana OnCall's rendering at every instant" in err
