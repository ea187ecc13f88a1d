"""Shift swaps over HTTP: ask, show with warnings, accept (first wins), cancel; on SQLite and
PostgreSQL, on a schedule a team owns."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api
from tests.conftest import T0
from tocsin import config
from tocsin.services import config_apply as applier
from tocsin.store import tokens
from tocsin.store.db import make_engine, make_sessionmaker

V1 = "/api/v1"
# T0 is Thursday 2024-06-20 10:30 UTC: alice's day (09:00 Berlin handoffs); dave is no teammate.
CONFIG = """\
teams:
  - {slug: ops, name: Ops, members: [alice, bob, carol]}
schedules:
  - name: ops
    team: ops
    time_zone: Europe/Berlin
    layers:
      - name: primary
        rotation: 1 day
        start: "2024-06-17T09:00"
        participants: [alice, bob, carol]
"""


@pytest.fixture
def writers(api: Api, db_url: str) -> dict[str, dict[str, str]]:
    """Write tokens of bob, carol and dave (alice's is `api.writer`)."""
    from tocsin.store import users

    engine = make_engine(db_url)
    found = {}
    with make_sessionmaker(engine)() as session, session.begin():
        users.create(session, handle="dave", name="Dave", now=T0)
        applier.apply(session, config.parse(CONFIG, "tocsin.yaml"), now=T0)
        for handle in ("bob", "carol", "dave"):
            _, secret = tokens.create(session, handle=handle, name="w", scopes="read,write", now=T0)
            found[handle] = {"Authorization": f"Bearer {secret}"}
    engine.dispose()
    return found


def test_ask_show_accept_and_conflict(api: Api, writers: dict[str, dict[str, str]]) -> None:
    asked = api.client.post(
        f"{V1}/schedules/ops/swaps",
        json={"start": "2024-06-20T14:00", "end": "2024-06-20T18:00", "note": "dentist"},
        headers=api.writer,
    )
    assert asked.status_code == 201, asked.text
    swap = asked.json()
    assert (swap["requester"], swap["status"], swap["start"], swap["end"]) == (
        "alice",
        "open",
        "2024-06-20T12:00:00Z",
        "2024-06-20T16:00:00Z",
    )
    shown = api.client.get(f"{V1}/swaps/{swap['id']}", headers=writers["bob"]).json()
    assert (shown["may_accept"], shown["warnings"]) == (True, [])
    listed = api.client.get(f"{V1}/schedules/ops/swaps?open=true", headers=api.reader).json()
    assert [s["id"] for s in listed] == [swap["id"]]

    stranger = api.client.post(f"{V1}/swaps/{swap['id']}/accept", headers=writers["dave"])
    assert stranger.status_code == 403
    assert "only its teammates (members of team ops) may" in stranger.json()["detail"]

    taken = api.client.post(f"{V1}/swaps/{swap['id']}/accept", headers=writers["carol"])
    assert taken.status_code == 200, taken.text
    assert (taken.json()["status"], taken.json()["taker"]) == ("accepted", "carol")
    late = api.client.post(f"{V1}/swaps/{swap['id']}/accept", headers=writers["bob"])
    assert late.status_code == 409
    assert late.json()["detail"] == f"swap request {swap['id']} was already taken by @carol"
    cancel = api.client.post(f"{V1}/swaps/{swap['id']}/cancel", headers=api.writer)
    assert cancel.status_code == 409

    oncall = api.client.get(
        f"{V1}/schedules/ops/oncall?at=2024-06-20T15:00", headers=api.reader
    ).json()
    assert oncall["users"] == ["carol"]
    overrides = api.client.get(f"{V1}/schedules/ops/overrides", headers=api.reader).json()
    assert [(o["user"], o["source"]) for o in overrides] == [("carol", "swap")]


def test_every_problem_is_listed_with_422_and_nothing_is_made(
    api: Api, writers: dict[str, dict[str, str]]
) -> None:
    refused = api.client.post(
        f"{V1}/schedules/ops/swaps",
        json={"start": "2024-06-21T10:00", "end": "2024-06-21T10:05", "note": "x" * 1000},
        headers=writers["bob"],
    )
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        "the range is too short: at least 15 minutes of time still ahead"
    ]
    not_hers = api.client.post(
        f"{V1}/schedules/ops/swaps",
        json={"start": "2024-06-21T10:00", "end": "2024-06-21T12:00"},
        headers=api.writer,
    )
    assert not_hers.status_code == 422
    assert not_hers.json()["errors"] == [
        "@alice is not on call on ops from Fri 2024-06-21 10:00 CEST to Fri 2024-06-21 12:00 "
        "CEST: ask only for cover of your own on-call time"
    ]
    garbled = api.client.post(
        f"{V1}/schedules/ops/swaps", json={"start": "soon", "end": "later"}, headers=api.writer
    )
    assert garbled.status_code == 422
    assert [e.split(":")[0] for e in garbled.json()["errors"]] == ["start", "end"]
    too_long = api.client.post(
        f"{V1}/schedules/ops/swaps",
        json={"start": "2024-06-20T14:00", "end": "2024-06-20T18:00", "note": "x" * 1001},
        headers=api.writer,
    )
    assert too_long.status_code == 422
    reader = api.client.post(
        f"{V1}/schedules/ops/swaps",
        json={"start": "2024-06-20T14:00", "end": "2024-06-20T18:00"},
        headers=api.reader,
    )
    assert reader.status_code == 403
    assert api.client.get(f"{V1}/schedules/ops/swaps", headers=api.reader).json() == []


def test_the_requester_cancels_before_anyone_accepts(
    api: Api, writers: dict[str, dict[str, str]]
) -> None:
    swap = api.client.post(
        f"{V1}/schedules/ops/swaps",
        json={"start": "2024-06-20T14:00", "end": "2024-06-20T18:00"},
        headers=api.writer,
    ).json()
    assert (
        api.client.post(f"{V1}/swaps/{swap['id']}/cancel", headers=writers["bob"]).status_code
        == 403
    )
    cancelled = api.client.post(f"{V1}/swaps/{swap['id']}/cancel", headers=api.writer)
    assert cancelled.json()["status"] == "cancelled"
    assert (
        api.client.post(f"{V1}/swaps/{swap['id']}/accept", headers=writers["bob"]).status_code
        == 409
    )
    assert api.client.get(f"{V1}/swaps/999999", headers=api.reader).status_code == 404
