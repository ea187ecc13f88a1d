"""The page behind a one-click acknowledge link: confirm with GET, acknowledge with POST."""

from __future__ import annotations

from datetime import datetime
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from tocsin.errors import PermissionDenied, TocsinError
from tocsin.http.deps import NowDep, SessionDep
from tocsin.services import incidents
from tocsin.store import acklinks, users
from tocsin.store.db import transaction

router = APIRouter(tags=["acknowledge"], include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title} - Tocsin</title>
<link rel="stylesheet" href="/static/tocsin.css"></head>
<body class="ack-link"><h1>{title}</h1>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status)


def _key(request: Request, session: Session, now: datetime) -> bytes:
    override = request.app.state.settings.secret_key
    return acklinks.secret_key(session, now=now, override=override)


def read_key(request: Request, session: Session, now: datetime) -> bytes:
    """Return the installation's signing key (acknowledge links, the single sign-on cookie)
    from a read session; only its very first use takes a writer."""
    override = request.app.state.settings.secret_key
    found = acklinks.stored_key(session) if not override else override.encode()
    if found is not None:
        return found
    with transaction(request.app.state.sessions) as writer:
        return acklinks.secret_key(writer, now=now)


@router.get("/ack/{token}")
def confirm(token: str, request: Request, session: SessionDep, now: NowDep) -> HTMLResponse:
    """Show what the link acknowledges, with a button (a GET never acts)."""
    try:
        number, user = acklinks.read_token(read_key(request, session, now), token, now=now)
        incident = incidents.get(session, number)
    except TocsinError as exc:
        return _page("Link not valid", f"<p>{escape(exc.message)}</p>", 400)
    ref = f"INC-{incident.number}"
    return _page(
        f"Acknowledge {ref}?",
        f"<p>{escape(incident.severity)}: {escape(incident.title)}</p>"
        f"<p>You are acknowledging as <b>@{escape(user)}</b>: escalation stops.</p>"
        f'<form method="post"><button type="submit">Acknowledge {ref}</button></form>',
    )


@router.post("/ack/{token}")
def acknowledge(token: str, request: Request, session: SessionDep, now: NowDep) -> HTMLResponse:
    """Acknowledge the incident as the link's user."""
    try:
        number, user = acklinks.read_token(_key(request, session, now), token, now=now)
        found = users.find(session, user)
        if found is not None and found.disabled_at is not None:
            raise PermissionDenied(f"@{user} is disabled in Tocsin and cannot acknowledge")
        outcome = incidents.acknowledge(session, number, actor=user, now=now)
    except TocsinError as exc:
        return _page("Not acknowledged", f"<p>{escape(exc.message)}</p>", 400)
    session.commit()
    request.app.state.wake_engine()
    note = "".join(f"<p>{escape(w)}</p>" for w in outcome.warnings)
    return _page(f"Acknowledged INC-{number}", f"<p>Thank you, @{escape(user)}.</p>{note}")
