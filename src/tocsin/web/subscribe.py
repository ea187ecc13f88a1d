"""Subscribing to the public status page: the form, the confirmation and the one-click exit.

No login anywhere here. The token in a link is the only credential, so the pages never show
the address it belongs to ("your subscription"), and a GET never changes anything: mail
scanners open links. `POST /status/unsubscribe/{token}` ends the subscription at once, with no
CSRF token or cookie, because it is also the RFC 8058 one-click target mail clients POST to.

The subscribe form answers the same whatever became of the address (`services.subscriptions`);
only a client over its own limit is told to wait, with 429 and Retry-After.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from tocsin.errors import InvalidInput, NotFound
from tocsin.http.deps import NowDep, SessionDep
from tocsin.services import subscriptions
from tocsin.store import statuspage
from tocsin.web.render import page
from tocsin.web.routing import PageRoute
from tocsin.web.throttle import client_key

router = APIRouter(include_in_schema=False, route_class=PageRoute)

# More checkboxes than any status page has components: a longer list is not from the form.
MAX_CHOICES = 200

NEUTRAL = (
    "If that address can receive mail, a confirmation link is on its way. "
    "Open it within 24 hours to start receiving updates."
)

Components = Annotated[list[str], Form(alias="component")]


def _title(request: Request) -> str:
    title: str = request.app.state.settings.status_page_title
    return title


def _answer(
    request: Request, heading: str, context: dict[str, object], *, status: int = 200
) -> Response:
    response = page(
        request,
        "status_subscription.html",
        {"heading": heading, "title": _title(request), **context},
        status=status,
    )
    # The token in these URLs is a credential: not to be sent on to another site.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _unknown(request: Request, now: object) -> Response:
    return _answer(
        request,
        "Link not valid",
        {
            "now": now,
            "message": "This link is unknown or no longer valid: the subscription may have "
            "ended already, or its confirmation expired.",
            "again": True,
        },
        status=404,
    )


def _chosen(session: SessionDep, chosen: list[str]) -> list[str]:
    """Return the chosen components, [] (all) when every one of them was ticked."""
    if len(chosen) > MAX_CHOICES:
        raise InvalidInput(f"at most {MAX_CHOICES} components can be chosen")
    every = {c.slug for c in statuspage.components(session)}
    if every and not chosen:
        raise InvalidInput("choose at least one component")
    return [] if set(chosen) == every else chosen


@router.post("/status/subscribe", response_class=HTMLResponse)
def subscribe(
    request: Request,
    session: SessionDep,
    now: NowDep,
    email: Annotated[str, Form(max_length=1000)] = "",
    component: Components = [],  # noqa: B006 - FastAPI copies the default
) -> Response:
    """Ask for email updates: a confirmation mail, if the limits allow."""
    try:
        result = subscriptions.subscribe(
            session,
            address=email,
            components=_chosen(session, component),
            client=client_key(request.client.host if request.client else ""),
            now=now,
            secret_key=request.app.state.settings.secret_key,
        )
    except InvalidInput as exc:
        session.rollback()
        return _answer(
            request,
            "Not subscribed",
            {"now": now, "problems": exc.problems, "again": True},
            status=400,
        )
    if result.retry_at is not None:
        session.rollback()
        seconds = max(1, math.ceil((result.retry_at - now).total_seconds()))
        minutes = math.ceil(seconds / 60)
        refused = _answer(
            request,
            "Too many requests",
            {
                "now": now,
                "message": "Too many subscription requests came from your network. "
                f"Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
            },
            status=429,
        )
        refused.headers["Retry-After"] = str(seconds)
        return refused
    session.commit()
    return _answer(request, "Check your mail", {"now": now, "message": NEUTRAL})


@router.get("/status/subscribe/confirm/{token}", response_class=HTMLResponse)
def confirm_form(token: str, request: Request, session: SessionDep, now: NowDep) -> Response:
    """Show the confirmation button (opening the link alone confirms nothing)."""
    try:
        subscriber = subscriptions.get(session, token)
    except NotFound:
        return _unknown(request, now)
    if subscriber.confirmed_at is not None:
        return _confirmed(request, token, now, "Your subscription is already confirmed.")
    if subscriber.confirm_expires_at is None or subscriber.confirm_expires_at <= now:
        return _expired(request, now)
    return _answer(request, "Confirm your subscription", {"now": now, "confirm": token})


@router.post("/status/subscribe/confirm/{token}", response_class=HTMLResponse)
def confirm(token: str, request: Request, session: SessionDep, now: NowDep) -> Response:
    """Confirm the subscription: from now on, it receives updates."""
    try:
        outcome = subscriptions.confirm(session, token, now=now)
    except NotFound:
        return _unknown(request, now)
    if outcome is subscriptions.Confirmation.EXPIRED:
        return _expired(request, now)
    session.commit()
    if outcome is subscriptions.Confirmation.ALREADY:
        return _confirmed(request, token, now, "Your subscription is already confirmed.")
    return _confirmed(request, token, now, "Your subscription is confirmed.")


def _confirmed(request: Request, token: str, now: object, message: str) -> Response:
    return _answer(
        request,
        "Subscribed",
        {"now": now, "message": message, "manage": token},
    )


def _expired(request: Request, now: object) -> Response:
    return _answer(
        request,
        "Link expired",
        {
            "now": now,
            "message": "This confirmation link has expired. Subscribe again to get a new one.",
            "again": True,
        },
        status=410,
    )


@router.get("/status/unsubscribe/{token}", response_class=HTMLResponse)
def manage(token: str, request: Request, session: SessionDep, now: NowDep) -> Response:
    """Show the Unsubscribe button and the choice of components (a GET changes nothing)."""
    try:
        subscriber = subscriptions.get(session, token)
    except NotFound:
        return _unknown(request, now)
    return _answer(
        request,
        "Your subscription",
        {
            "now": now,
            "unsubscribe": token,
            "components": statuspage.components(session),
            "chosen": set(subscriber.components),
        },
    )


@router.post("/status/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe(token: str, request: Request, session: SessionDep, now: NowDep) -> Response:
    """Unsubscribe at once: the button of the page, and mail clients' one-click POST."""
    try:
        subscriptions.unsubscribe(session, token)
    except NotFound:
        return _unknown(request, now)
    session.commit()
    return _answer(
        request,
        "Unsubscribed",
        {
            "now": now,
            "message": "You are unsubscribed: no more updates will be sent.",
            "again": True,
        },
    )


@router.post("/status/unsubscribe/{token}/components", response_class=HTMLResponse)
def change(
    token: str,
    request: Request,
    session: SessionDep,
    now: NowDep,
    component: Components = [],  # noqa: B006 - FastAPI copies the default
) -> Response:
    """Change which components the subscription hears of."""
    try:
        subscriptions.change(session, token, _chosen(session, component))
    except NotFound:
        return _unknown(request, now)
    except InvalidInput as exc:
        session.rollback()
        return _answer(
            request,
            "Not changed",
            {"now": now, "problems": exc.problems, "manage": token},
            status=400,
        )
    session.commit()
    return _answer(
        request,
        "Subscription changed",
        {"now": now, "message": "Your choice of components is saved.", "manage": token},
    )
