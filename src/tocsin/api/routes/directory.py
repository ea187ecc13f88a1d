"""Users, services, severities and API tokens over HTTP."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from tocsin.api.params import Handle, RowId, ServiceSlug
from tocsin.config import EscalationPolicySpec, UserSpec
from tocsin.errors import InvalidInput, NotFound
from tocsin.http.deps import Admin, NowDep, Reader, SessionDep, Writer
from tocsin.schemas import ContactMethodOut, ServiceOut, TokenCreated, TokenOut, UserOut
from tocsin.services import config_apply, contacts
from tocsin.services import users as people
from tocsin.store import policies, services, severities, tokens, users

router = APIRouter()


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserEdit(Body):
    name: str | None = None
    email: str | None = None
    time_zone: str | None = None
    role: str | None = None
    disabled: bool | None = Field(
        None, description="true: no sign-in, no token, sessions ended; false: enabled again."
    )
    teams: list[str] | None = Field(
        None,
        description='Exactly these teams: "SLUG" makes a responder of the team, "SLUG:admin"'
        " its administrator.",
    )


class ServiceIn(Body):
    slug: ServiceSlug
    name: str | None = None
    owner: str | None = None
    team: str | None = Field(None, description="The slug of the team that owns the service.")
    description: str = ""
    severity_definitions: dict[str, Any] = {}


class ServiceEdit(Body):
    name: str | None = None
    owner: str | None = None
    team: str | None = Field(None, description="The owner team's slug; null: no team.")
    description: str | None = None
    severity_definitions: dict[str, Any] | None = None


class TokenIn(Body):
    user: str
    name: str
    scopes: list[str] | None = Field(
        None,
        description="calendar, read, write, admin or metrics; at most what the user's role "
        "allows. Default: read, and write if the role allows.",
    )
    team: str | None = Field(
        None,
        description="Scope it to this team: it changes that team's objects only, and never "
        "administers. Its user must be in the team, or an administrator.",
    )


@router.get("/users", tags=["users"])
def list_users(session: SessionDep, _caller: Reader) -> list[UserOut]:
    """List users."""
    return [UserOut.of(u) for u in users.list_(session)]


@router.post("/users", status_code=201, tags=["users"])
def create_user(body: UserSpec, session: SessionDep, _caller: Admin, now: NowDep) -> UserOut:
    """Create a user."""
    user = users.create(session, **body.model_dump(), now=now)
    session.commit()
    return UserOut.of(user)


class ContactMethodIn(Body):
    name: str = Field(description="Its name among the user's methods, like phone.")
    type: str = Field(description="email, slack, webhook, sms, voice, teams, telegram or console.")
    target: str = Field("", description="The address, E.164 number, chat id or URL the type needs.")
    after: str | None = Field(
        "0m", description="Page through it this long after a page starts; null: no rule."
    )


class TestQueued(BaseModel):
    test: int = Field(description="The test message's id, for GET .../tests/{id}.")
    status: str


def _contacts_out(session: SessionDep, handle: str) -> list[ContactMethodOut]:
    return [
        ContactMethodOut.of(c.method, c.after, str(c.last_test) if c.last_test else None)
        for c in contacts.list_(session, handle)
    ]


@router.get("/users/{handle}/contact-methods", tags=["users"])
def list_contact_methods(
    handle: Handle, session: SessionDep, caller: Reader
) -> list[ContactMethodOut]:
    """List a user's contact methods (yours, or anyone's for an admin)."""
    contacts.require_own_or_admin(caller.user, handle)
    return _contacts_out(session, handle)


@router.post("/users/{handle}/contact-methods", status_code=201, tags=["users"])
def add_contact_method(
    handle: Handle, body: ContactMethodIn, session: SessionDep, caller: Writer, now: NowDep
) -> ContactMethodOut:
    """Add a contact method, with a notification rule `after` a page starts."""
    contacts.require_own_or_admin(caller.user, handle)
    method = contacts.add(
        session,
        handle,
        name=body.name,
        type=body.type,
        target=body.target,
        after=body.after,
        now=now,
        trusted=caller.user.role == "admin",
    )
    session.commit()
    return next(c for c in _contacts_out(session, handle) if c.name == method.name)


@router.delete("/users/{handle}/contact-methods/{name}", status_code=204, tags=["users"])
def remove_contact_method(
    handle: Handle, name: str, session: SessionDep, caller: Writer
) -> Response:
    """Remove a contact method and its notification rules."""
    contacts.require_own_or_admin(caller.user, handle)
    contacts.remove(session, handle, name)
    session.commit()
    return Response(status_code=204)


@router.post("/users/{handle}/contact-methods/{name}/test", status_code=202, tags=["users"])
def test_contact_method(
    handle: Handle, name: str, session: SessionDep, caller: Writer, now: NowDep
) -> TestQueued:
    """Send a test message through a contact method; GET the test to see how it went."""
    contacts.require_own_or_admin(caller.user, handle)
    found = contacts.test(session, handle, name, now=now)
    session.commit()
    return TestQueued(test=found, status="pending")


@router.get("/users/{handle}/contact-methods/tests/{test}", tags=["users"])
def show_contact_test(
    handle: Handle, test: RowId, session: SessionDep, caller: Reader
) -> TestQueued:
    """Show how a test message went: pending, sending, sent or failed (with why)."""
    contacts.require_own_or_admin(caller.user, handle)
    result = contacts.test_result(session, handle, test)
    return TestQueued(test=test, status=str(result))


@router.get("/users/{handle}", tags=["users"])
def show_user(handle: Handle, session: SessionDep, _caller: Reader) -> UserOut:
    """Show one user."""
    return UserOut.of(users.get_by_handle(session, handle))


@router.patch("/users/{handle}", tags=["users"])
def edit_user(
    handle: Handle, body: UserEdit, session: SessionDep, caller: Admin, now: NowDep
) -> UserOut:
    """Change a user's name, email, time zone, role or teams; disable or enable them.

    The last enabled administrator can be neither demoted nor disabled: 400 says why.
    """
    fields = body.model_dump(exclude_unset=True, exclude={"disabled", "teams"})
    user, _changed = people.update(session, handle, **fields)
    if body.teams is not None:
        people.set_teams(session, user.handle, body.teams)
    if body.disabled is True:
        people.disable(session, user.handle, now=now, by=caller.user.handle)
    elif body.disabled is False:
        people.enable(session, user.handle)
    session.commit()
    return UserOut.of(user)


@router.get("/services", tags=["services"])
def list_services(session: SessionDep, _caller: Reader) -> list[ServiceOut]:
    """List services."""
    return [ServiceOut.of(s) for s in services.list_(session)]


@router.post("/services", status_code=201, tags=["services"])
def create_service(
    body: ServiceIn, session: SessionDep, _caller: Writer, now: NowDep
) -> ServiceOut:
    """Create a service.

    Administrators, and a team's administrators for a service of their team, may (403 else).
    """
    service = services.create(session, **body.model_dump(), now=now)
    session.commit()
    return ServiceOut.of(service)


@router.get("/services/{slug}", tags=["services"])
def show_service(slug: ServiceSlug, session: SessionDep, _caller: Reader) -> ServiceOut:
    """Show one service."""
    return ServiceOut.of(services.get_by_slug(session, slug))


@router.patch("/services/{slug}", tags=["services"])
def edit_service(
    slug: ServiceSlug, body: ServiceEdit, session: SessionDep, _caller: Writer
) -> ServiceOut:
    """Change a service (moving it to another team needs the right to manage both)."""
    service = services.get_by_slug(session, slug)
    services.update(session, service, **body.model_dump(exclude_unset=True))
    session.commit()
    return ServiceOut.of(service)


@router.get("/severities", tags=["severities"])
def list_severities(session: SessionDep, _caller: Reader) -> list[dict[str, Any]]:
    """List the severity scale, highest first."""
    return [
        {
            "name": s.name,
            "rank": s.rank,
            "definition": s.definition,
            "response_time": s.response_time_label,
            "response_seconds": int(s.response_time.total_seconds()) if s.response_time else None,
            "update_cadence_seconds": int(s.update_cadence.total_seconds())
            if s.update_cadence
            else None,
            "example": s.example,
        }
        for s in severities.scale(session).levels
    ]


@router.get("/tokens", tags=["tokens"])
def list_tokens(session: SessionDep, _caller: Admin) -> list[TokenOut]:
    """List API tokens (never their secrets)."""
    return [TokenOut.of(t) for t in tokens.list_(session)]


@router.post("/tokens", status_code=201, tags=["tokens"])
def create_token(body: TokenIn, session: SessionDep, _caller: Admin, now: NowDep) -> TokenCreated:
    """Create an API token; its secret is in this answer and nowhere else, ever."""
    token, secret = tokens.create(
        session, handle=body.user, name=body.name, scopes=body.scopes, team=body.team, now=now
    )
    session.commit()
    return TokenCreated(**TokenOut.of(token).model_dump(), token=secret)


@router.delete("/tokens/{token_id}", status_code=204, tags=["tokens"])
def revoke_token(token_id: RowId, session: SessionDep, _caller: Admin, now: NowDep) -> Response:
    """Revoke an API token."""
    tokens.revoke(session, token_id, now=now)
    session.commit()
    return Response(status_code=204)


@router.get("/escalation-policies", tags=["escalation"])
def list_policies(session: SessionDep, _caller: Reader) -> list[dict[str, Any]]:
    """List escalation policies in the config file's shape."""
    return [policies.policy_json(p) for p in policies.list_policies(session)]


@router.get("/escalation-policies/{name}", tags=["escalation"])
def show_policy(name: str, session: SessionDep, _caller: Reader) -> dict[str, Any]:
    """Show one escalation policy."""
    return policies.policy_json(policies.get_policy(session, name))


@router.post("/escalation-policies", status_code=201, tags=["escalation"])
def put_policy(
    body: EscalationPolicySpec, session: SessionDep, _caller: Writer, now: NowDep
) -> dict[str, Any]:
    """Create an escalation policy, or replace its levels."""
    problems = config_apply.policy_problems(body, known=config_apply.stored_targets(session))
    if problems:
        raise InvalidInput.of(problems)
    config_apply.put_policy(session, body, now=now)
    session.commit()
    return policies.policy_json(policies.get_policy(session, body.name))


@router.get("/services/{slug}/runbook", tags=["services"], response_class=PlainTextResponse)
def service_runbook(slug: ServiceSlug, session: SessionDep, _caller: Reader) -> str:
    """The service's runbook as Markdown (scenarios are its `### Issue:` headings)."""
    text = services.get_by_slug(session, slug).runbook
    if text is None:
        raise NotFound(f"service {slug!r} has no runbook")
    return text


@router.get("/config/schema.json", tags=["config"])
def config_schema() -> dict[str, Any]:
    """The JSON Schema of the config file (no token needed: it holds no data)."""
    from tocsin.config import json_schema

    return json_schema()
