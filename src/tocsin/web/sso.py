"""Signing in through the organisation's OpenID Connect provider.

`/login/sso` sends the browser to the provider with a fresh state, nonce and PKCE verifier,
kept in a short-lived cookie signed with the installation's key; `/login/sso/callback` checks
that cookie, trades the code for an ID token, checks the token (`identity.oidc`), finds the user
(`services.sso`) and starts a session as the password login does. Whatever fails is shown on
the login page, in words, with no session made; the cookie is spent either way, so a callback
replayed from the browser's history finds nothing to finish.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from tocsin.core import sso as rules_
from tocsin.core.audit import Action, Actor, Via
from tocsin.errors import InvalidInput, TocsinError
from tocsin.http.deps import NowDep
from tocsin.identity.oidc import OidcClient, SignInRefused
from tocsin.services import sso
from tocsin.settings import Settings
from tocsin.store import audit, web_sessions
from tocsin.store.db import transaction
from tocsin.store.users import UserRole
from tocsin.web import ack, auth
from tocsin.web.render import page
from tocsin.web.routing import PageRoute

log = logging.getLogger("tocsin.sso")
router = APIRouter(include_in_schema=False, route_class=PageRoute)

COOKIE = "tocsin_sso"
PENDING_SECONDS = 600  # from leaving for the provider to coming back


@dataclass(frozen=True)
class Sso:
    """The deployment's single sign-on: its provider, its rules, what the button says."""

    client: OidcClient
    rules: rules_.Rules
    label: str


def configure(settings: Settings) -> Sso | None:
    """Return the single sign-on `settings` describe (None: not set up), or raise InvalidInput
    listing every setting that is wrong."""
    problems: list[str] = []
    if settings.password_login not in ("on", "off"):
        problems.append(f"TOCSIN_PASSWORD_LOGIN {settings.password_login!r} is not on or off")
    if not (settings.oidc_issuer or settings.oidc_client_id):
        if settings.password_login == "off":
            problems.append("TOCSIN_PASSWORD_LOGIN=off needs single sign-on (TOCSIN_OIDC_ISSUER)")
        if problems:
            raise InvalidInput.of(problems)
        return None
    if not settings.oidc_issuer.startswith(("https://", "http://")):
        problems.append(f"TOCSIN_OIDC_ISSUER {settings.oidc_issuer!r} is not an http(s) URL")
    if not settings.oidc_client_id:
        problems.append("TOCSIN_OIDC_CLIENT_ID is needed with TOCSIN_OIDC_ISSUER")
    if settings.oidc_create_role and settings.oidc_create_role not in set(UserRole):
        problems.append(
            f"TOCSIN_OIDC_CREATE_ROLE {settings.oidc_create_role!r} is not a role "
            f"({', '.join(UserRole)}; empty: no user is created)"
        )
    if "openid" not in settings.oidc_scopes.split():
        problems.append("TOCSIN_OIDC_SCOPES must include openid")
    roles: dict[str, str] = {}
    team_groups: dict[str, str] = {}
    try:
        roles = rules_.parse_groups(
            settings.oidc_role_groups, "TOCSIN_OIDC_ROLE_GROUPS", rules_.ROLES
        )
    except ValueError as exc:
        problems.append(str(exc))
    try:
        team_groups = rules_.parse_groups(settings.oidc_team_groups, "TOCSIN_OIDC_TEAM_GROUPS")
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        raise InvalidInput.of(problems)
    client = OidcClient(
        settings.oidc_issuer,
        settings.oidc_client_id,
        settings.oidc_client_secret,
        scopes=settings.oidc_scopes,
    )
    rules = rules_.Rules(
        email_claim=settings.oidc_email_claim,
        groups_claim=settings.oidc_groups_claim,
        create_role=settings.oidc_create_role,
        role_groups=roles,
        team_groups=team_groups,
    )
    return Sso(client, rules, settings.oidc_label)


def password_allowed(settings: Settings, handle: str) -> bool:
    """Return True if `handle` may log in with a password under these settings."""
    return settings.password_login != "off" or handle in settings.break_glass


def _key(request: Request, now: datetime) -> bytes:
    """Return the key of the pending sign-in cookie: derived from the installation's own."""
    with request.app.state.read_sessions() as session:
        return hashlib.sha256(b"sso:" + ack.read_key(request, session, now)).digest()


def _seal(key: bytes, data: dict[str, Any]) -> str:
    raw = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()
    mac = hmac.new(key, raw.encode(), hashlib.sha256).hexdigest()
    return f"{raw}.{mac}"


def _open(key: bytes, sealed: str | None, now: datetime) -> dict[str, Any] | None:
    if not sealed or "." not in sealed:
        return None
    raw, mac = sealed.rsplit(".", 1)
    expected = hmac.new(key, raw.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("until", 0) < now.timestamp():
        return None
    return data


def _refused(request: Request, reason: str, status: int = 403) -> Response:
    """The login page, saying why single sign-on did not sign anyone in."""
    token = request.cookies.get(auth.LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = page(
        request,
        "login.html",
        {
            "next": "/",
            "login_csrf": token,
            "errors": {"form": f"Single sign-on failed: {reason}."},
        },
        status=status,
    )
    response.set_cookie(
        auth.LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/login"
    )
    response.delete_cookie(COOKIE, path="/login/sso")
    return response


def _callback_url(request: Request) -> str:
    return f"{request.app.state.settings.base_url}/login/sso/callback"


@router.get("/login/sso")
async def start(request: Request, now: NowDep, next: str = "/") -> Response:
    """Send the browser to the identity provider."""
    found: Sso | None = request.app.state.sso
    if found is None:
        return _refused(request, "it is not set up on this Tocsin", status=404)
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    try:
        url = await run_in_threadpool(
            found.client.authorization_url,
            _callback_url(request),
            state=state,
            nonce=nonce,
            verifier=verifier,
        )
    except SignInRefused as exc:
        log.warning("single sign-on could not start: %s", exc)
        return _refused(request, str(exc), status=502)
    key = await run_in_threadpool(_key, request, now)
    pending = {
        "state": state,
        "nonce": nonce,
        "verifier": verifier,
        "next": auth.safe_next(next),
        "until": now.timestamp() + PENDING_SECONDS,
    }
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        COOKIE,
        _seal(key, pending),
        max_age=PENDING_SECONDS,
        httponly=True,
        samesite="lax",  # the provider's redirect back is a top-level navigation
        secure=request.url.scheme == "https",
        path="/login/sso",
    )
    return response


@router.get("/login/sso/callback")
async def callback(request: Request, now: NowDep) -> Response:
    """Finish the sign-in the provider sends back, or say why it cannot be finished."""
    found: Sso | None = request.app.state.sso
    if found is None:
        return _refused(request, "it is not set up on this Tocsin", status=404)
    params = request.query_params
    if params.get("error"):
        said = params.get("error_description") or params["error"]
        return _refused(request, f"the identity provider said: {said[:300]}")
    key = await run_in_threadpool(_key, request, now)
    pending = _open(key, request.cookies.get(COOKIE), now)
    if pending is None:
        return _refused(
            request, "this sign-in expired or was already used; start again", status=400
        )
    if not secrets.compare_digest(params.get("state", "").encode(), pending["state"].encode()):
        return _refused(request, "the answer does not belong to this browser's sign-in", 400)
    code = params.get("code", "")
    if not code:
        return _refused(request, "the identity provider sent no code", status=400)

    def verified() -> dict[str, Any]:
        id_token = found.client.exchange(code, _callback_url(request), verifier=pending["verifier"])
        return found.client.verify(id_token, nonce=pending["nonce"], now=now.timestamp())

    try:
        claims = await run_in_threadpool(verified)
    except SignInRefused as exc:
        log.warning("single sign-on refused: %s", exc)
        return _refused(request, str(exc))
    address = request.client.host if request.client else ""

    def begin() -> str:
        with transaction(request.app.state.sessions) as session:
            user = sso.sign_in(session, claims, found.rules, now=now)
            detail = f"single sign-on from {address}" if address else "single sign-on"
            audit.act_as(session, Actor(user.handle, Via.WEB, detail))
            audit.record(session, Action.SIGNED_IN, "user", user.handle)
            _row, secret = web_sessions.create(session, user, now=now)
            return secret

    try:
        secret = await run_in_threadpool(begin)
    except TocsinError as exc:
        log.info("single sign-on of verified claims refused: %s", exc)
        return _refused(request, exc.message)
    response = RedirectResponse(pending["next"], status_code=303)
    auth.set_cookie(request, response, secret)
    response.delete_cookie(COOKIE, path="/login/sso")
    return response
