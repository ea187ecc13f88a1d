"""Status-page subscribers over HTTP: administrators only, masked addresses, secret shown once,
and every change in the audit log."""

from __future__ import annotations

from sqlalchemy import select

from tests.api.conftest import Api
from tests.conftest import T0
from tocsin.store.db import make_engine, make_sessionmaker
from tocsin.store.models import AuditEntry, StatusComponent, StatusSubscriber

PATH = "/api/v1/status/subscribers"


def add_component(db_url: str) -> None:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        session.add(StatusComponent(slug="api", name="Public API", description="", created_at=T0))
        session.add(
            StatusSubscriber(
                kind="email",
                address="jane.doe@example.com",
                address_key="k",
                components=[],
                token="t",
                secret="",
                created_at=T0,
                confirmed_at=T0,
            )
        )
    engine.dispose()


def test_admins_add_list_and_remove_webhooks(api: Api, db_url: str) -> None:
    add_component(db_url)
    c = api.client
    body = {"url": "https://hooks.example.com/status?key=abc", "components": ["api"]}
    assert c.post(PATH, json=body, headers=api.writer).status_code == 403
    assert c.get(PATH, headers=api.reader).status_code == 403
    created = c.post(PATH, json=body, headers=api.admin)
    assert created.status_code == 201, created.text
    made = created.json()
    assert len(made["secret"]) == 64 and made["address"] == "https://hooks.example.com/***"
    assert c.post(PATH, json=body, headers=api.admin).status_code == 409
    listed = c.get(PATH, headers=api.admin).json()
    assert (listed["email_confirmed"], listed["webhooks"]) == (1, 1)
    assert [s["address"] for s in listed["subscribers"]] == [
        "j***@example.com",
        "https://hooks.example.com/***",
    ]
    assert "secret" not in listed["subscribers"][1]
    assert "jane.doe" not in c.get(PATH, headers=api.admin).text
    assert c.delete(f"{PATH}/{made['id']}", headers=api.admin).status_code == 204
    assert c.delete(f"{PATH}/{made['id']}", headers=api.admin).status_code == 404
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.object_type == "status subscriber")
        ).all()
        assert [(e.action, e.who) for e in entries] == [("created", "root"), ("deleted", "root")]
        assert all("abc" not in e.object_key for e in entries)
    engine.dispose()


def test_bad_webhooks_are_refused_with_every_problem(api: Api, db_url: str) -> None:
    add_component(db_url)
    answer = api.client.post(
        PATH, json={"url": "ftp://files.example.com", "components": ["nope"]}, headers=api.admin
    )
    assert answer.status_code in (400, 422)
    text = answer.text
    assert "http:// or https://" in text and "no status component nope" in text
    too_long = api.client.post(PATH, json={"url": "https://x/" + "a" * 2000}, headers=api.admin)
    assert too_long.status_code == 422
    assert api.client.get(PATH, headers=api.admin).json()["webhooks"] == 0
