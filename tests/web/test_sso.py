"""Single sign-on through OpenID Connect, against a local provider (tests/fakes/oidc.py): the
code flow with PKCE, every check of the ID token, users matched by email or made at their first
sign-in, and passwords turned off but for break-glass administrators. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from tests.conftest import SQLITE_ONLY, T0
from tests.fakes.oidc import CLIENT_ID, CLIENT_SECRET, FakeOidc, fake_oidc
from tests.web.conftest import Browser, set_passwords
from tocsin.errors import InvalidInput
from tocsin.server import create_app
from tocsin.services import users as people
from tocsin.settings import Settings
from tocsin.store import teams, users
from tocsin.store.db import make_engine, make_sessionmaker
from tocsin.store.models import AuditEntry, User
from tocsin.web import sso

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@dataclass
class Site:
    browser: Browser
    idp: FakeOidc


def _site(db_url: str, **settings: Any) -> Iterator[Site]:
    set_passwords(db_url)
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        users.update(session, users.get_by_handle(session, "alice"), email="Alice@Example.com")
        users.update(session, users.get_by_handle(session, "bob"), email="bob@example.com")
    engine.dispose()
    with fake_oidc() as idp:
        made = Settings(
            database_url=db_url,
            oidc_issuer=idp.url,
            oidc_client_id=CLIENT_ID,
            oidc_client_secret=CLIENT_SECRET,
            oidc_label="Example SSO",
            **settings,
        )
        app = create_app(made, run_engine=False)
        with TestClient(app, base_url="http://127.0.0.1:8080") as client:
            from tocsin.clock import FixedClock

            yield Site(Browser(client, FixedClock(T0), db_url), idp)
        app.state.engine.dispose()


@pytest.fixture
def site(db_url: str) -> Iterator[Site]:
    yield from _site(db_url)


def round_trip(site: Site, next: str = "/incidents") -> tuple[Response, str]:
    """Press "Sign in with Example SSO", approve at the provider; return Tocsin's answer to the
    callback and the callback's URL."""
    started = site.browser.client.get(f"/login/sso?next={next}", follow_redirects=False)
    assert started.status_code == 303, started.text
    assert started.headers["location"].startswith(f"{site.idp.url}/authorize?")
    shown = httpx.get(started.headers["location"])
    assert shown.status_code == 200, shown.text
    form = dict(HIDDEN.findall(shown.text))
    approved = httpx.post(f"{site.idp.url}/authorize", data=form, follow_redirects=False)
    callback = approved.headers["location"]
    return site.browser.client.get(callback, follow_redirects=False), callback


def log_out(site: Site) -> None:
    site.browser.get("/")  # the page's CSRF token
    assert site.browser.post("/logout").status_code == 303


def signed_in_as(site: Site) -> str | None:
    page = site.browser.client.get("/", follow_redirects=False)
    if page.status_code != 200:
        return None
    found = re.search(r'href="/profile"[^>]*>@([a-z0-9._-]+)<', page.text)
    return found.group(1) if found else None


def sign_ins(db_url: str) -> list[tuple[str, str]]:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "signed in").order_by(AuditEntry.id)
        )
        found = [(e.who, e.detail) for e in rows]
    engine.dispose()
    return found


def test_a_person_signs_in_with_the_provider_and_out_again(site: Site) -> None:
    assert "Sign in with Example SSO" in site.browser.client.get("/login").text
    answer, _ = round_trip(site)
    assert answer.status_code == 303 and answer.headers["location"] == "/incidents"
    assert signed_in_as(site) == "alice"  # matched by email, whatever its case
    # The code flow with PKCE: the verifier went to the token endpoint, the secret with it.
    request = site.idp.token_requests[-1]
    assert request["grant_type"] == "authorization_code" and len(request["code_verifier"]) >= 43
    assert sign_ins(site.browser.db_url) == [("alice", "single sign-on from testclient")]
    log_out(site)
    assert signed_in_as(site) is None


def test_a_rotated_key_is_fetched_when_a_token_names_it(site: Site) -> None:
    assert round_trip(site)[0].status_code == 303
    log_out(site)
    site.idp.rotate()
    site.idp.retire_old_keys()
    assert round_trip(site)[0].status_code == 303
    assert signed_in_as(site) == "alice"


REFUSALS = {
    "wrong audience": (
        {"audience": "some-other-app"},
        "the ID token was issued for &#39;some-other-app&#39;, not for this Tocsin",
    ),
    "expired": ({"lifetime": -3600}, "the ID token is not valid"),
    "bad signature": ({"sign_with_unpublished": True}, "signature does not verify"),
    "missing nonce": ({"drop_nonce": True}, "does not carry the nonce this browser was given"),
    "unknown email": (
        {"claims": {"sub": "u-9", "email": "mallory@example.com", "email_verified": True}},
        "no Tocsin user has the email mallory@example.com",
    ),
    "unverified email": (
        {"claims": {"sub": "u-1", "email": "alice@example.com", "email_verified": False}},
        "sent no verified email",
    ),
    "email not said to be verified": (
        {"claims": {"sub": "u-1", "email": "alice@example.com"}},
        "sent no verified email",
    ),
    "provider hangs up": ({"hang_up_on_token": True}, "could not be reached"),
}


# The protocol's checks do not touch storage: on SQLite only (the sign-in itself, with its
# user look-up and binding, runs on both databases above and below).
@SQLITE_ONLY
@pytest.mark.parametrize("case", list(REFUSALS))
def test_each_bad_answer_is_refused_with_a_page_and_no_session(site: Site, case: str) -> None:
    knobs, said = REFUSALS[case]
    for name, value in knobs.items():
        setattr(site.idp, name, value)
    answer, _ = round_trip(site)
    assert answer.status_code in (400, 403)
    assert "Single sign-on failed:" in answer.text and said in answer.text
    assert "tocsin_session" not in answer.headers.get("set-cookie", "")
    assert signed_in_as(site) is None
    assert sign_ins(site.browser.db_url) == []


def test_a_replayed_code_or_callback_signs_nobody_in(site: Site) -> None:
    answer, callback = round_trip(site)
    assert answer.status_code == 303
    pending = site.browser.client.cookies.get("tocsin_sso")
    assert pending is None, "the pending sign-in is spent"
    log_out(site)
    # The callback again, from the history: this browser has no sign-in waiting.
    again = site.browser.client.get(callback, follow_redirects=False)
    assert again.status_code == 400 and "expired or was already used" in again.text
    # With a fresh sign-in's cookie but the old code: the provider refuses the code.
    started = site.browser.client.get("/login/sso", follow_redirects=False)
    state = re.search(r"state=([^&]+)", started.headers["location"])
    assert state is not None
    code = re.search(r"code=([^&]+)", callback)
    assert code is not None
    replayed = site.browser.client.get(
        f"/login/sso/callback?code={code.group(1)}&state={state.group(1)}",
        follow_redirects=False,
    )
    assert replayed.status_code == 403
    assert "refused the sign-in (invalid_grant" in replayed.text
    assert signed_in_as(site) is None
    # A callback whose state is not this browser's.
    forged = site.browser.client.get(
        "/login/sso/callback?code=x&state=not-mine", follow_redirects=False
    )
    assert forged.status_code == 400


def test_a_disabled_user_cannot_sign_in_through_the_provider(site: Site) -> None:
    engine = make_engine(site.browser.db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        users.get_by_handle(session, "alice").disabled_at = T0
    engine.dispose()
    answer, _ = round_trip(site)
    assert answer.status_code == 403 and "@alice is disabled" in answer.text
    assert signed_in_as(site) is None


def test_first_sign_ins_make_users_whose_role_and_teams_follow_the_groups(db_url: str) -> None:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        teams.create(session, slug="platform", name="Platform", members=[], now=T0)
    engine.dispose()
    for site in _site(
        db_url,
        oidc_create_role="viewer",
        oidc_role_groups="admin=tocsin-admins,responder=sre",
        oidc_team_groups="platform=grp-platform,data=grp-data",
    ):
        site.idp.claims = {
            "sub": "u-7",
            "email": "Dora.Explorer+oncall@Example.com",
            "email_verified": True,
            "name": "Dora Explorer",
            "groups": ["sre", "grp-platform", "grp-data"],
        }
        assert round_trip(site)[0].status_code == 303
        assert signed_in_as(site) == "dora.explorer-oncall"
        assert _teams(db_url) == ["platform"]  # joined with the group ("data" does not exist)
        log_out(site)
        # An administrator makes her the team's admin in Tocsin: a sign-in in the group keeps it.
        engine = make_engine(db_url)
        with make_sessionmaker(engine)() as session, session.begin():
            people.set_teams(session, "dora.explorer-oncall", ["platform:admin"])
        engine.dispose()
        assert round_trip(site)[0].status_code == 303
        assert _teams(db_url) == ["platform:admin"]
        log_out(site)
        # Groups change at the provider: the role follows at the next sign-in.
        site.idp.claims["groups"] = ["tocsin-admins"]
        assert round_trip(site)[0].status_code == 303
        engine = make_engine(db_url)
        with make_sessionmaker(engine)() as session:
            dora = session.scalars(select(User).where(User.handle == "dora.explorer-oncall")).one()
            assert (dora.name, dora.email, dora.role) == (
                "Dora Explorer",
                "dora.explorer+oncall@example.com",
                "admin",
            )
            assert people.teams_of(session, dora) == []  # left the team with its group, as admin
        engine.dispose()


def _teams(db_url: str) -> list[str]:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session:
        dora = users.get_by_handle(session, "dora.explorer-oncall")
        found = people.teams_of(session, dora)
    engine.dispose()
    return found


def test_passwords_can_be_turned_off_for_all_but_break_glass_admins(db_url: str) -> None:
    for site in _site(db_url, password_login="off", break_glass=("root",)):
        page = site.browser.client.get("/login").text
        assert "Sign in with Example SSO" in page and "Break-glass login" in page
        # A wrong password is just wrong, whoever it is for: which handles may still use a
        # password cannot be learnt from the answers.
        assert site.browser.login("alice", "not her password").status_code == 401
        assert site.browser.login("root", "not his password").status_code == 401
        refused = site.browser.login("alice")
        assert refused.status_code == 403
        assert "Passwords are turned off here: sign in with Example SSO" in refused.text
        assert signed_in_as(site) is None
        assert site.browser.login("root").status_code == 303
        assert signed_in_as(site) == "root"


def test_settings_that_cannot_work_are_refused_at_start_listing_each() -> None:
    with pytest.raises(InvalidInput) as refused:
        sso.configure(
            Settings(
                oidc_issuer="idp.example.com",
                oidc_create_role="boss",
                oidc_role_groups="owner=admins,responder",
                oidc_scopes="email",
                password_login="maybe",
            )
        )
    assert refused.value.problems == [
        "TOCSIN_PASSWORD_LOGIN 'maybe' is not on or off",
        "TOCSIN_OIDC_ISSUER 'idp.example.com' is not an http(s) URL",
        "TOCSIN_OIDC_CLIENT_ID is needed with TOCSIN_OIDC_ISSUER",
        "TOCSIN_OIDC_CREATE_ROLE 'boss' is not a role (viewer, responder, admin; empty: no user "
        "is created)",
        "TOCSIN_OIDC_SCOPES must include openid",
        "TOCSIN_OIDC_ROLE_GROUPS: unknown role 'owner' (one of: viewer, responder, admin); "
        "TOCSIN_OIDC_ROLE_GROUPS: 'responder' is not VALUE=GROUP",
    ]
    with pytest.raises(InvalidInput, match="needs single sign-on"):
        sso.configure(Settings(password_login="off"))
    assert sso.configure(Settings()) is None


def test_the_first_account_to_sign_in_is_bound_to_the_user(site: Site) -> None:
    assert round_trip(site)[0].status_code == 303
    log_out(site)
    # Another account at the provider that claims alice's email (a renamed or reused address).
    site.idp.claims = {**site.idp.claims, "sub": "u-666"}
    answer, _ = round_trip(site)
    assert answer.status_code == 403
    assert "@alice signs in with another account at the identity provider" in answer.text
    assert signed_in_as(site) is None
    # Her own account still signs her in, even once its email changed at the provider.
    site.idp.claims = {**site.idp.claims, "sub": "u-1001", "email": "alice@new.example.com"}
    assert round_trip(site)[0].status_code == 303
    assert signed_in_as(site) == "alice"
    log_out(site)
    # Her account was recreated at the provider: an administrator unbinds the old one.
    site.browser.login("root")
    assert "as account <code>u-1001</code>" in site.browser.get("/admin/users/alice").text
    assert site.browser.post("/admin/users/alice/sso/forget").status_code == 303
    assert 'id="sso-account"' not in site.browser.get("/admin/users/alice").text
    log_out(site)
    site.idp.claims = {**site.idp.claims, "sub": "u-2002", "email": "alice@example.com"}
    assert round_trip(site)[0].status_code == 303
    assert signed_in_as(site) == "alice"
