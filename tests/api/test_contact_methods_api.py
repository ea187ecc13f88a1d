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
    too_late = {"name": "desk", "type": "console", "after": "99999d"}
    refused = api.client.post(URL, json=too_late, headers=api.writer)
    assert refused.json()["errors"] == [
        "after: '99999d' is more than a day; a rule fires within 24h of the page"
    ]


def test_only_an_admin_points_a_method_inside_the_network(api: Api) -> None:
    for url in ("http://127.0.0.1:5432/", "http://169.254.169.254/latest", "http://db.internal/"):
        body = {"name": "hook", "type": "webhook", "target": url}
        refused = api.client.post(URL, json=body, headers=api.writer)
        assert refused.status_code == 400, url
        assert "only an admin may point a method inside the network" in refused.text
    body = {"name": "hook", "type": "webhook", "target": "http://10.1.2.3/hook"}
    admin = api.client.post(URL, json=body, headers=api.admin)
    assert admin.status_code == 201


def test_a_test_result_is_only_its_owners(api: Api) -> None:
    body = {"name": "desk", "type": "console"}
    api.client.post("/api/v1/users/bob/contact-methods", json=body, headers=api.admin)
    queued = api.client.post(
        "/api/v1/users/bob/contact-methods/desk/test", headers=api.admin
    ).json()
    # alice may read her own tests: asking for bob's by its number through hers finds nothing.
    peek = api.client.get(f"{URL}/tests/{queued['test']}", headers=api.writer)
    assert peek.status_code == 404


def test_someone_elses_methods_need_an_admin(api: Api) -> None:
    body = {"name": "desk", "type": "console"}
    assert api.client.post(URL, json=body, headers=api.reader).status_code == 403  # read only
    bobs = "/api/v1/users/bob/contact-methods"
    refused = api.client.post(bobs, json=body, headers=api.writer)  # alice, for bob
    assert refused.status_code == 403
    assert "only bob or an admin" in refused.text
    assert api.client.post(bobs, json=body, headers=api.admin).status_code == 201
    secret = {"name": "hook", "type": "webhook", "target": "https://u:pw@h.example:8443/t/s3cr3t"}
    made = api.client.post(bobs, json=secret, headers=api.admin).json()
    assert made["target"] == "https://h.example:8443/…"  # a URL's path may hold a token
