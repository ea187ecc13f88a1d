"""The audit log over HTTP: read-only, a page at a time, for administrators."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response

from tocsin.http.deps import Admin, NowDep, SessionDep
from tocsin.schemas import AuditEntryOut
from tocsin.services import audit

router = APIRouter()

NEXT_PAGE_HEADERS = {
    "Link": {
        "description": 'Only when older entries follow: `<URL of the next page>; rel="next"`.',
        "schema": {"type": "string"},
    },
    "X-Next-Cursor": {
        "description": "Only when older entries follow: the `cursor` of the next page.",
        "schema": {"type": "string"},
    },
}


@router.get("/audit", tags=["audit"], responses={200: {"headers": NEXT_PAGE_HEADERS}})
def list_audit(
    request: Request,
    response: Response,
    session: SessionDep,
    _caller: Admin,
    now: NowDep,
    since: Annotated[
        str | None, Query(description="From this instant on: 2026-11-01T09:00Z, or 7d.")
    ] = None,
    until: Annotated[str | None, Query(description="Before this instant.")] = None,
    who: Annotated[str | None, Query(description="Only what this handle did.")] = None,
    object: Annotated[
        str | None,
        Query(description="A kind (service), a kind and name (service:payments) or a name."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[
        str | None, Query(description="From the previous page's X-Next-Cursor or Link.")
    ] = None,
) -> list[AuditEntryOut]:
    """List audit entries, newest first, a page at a time (administrators only).

    Each entry says when, who (`via` cli, apply, api, web or chat; `detail` names the API token,
    or the config file and its SHA-256), what (`action` on `object_type` `object_key`), and
    `changes`: each changed field's `[before, after]`, secrets shown only as `(secret)`. When
    older entries follow, the answer carries `Link` and `X-Next-Cursor`, as the alert list
    does. Entries cannot be changed or deleted through any interface.
    """
    where = audit.where(since=since, until=until, who=who, object=object, now=now)
    found = audit.page(session, where, limit=limit, cursor=cursor)
    if found.next_cursor is not None:
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        target = f"{request.url.path}?{urlencode([*query, ('cursor', found.next_cursor)])}"
        response.headers["Link"] = f'<{target}>; rel="next"'
        response.headers["X-Next-Cursor"] = found.next_cursor
    return [AuditEntryOut.of(entry) for entry in found.items]
