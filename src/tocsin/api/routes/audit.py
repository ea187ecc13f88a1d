"""The audit log over HTTP: read-only, a page at a time, for administrators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from tocsin.api import paging
from tocsin.http.deps import Admin, NowDep, SessionDep
from tocsin.schemas import AuditEntryOut
from tocsin.services import audit

router = APIRouter()


@router.get("/audit", tags=["audit"], responses={200: {"headers": paging.headers("entries")}})
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
    paging.link_next(request, response, found.next_cursor)
    return [AuditEntryOut.of(entry) for entry in found.items]
