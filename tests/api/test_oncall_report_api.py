"""`GET /api/v1/reports/oncall`: the on-call hours report over HTTP, for any reader."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api
from tests.cli.test_report_oncall_cli import SPRING
from tocsin import config
from tocsin.services import config_apply as applier
from tocsin.store.db import make_engine, make_sessionmaker

URL = "/api/v1/reports/oncall"


@pytest.fixture
def primary(api: Api, db_url: str) -> None:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        applier.apply(session, config.parse(SPRING, "tocsin.yaml"), now=api.clock.now())
    engine.dispose()


def test_a_reader_gets_the_hours_of_each_person(api: Api, primary: None) -> None:
    # Fri 2024-03-29 to Mon 04-01, Berlin: alice Fri 09:00-Sat 09:00 CET (8 business, 5 evening,
    # 2 night, 9 weekend) and Sun 09:00-24:00 CEST (15 weekend); bob Sat 09:00 CET to Sun 09:00
    # CEST, 23 real hours of weekend (New York time, all Saturday and Sunday there too).
    answer = api.client.get(
        URL,
        params={"from": "2024-03-29", "to": "2024-04-01", "schedule": "primary"},
        headers=api.reader,
    )
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert (data["from"], data["to"], data["schedules"]) == (
        "2024-03-28T23:00:00Z",
        "2024-03-31T22:00:00Z",
        ["primary"],
    )
    assert data["people"] == [
        {
            "user": "alice",
            "name": "Alice",
            "time_zone": "Europe/Berlin",
            "total_hours": 39.0,
            "business_hours": 8.0,
            "evening_hours": 5.0,
            "night_hours": 2.0,
            "weekend_hours": 24.0,
            "pages": 0,
            "night_pages": 0,
        },
        {
            "user": "bob",
            "name": "Bob",
            "time_zone": "America/New_York",
            "total_hours": 23.0,
            "business_hours": 0.0,
            "evening_hours": 0.0,
            "night_hours": 0.0,
            "weekend_hours": 23.0,
            "pages": 0,
            "night_pages": 0,
        },
    ]
    assert data["totals"]["total_hours"] == 62.0


def test_every_problem_is_listed_and_unknown_schedules_named(api: Api, primary: None) -> None:
    both = api.client.get(URL, params={"from": "soon", "to": "later"}, headers=api.reader)
    assert both.status_code == 400
    assert both.json()["errors"] == [
        "from: time 'soon' is not valid: expected ISO-8601 such as 2020-03-08T08:30, "
        "2020-03-08T08:30Z or 2020-03-08T08:30+02:00",
        "to: time 'later' is not valid: expected ISO-8601 such as 2020-03-08T08:30, "
        "2020-03-08T08:30Z or 2020-03-08T08:30+02:00",
    ]
    long = api.client.get(
        URL, params={"from": "2024-01-01", "to": "2025-01-02"}, headers=api.reader
    )
    assert long.status_code == 400
    assert "over a year" in long.json()["detail"]
    unknown = api.client.get(
        URL,
        params={"from": "2024-03-29", "to": "2024-04-01", "schedule": ["primary", "x\x00y"]},
        headers=api.reader,
    )
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "unknown schedule 'x\\x00y' (schedules: primary)"
    missing = api.client.get(URL, params={"from": "2024-03-29"}, headers=api.reader)
    assert missing.status_code == 422


def test_it_needs_a_token(api: Api) -> None:
    answer = api.client.get(URL, params={"from": "2024-03-29", "to": "2024-04-01"})
    assert answer.status_code == 401
