"""The public status page: no login, only what responders published.

`/status` shows the components and their states, the incidents in progress with their public
updates, scheduled maintenance, and 90 days of history; `/status/feed.atom` carries every public
update and every stage of public maintenance; each incident has its own page at
`/status/incidents/N`, each maintenance at `/status/maintenance/N`. Everything here is built from
`tocsin.core.statuspage`, which never receives internal updates, notes, people or alerts.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from tocsin.core.incident import parse_incident_ref
from tocsin.core.printable import printable
from tocsin.errors import InvalidInput, NotFound
from tocsin.http.deps import NowDep, SessionDep
from tocsin.store import statuspage
from tocsin.web.render import env, page
from tocsin.web.routing import PageRoute
from tocsin.web.subscribe import router as subscribe_router

router = APIRouter(include_in_schema=False, route_class=PageRoute)
# Subscribing to updates by email: the form on /status, its confirmation, the one-click exit.
router.include_router(subscribe_router)

# Browsers and proxies may keep the public page for a short while: it is read by many at once
# during an outage, and 30 s is well inside any update cadence.
PUBLIC_CACHE = "public, max-age=30"


def _title(request: Request) -> str:
    title: str = request.app.state.settings.status_page_title
    return title


@router.get("/status", response_class=HTMLResponse)
def status_page(request: Request, session: SessionDep, now: NowDep) -> Response:
    """The public status page."""
    response = page(
        request,
        "status.html",
        {"page": statuspage.page(session, now=now), "now": now, "title": _title(request)},
    )
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return response


@router.get("/status/incidents/{ref}", response_class=HTMLResponse)
def status_incident(ref: str, request: Request, session: SessionDep, now: NowDep) -> Response:
    """One published incident with all its public updates."""
    try:
        number = parse_incident_ref(ref)
    except InvalidInput:
        raise NotFound(f"no public incident {ref!r}") from None
    incident = statuspage.public_incident(session, number)
    if incident is None:
        # Unpublished and unknown incidents look the same, so numbers reveal nothing.
        raise NotFound(f"no public incident {ref!r}")
    response = page(
        request,
        "status_incident.html",
        {"incident": incident, "now": now, "title": _title(request)},
    )
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return response


@router.get("/status/maintenance/{maintenance_id}", response_class=HTMLResponse)
def status_maintenance(
    maintenance_id: str, request: Request, session: SessionDep, now: NowDep
) -> Response:
    """One public maintenance: its components, times and stage."""
    found = (
        statuspage.public_maintenance(session, int(maintenance_id), now=now)
        if maintenance_id.isdigit() and len(maintenance_id) < 10
        else None
    )
    if found is None:
        raise NotFound(f"no public maintenance {maintenance_id!r}")
    response = page(
        request,
        "status_maintenance.html",
        {"maintenance": found, "now": now, "title": _title(request)},
    )
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return response


@router.get("/status/feed.atom")
def status_feed(request: Request, session: SessionDep, now: NowDep) -> Response:
    """Every public update and every stage of public maintenance as an Atom 1.0 feed (RFC 4287),
    newest first."""
    entries = statuspage.feed(session, now=now)
    # Absolute links come from the configured address, never from the request's Host header:
    # anyone can send `Host: evil.example`, and this answer is cached for everyone.
    base: str = request.app.state.settings.base_url
    body = env.get_template("feed.atom.xml").render(
        entries=entries,
        base=base.rstrip("/"),
        title=_title(request),
        updated=max((e.at for e in entries), default=now),
    )
    # Every expression was already cleaned on output; this pass holds for the template's own
    # text too, so the feed stays well-formed XML whatever is added to it.
    body = printable(body)
    return Response(
        body,
        media_type="application/atom+xml; charset=utf-8",
        headers={"Cache-Control": PUBLIC_CACHE},
    )
