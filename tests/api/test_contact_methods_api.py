"""Contact methods over the API: people manage their own, admins everyone's."""

from __future__ import annotations

from tests.api.conftest import Api

URL = "/api/v1/users/alice/contact-methods"


def test_own_methods_added_tested_and_removed(api: Api) -> None:
    body = {"name": "phone", "type": "sms", "target": "+4915112345678", "after": "5m"}
    created = api.client.post(URL, json=body, headers=api.writer)
    assert created.status_code == 201, created.text
    assert created.json() == {
        "name": "phone",
        "type": "sms",
        "target": "+4915112345678",
        "after": ["5m"],
        "last_test": None,
    }
    queued = api.client.post(f"{URL}/phone/test", headers=api.writer)
    assert queued.status_code == 202
    test = queued.json()["test"]
    shown = api.client.get(f"{URL}/tests/{test}", headers=api.writer).json()
    assert shown == {"test": test, "status": "pending"}
    listed = api.client.get(URL, headers=api.writer).json()
    assert [(m["name"], m["last_test"]) for m in listed] == [("phone", "pending")]
    assert api.client.delete(f"{URL}/phone", headers=api.writer).status_code == 204
    assert api.client.get(URL, headers=api.writer).json() == []


def test_every_problem_is_listed_and_nothing_changes(api: Api) -> None:
    body = {"name": "", "type": "voice", "target": "0151", "after": "later"}
    refused = api.client.post(URL, json=body, headers=api.writer)
    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        "name: must be 1 to 50 characters",
        "number: a voice method needs a phone number in E.164 form, + and 8 to 15 digits like"
        " +4915112345678 (got '0151')",
        "after: 'later' is not a duration; write it like 30s, 15m, 1h, 1h30m or 2d",
    ]
    assert api.client.get(URL, headers=api.writer).json() == []


def test_someone_elses_methods_need_an_admin(api: Api) -> None:
    body = {"name": "desk", "type": "console"}
    assert api.client.post(URL, json=body, headers=api.reader).status_code == 403  # read only
    bobs = "/api/v1/users/bob/contact-methods"
    refused = api.client.post(bobs, json=body, headers=api.writer)  # alice, for bob
    assert refused.status_code == 403
    assert "only bob or an admin" in refused.text
    assert api.client.post(bobs, json=body, headers=api.admin).status_code == 201
    secret = {"name": "hook", "type": "webhook", "target": "https://h.example/t/s3cr3t?k=v"}
    made = api.client.post(bobs, json=secret, headers=api.admin).json()
    assert made["target"] == "https://h.example/…"  # a URL's path may hold a token
