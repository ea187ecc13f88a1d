"""Time zone names that are not zones, even ones that are directories or too long for a file
name, are refused as bad input (they crashed as OSError before)."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api

V1 = "/api/v1"


@pytest.mark.parametrize("zone", ["Europe", "America", "x" * 300])
def test_a_bad_time_zone_is_bad_input(api: Api, zone: str) -> None:
    user = api.client.post(
        f"{V1}/users", json={"handle": "dan", "time_zone": zone}, headers=api.admin
    )
    assert user.status_code in (400, 422), user.text
    assert "unknown time zone" in user.json()["detail"]
    schedule = api.client.post(
        f"{V1}/schedules", json={"name": "primary", "time_zone": zone}, headers=api.admin
    )
    assert schedule.status_code in (400, 422), schedule.text
    assert "time zone" in schedule.json()["detail"]
    assert api.client.get(f"{V1}/users/dan", headers=api.admin).status_code == 404
