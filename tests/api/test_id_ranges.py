"""Ids past what an INTEGER column holds are refused as bad input, never looked up (no 500)."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api

V1 = "/api/v1"
TOO_BIG = ("2147483648", "99999999999999999999")

# Every route with an integer in its path, with a body it would accept.
ROUTES = [
    ("GET", "/alerts/{id}", None),
    ("POST", "/alerts/{id}/acknowledge", None),
    ("POST", "/alerts/{id}/resolve", None),
    ("DELETE", "/integrations/{id}", None),
    ("DELETE", "/maintenance/{id}", None),
    ("DELETE", "/tokens/{id}", None),
    ("POST", "/actions/{id}/status", {"status": "done"}),
    ("DELETE", "/schedules/primary/overrides/{id}", None),
    # Incident references are numbers too.
    ("GET", "/incidents/INC-{id}", None),
    ("POST", "/incidents/{id}/acknowledge", None),
    ("GET", "/incidents/{id}/postmortem", None),
]


def _schedule(api: Api) -> None:
    spec = {
        "name": "primary",
        "time_zone": "UTC",
        "layers": [
            {
                "name": "weekly",
                "participants": ["alice", "bob"],
                "rotation": "1 week",
                "start": "2024-06-17T09:00",
            }
        ],
    }
    answer = api.client.post(f"{V1}/schedules", json=spec, headers=api.admin)
    assert answer.status_code == 201, answer.text


def test_ids_out_of_range_are_refused_on_every_route(api: Api) -> None:
    _schedule(api)
    answers = {}
    for method, path, body in ROUTES:
        for value in TOO_BIG:
            url = V1 + path.format(id=value)
            answer = api.client.request(method, url, json=body, headers=api.admin)
            answers[f"{method} {url}"] = (answer.status_code, answer.json())
    wrong = {k: v for k, v in answers.items() if v[0] not in (400, 404, 422)}
    assert wrong == {}
    for _status, body in answers.values():
        assert set(body) == {"detail", "errors"} and body["errors"]


@pytest.mark.parametrize("value", TOO_BIG)
def test_an_id_out_of_range_names_the_limit(api: Api, value: str) -> None:
    answer = api.client.get(f"{V1}/alerts/{value}", headers=api.reader)
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        "path.alert_id: Input should be less than or equal to 2147483647"
    ]


def test_an_id_in_range_that_does_not_exist_is_not_found(api: Api) -> None:
    answer = api.client.get(f"{V1}/alerts/2147483647", headers=api.reader)
    assert answer.status_code == 404
