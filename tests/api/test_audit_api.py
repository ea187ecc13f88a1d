"""The audit log over the API: changes through the API name their token, and administrators
read the log a page at a time; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api


def all_pages(api: Api, url: str) -> list[dict[str, Any]]:
    """Return every entry `url` lists, following the Link headers."""
    found: list[dict[str, Any]] = []
    while True:
        answer = api.client.get(url, headers=api.admin)
        assert answer.status_code == 200, answer.text
        found += answer.json()
        link = answer.headers.get("link")
        if link is None:
            assert "x-next-cursor" not in answer.headers
            return found
        url = link.split(">", 1)[0].lstrip("<")


def test_api_changes_are_recorded_with_the_token_that_made_them(api: Api) -> None:
    made = api.client.post(
        "/api/v1/users",
        json={"handle": "dora", "name": "Dora", "role": "viewer"},
        headers=api.admin,
    )
    assert made.status_code == 201, made.text
    promoted = api.client.patch("/api/v1/users/dora", json={"role": "responder"}, headers=api.admin)
    assert promoted.status_code == 200, promoted.text
    added = api.client.post(
        "/api/v1/users/alice/contact-methods",
        json={"name": "hook", "type": "webhook", "target": "https://hooks.example.com/a"},
        headers=api.writer,
    )
    assert added.status_code == 201, added.text

    found = all_pages(api, "/api/v1/audit?limit=2")
    assert len({e["id"] for e in found}) == len(found), "no entry twice across pages"
    # Oldest first, past the fixture's own set-up (made with no actor: "system").
    ours = [e for e in reversed(found) if e["via"] != "system"]
    assert [
        (e["who"], e["via"], e["detail"], e["action"], e["object_type"], e["object_key"])
        for e in ours
    ] == [
        ("root", "api", "token 'admin'", "created", "user", "dora"),
        ("root", "api", "token 'admin'", "changed", "user", "dora"),
        ("alice", "api", "token 'w'", "created", "contact method", "@alice/hook"),
        ("alice", "api", "token 'w'", "created", "notification rule", "@alice/hook after 0s"),
    ]
    assert ours[1]["changes"] == {"role": ["viewer", "responder"]}

    mine = api.client.get("/api/v1/audit?who=alice&object=contact%20method", headers=api.admin)
    assert [e["object_key"] for e in mine.json()] == ["@alice/hook"]


def test_only_administrators_read_the_log_and_nobody_rewrites_it(api: Api) -> None:
    for token in (api.reader, api.writer):
        assert api.client.get("/api/v1/audit", headers=token).status_code == 403
    assert api.client.get("/api/v1/audit").status_code == 401
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        answer = api.client.request(method, "/api/v1/audit", headers=api.admin)
        assert answer.status_code == 405, method


def test_bad_filters_are_answered_400_listing_each(api: Api) -> None:
    answer = api.client.get("/api/v1/audit?since=yesterday-ish&object=gizmo:x", headers=api.admin)
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    assert len(errors) == 2
    assert errors[0].startswith("since: 'yesterday-ish' is not a time")
    assert errors[1].startswith("object: unknown kind 'gizmo'")
    far = api.client.get("/api/v1/audit?since=999999999d", headers=api.admin)
    assert far.status_code == 400 and "is too far back" in far.json()["detail"]
    forged = api.client.get("/api/v1/audit?cursor=abc", headers=api.admin)
    assert forged.status_code == 400 and "not a cursor of this list" in forged.json()["detail"]
