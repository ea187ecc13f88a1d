"""Schedules over HTTP: on-call, the final schedule, overrides, and iCalendar feeds."""

from __future__ import annotations

from datetime import UTC, datetime

import icalendar
import pytest
from sqlalchemy.orm import Session

from tests.api.conftest import Api
from tests.cli.test_schedule_cli import PRIMARY, PRIMARY_FINAL
from tocsin import config
from tocsin.services import config_apply as applier
from tocsin.store.db import make_engine, make_sessionmaker

V1 = "/api/v1"


@pytest.fixture
def primary(api: Api, db_url: str) -> None:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        applier.apply(session, config.parse(PRIMARY, "tocsin.yaml"), now=api.clock.now())
    engine.dispose()


def test_list_and_show(api: Api, primary: None) -> None:
    api.clock.set(datetime(2020, 3, 9, 15, 0, tzinfo=UTC))
    listed = api.client.get(f"{V1}/schedules", headers=api.reader).json()
    assert [(s["name"], s["time_zone"], s["on_call_now"]) for s in listed] == [
        ("primary", "America/Chicago", ["bob"])
    ]
    shown = api.client.get(f"{V1}/schedules/primary", headers=api.reader).json()
    assert shown["layers"][0]["restrictions"] == [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00"}
    ]
    assert api.client.get(f"{V1}/schedules/nope", headers=api.reader).status_code == 404


def test_final_schedule_and_oncall(api: Api, primary: None) -> None:
    final = api.client.get(
        f"{V1}/schedules/primary/final",
        params={"from": "2020-03-06T00:00", "to": "2020-03-10T00:00"},
        headers=api.reader,
    )
    assert final.json() == PRIMARY_FINAL
    oncall = api.client.get(
        f"{V1}/schedules/primary/oncall", params={"at": "2020-03-08T08:30"}, headers=api.reader
    )
    assert oncall.json() == {
        "schedule": "primary",
        "at": "2020-03-08T13:30:00Z",
        "users": ["carol"],
    }
    bad = api.client.get(
        f"{V1}/schedules/primary/final", params={"from": "soon"}, headers=api.reader
    )
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith("from: time 'soon' is not valid")
    backwards = api.client.get(
        f"{V1}/schedules/primary/final",
        params={"from": "2020-03-10T00:00", "to": "2020-03-06T00:00"},
        headers=api.reader,
    )
    assert backwards.status_code == 400


def test_override_crud(api: Api, primary: None) -> None:
    created = api.client.post(
        f"{V1}/schedules/primary/overrides",
        json={"user": "bob", "start": "2020-03-07T10:00", "end": "2020-03-07T12:00"},
        headers=api.writer,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["start"], body["end"], body["created_by"]) == (
        "2020-03-07T16:00:00Z",
        "2020-03-07T18:00:00Z",
        "alice",
    )
    at = {"at": "2020-03-07T11:00"}
    oncall = api.client.get(f"{V1}/schedules/primary/oncall", params=at, headers=api.reader)
    assert oncall.json()["users"] == ["bob"]
    listed = api.client.get(
        f"{V1}/schedules/primary/overrides", params={"all": "true"}, headers=api.reader
    ).json()
    assert len(listed) == 2
    bad = api.client.post(
        f"{V1}/schedules/primary/overrides",
        json={"user": "zed", "start": "later", "end": "2020-03-07T09:00"},
        headers=api.writer,
    )
    assert bad.status_code == 400
    assert bad.json()["errors"] == [
        "start: time 'later' is not valid: expected ISO-8601 such as 2020-03-08T08:30, "
        "2020-03-08T08:30Z or 2020-03-08T08:30+02:00"
    ]
    backwards = api.client.post(
        f"{V1}/schedules/primary/overrides",
        json={"user": "bob", "start": "2020-03-07T12:00", "end": "2020-03-07T10:00"},
        headers=api.writer,
    )
    assert backwards.status_code == 400
    assert "not after its start" in backwards.json()["detail"]
    deleted = api.client.delete(
        f"{V1}/schedules/primary/overrides/{body['id']}", headers=api.writer
    )
    assert deleted.status_code == 204
    oncall = api.client.get(f"{V1}/schedules/primary/oncall", params=at, headers=api.reader)
    assert oncall.json()["users"] == []


def test_put_schedule_validates_like_the_file(api: Api) -> None:
    answer = api.client.post(
        f"{V1}/schedules",
        json={
            "name": "db",
            "time_zone": "Europe/Berlin",
            "layers": [
                {
                    "name": "weekly",
                    "rotation": "3 fortnights",
                    "start": "2024-01-01T09:00",
                    "participants": ["alice", "zed"],
                }
            ],
        },
        headers=api.admin,
    )
    assert answer.status_code == 400
    assert answer.json()["errors"] == [
        "layers[0].rotation: schedule 'db': rotation '3 fortnights' has an unknown unit "
        "'fortnights': expected one of hours, days, weeks, months",
        "layers[0].participants[1]: schedule 'db': unknown user 'zed'",
    ]
    ok = api.client.post(
        f"{V1}/schedules",
        json={
            "name": "db",
            "time_zone": "Europe/Berlin",
            "layers": [
                {
                    "name": "weekly",
                    "rotation": "1 week",
                    "start": "2024-01-01T09:00",
                    "participants": ["alice", "bob"],
                }
            ],
        },
        headers=api.admin,
    )
    assert ok.status_code == 201


def _calendar_token(api: Api, user: str = "carol") -> str:
    answer = api.client.post(
        f"{V1}/tokens",
        json={"user": user, "name": "calendar", "scopes": ["calendar"]},
        headers=api.admin,
    )
    return str(answer.json()["token"])


def test_schedule_ical_feed_parses_and_covers_90_days(api: Api, primary: None) -> None:
    api.clock.set(datetime(2020, 3, 6, 6, 0, tzinfo=UTC))
    token = _calendar_token(api)
    feed = api.client.get(f"{V1}/schedules/primary.ics", params={"token": token})
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(feed.content)
    events = list(calendar.walk("VEVENT"))
    first = [(str(e["summary"]), e.decoded("dtstart"), e.decoded("dtend")) for e in events[:4]]
    assert first == [
        (
            "GAP: nobody on call",
            datetime(2020, 3, 6, 6, tzinfo=UTC),
            datetime(2020, 3, 6, 15, tzinfo=UTC),
        ),
        (
            "On call: alice",
            datetime(2020, 3, 6, 15, tzinfo=UTC),
            datetime(2020, 3, 6, 23, tzinfo=UTC),
        ),
        (
            "GAP: nobody on call",
            datetime(2020, 3, 6, 23, tzinfo=UTC),
            datetime(2020, 3, 8, 13, 30, tzinfo=UTC),
        ),
        (
            "On call: carol",
            datetime(2020, 3, 8, 13, 30, tzinfo=UTC),
            datetime(2020, 3, 8, 13, 45, tzinfo=UTC),
        ),
    ]
    assert events[-1].decoded("dtend") == datetime(2020, 6, 4, 6, tzinfo=UTC)  # 90 days on
    assert len({str(e["uid"]) for e in events}) == len(events)


def test_user_ical_feed_lists_only_that_users_time(api: Api, primary: None) -> None:
    api.clock.set(datetime(2020, 3, 6, 6, 0, tzinfo=UTC))
    token = _calendar_token(api)
    feed = api.client.get(f"{V1}/users/carol/oncall.ics", params={"token": token})
    events = list(icalendar.Calendar.from_ical(feed.content).walk("VEVENT"))
    assert [(str(e["summary"]), e.decoded("dtstart")) for e in events] == [
        ("On call: primary", datetime(2020, 3, 8, 13, 30, tzinfo=UTC))
    ]
    alice = icalendar.Calendar.from_ical(
        api.client.get(f"{V1}/users/alice/oncall.ics", params={"token": token}).content
    )
    # Mon-Fri 09:00-17:00 on alternate days over 90 days
    assert len(list(alice.walk("VEVENT"))) > 20


def test_calendar_tokens_read_feeds_and_nothing_else(api: Api, primary: None) -> None:
    token = _calendar_token(api)
    assert api.client.get(f"{V1}/schedules/primary.ics").status_code == 401
    assert (
        api.client.get(f"{V1}/schedules/primary.ics", params={"token": "tsn_x"}).status_code == 401
    )
    by_header = api.client.get(
        f"{V1}/schedules/primary.ics", headers={"Authorization": f"Bearer {token}"}
    )
    assert by_header.status_code == 200
    refused = api.client.get(f"{V1}/incidents", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403
    assert api.client.get(f"{V1}/schedules/primary.ics", headers=api.reader).status_code == 200


def test_schedules_need_a_token(api: Api, primary: None, db_url: str) -> None:
    assert api.client.get(f"{V1}/schedules").status_code == 401
    assert (
        api.client.post(
            f"{V1}/schedules/primary/overrides",
            json={"user": "bob", "start": "2020-03-07T10:00", "end": "2020-03-07T12:00"},
            headers=api.reader,
        ).status_code
        == 403
    )
    engine = make_engine(db_url)
    with Session(engine) as session:
        from tocsin.store.models import ScheduleOverride

        assert session.query(ScheduleOverride).count() == 1  # only the config's
    engine.dispose()
