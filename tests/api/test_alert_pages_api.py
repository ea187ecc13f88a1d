"""GET /api/v1/alerts answers 100 alerts unless asked, and a cursor to the next page."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from tests.api.conftest import Api
from tests.conftest import T0
from tocsin.core.alerts import AlertAction, AlertEvent
from tocsin.services import alerts
from tocsin.store import integrations
from tocsin.store.db import make_engine, make_sessionmaker


def _alerts(api: Api, n: int) -> None:
    engine = make_engine(str(api.client.app.state.settings.database_url))  # type: ignore[attr-defined]
    with make_sessionmaker(engine)() as session, session.begin():
        integration, _key = integrations.create(
            session, service="api-gateway", type="generic", name="g", now=T0
        )
        _ingest(session, integration, n)
    engine.dispose()


def _ingest(session: Session, integration: object, n: int) -> None:
    for start in range(0, n, 50):
        events = [
            AlertEvent(AlertAction.TRIGGER, f"k{i}", summary=f"alert {i}", severity="info")
            for i in range(start, min(n, start + 50))
        ]
        alerts.ingest(session, integration, events, now=T0 + timedelta(seconds=start))  # type: ignore[arg-type]


def test_alerts_come_100_at_a_time_with_a_link_to_the_next_page(api: Api) -> None:
    _alerts(api, 230)
    seen: list[int] = []
    answer = api.client.get("/api/v1/alerts", params={"service": "api-gateway"}, headers=api.reader)
    sizes = []
    while True:
        assert answer.status_code == 200, answer.text
        sizes.append(len(answer.json()))
        seen += [a["id"] for a in answer.json()]
        link = answer.headers.get("link")
        if link is None:
            assert "x-next-cursor" not in answer.headers
            break
        assert link.startswith("</api/v1/alerts?service=api-gateway&cursor=")
        assert link.endswith('>; rel="next"')
        assert link.split("cursor=")[1].split(">")[0] == answer.headers["x-next-cursor"]
        answer = api.client.get(link[1 : link.index(">")], headers=api.reader)
    assert sizes == [100, 100, 30]
    assert len(set(seen)) == 230
    whole = api.client.get("/api/v1/alerts?limit=1000", headers=api.reader).json()
    assert [a["id"] for a in whole] == seen
    assert "link" not in api.client.get("/api/v1/alerts?limit=1000", headers=api.reader).headers


def test_the_cursor_keeps_the_filters_and_the_limit(api: Api) -> None:
    _alerts(api, 30)
    first = api.client.get("/api/v1/alerts?limit=7&open=true&status=triggered", headers=api.reader)
    link = first.headers["link"]
    assert "limit=7" in link and "open=true" in link and "status=triggered" in link
    second = api.client.get(link[1 : link.index(">")], headers=api.reader).json()
    assert len(second) == 7
    assert not {a["id"] for a in second} & {a["id"] for a in first.json()}


def test_a_bad_cursor_is_a_clear_400(api: Api) -> None:
    _alerts(api, 3)
    answer = api.client.get("/api/v1/alerts?cursor=not-a-cursor", headers=api.reader)
    assert answer.status_code == 400
    body = answer.json()
    assert body["errors"] == [
        "cursor: 'not-a-cursor' is not a cursor of this list; pass the next cursor of an "
        "earlier answer unchanged, or none for the first page"
    ]
