"""An override id past what the database holds is not found, as a page, not a server error."""

from __future__ import annotations

import pytest

from tests.conftest import T0
from tests.web.conftest import Browser
from tocsin.config import ScheduleSpec
from tocsin.services import schedules
from tocsin.store.db import make_engine, make_sessionmaker


@pytest.mark.parametrize("value", ["2147483648", "99999999999999999999"])
def test_removing_an_override_out_of_range_is_not_found(browser: Browser, value: str) -> None:
    engine = make_engine(browser.db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        spec = ScheduleSpec.model_validate(
            {
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
        )
        schedules.put(session, spec, actor="alice", now=T0)
    engine.dispose()
    browser.login("alice")
    browser.get("/schedules/primary")
    answer = browser.post(f"/schedules/primary/overrides/{value}/delete")
    assert answer.status_code == 404
    assert f"schedule &#39;primary&#39; has no override {value}" in answer.text
