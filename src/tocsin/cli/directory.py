"""`tocsin user|service|token ...`: the people, the services and the API tokens.

The store and the schemas are imported where used (see `tocsin.cli.main`).
"""

import sys
from typing import Annotated

import typer

from tocsin.cli.common import App, JsonOption, out, print_json, state, success, table
from tocsin.errors import InvalidInput

user_app = App(help="Manage users.", no_args_is_help=True)
service_app = App(help="Manage services.", no_args_is_help=True)
token_app = App(help="Manage API tokens.", no_args_is_help=True)


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    handle: Annotated[str, typer.Argument(help="Short lowercase name, like alice.")],
    name: Annotated[str | None, typer.Option(help="Full name.")] = None,
    email: Annotated[str | None, typer.Option()] = None,
    time_zone: Annotated[str, typer.Option("--time-zone", "--tz", help="IANA zone.")] = "UTC",
    role: Annotated[str, typer.Option(help="viewer, responder or admin.")] = "responder",
    as_json: bool = JsonOption,
) -> None:
    """Add a user."""
    from tocsin.schemas import UserOut
    from tocsin.store import users

    st = state(ctx)
    with st.session() as session:
        user = users.create(
            session,
            handle=handle,
            name=name,
            email=email,
            time_zone=time_zone,
            role=role,
            now=st.now(),
        )
        if as_json:
            print_json(UserOut.of(user))
        else:
            success(f"Added user @{user.handle} ({user.name})")


@user_app.command("password")
def user_password(
    ctx: typer.Context,
    handle: Annotated[str, typer.Argument(help="Whose web login to set.")],
    generate: Annotated[
        bool, typer.Option("--generate", help="Make up a strong password and print it once.")
    ] = False,
    stdin: Annotated[
        bool, typer.Option("--stdin", help="Read the password from the first line of stdin.")
    ] = False,
) -> None:
    """Set a user's password for the web interface (and log out their browsers)."""
    import secrets

    from tocsin.store import users, web_sessions

    st = state(ctx)
    if generate and stdin:
        raise InvalidInput("use either --generate or --stdin, not both")
    if generate:
        password = secrets.token_urlsafe(15)
    elif stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    with st.session() as session:
        user = users.get_by_handle(session, handle)
        users.set_password(session, user, password)
        web_sessions.revoke_all(session, user)
    if generate:
        success(f"Set the password of @{user.handle}; it is shown this once:")
        out.print(password, markup=False)
    else:
        success(f"Set the password of @{user.handle}")


@user_app.command("update")
def user_update(
    ctx: typer.Context,
    handle: Annotated[str, typer.Argument(help="Whom to change.")],
    name: Annotated[str | None, typer.Option(help="Full name.")] = None,
    email: Annotated[str | None, typer.Option()] = None,
    time_zone: Annotated[str | None, typer.Option("--time-zone", "--tz", help="IANA zone.")] = None,
    role: Annotated[str | None, typer.Option(help="viewer, responder or admin.")] = None,
    team: Annotated[
        list[str] | None,
        typer.Option(
            help="A team the user is in, SLUG or SLUG:admin for its administrator (repeat it);"
            " the user leaves the others."
        ),
    ] = None,
    no_teams: Annotated[bool, typer.Option("--no-teams", help="Leave every team.")] = False,
    forget_sso: Annotated[
        bool,
        typer.Option(
            "--forget-sso",
            help="Unbind the identity-provider account they signed in with (recreated there).",
        ),
    ] = False,
    as_json: bool = JsonOption,
) -> None:
    """Change a user's name, email, time zone, role or teams."""
    from tocsin.schemas import UserOut
    from tocsin.services import users as people

    st = state(ctx)
    if team and no_teams:
        raise InvalidInput("use either --team or --no-teams, not both")
    with st.session() as session:
        user, changed = people.update(
            session, handle, name=name, email=email, time_zone=time_zone, role=role
        )
        if team is not None or no_teams:
            changed += people.set_teams(session, user.handle, [] if no_teams else list(team or []))
        if forget_sso and user.sso_subject is not None:
            people.forget_sso_account(session, user.handle)
            changed.append("forgot the single sign-on account")
        shown = UserOut.of(user)
    if as_json:
        print_json(shown)
    elif changed:
        success(f"Updated @{shown.handle}: {', '.join(changed)}")
    else:
        success(f"@{shown.handle} already is so: nothing changed")


@user_app.command("disable")
def user_disable(
    ctx: typer.Context, handle: Annotated[str, typer.Argument(help="Who may no longer log in.")]
) -> None:
    """Keep a user from logging in and from using their API tokens, and log them out.

    They stay on rotas and in every timeline; `tocsin user enable` lets them in again.
    """
    from tocsin.services import users as people

    st = state(ctx)
    with st.session() as session:
        user = people.disable(session, handle, now=st.now())
        shown = user.handle
    success(f"Disabled @{shown}: no login, no API token, browsers logged out")


@user_app.command("enable")
def user_enable(
    ctx: typer.Context, handle: Annotated[str, typer.Argument(help="Who may log in again.")]
) -> None:
    """Let a disabled user log in and use their API tokens again."""
    from tocsin.services import users as people

    st = state(ctx)
    with st.session() as session:
        shown = people.enable(session, handle).handle
    success(f"Enabled @{shown}")


@user_app.command("list")
def user_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List users."""
    from tocsin.schemas import UserOut
    from tocsin.services import users as people
    from tocsin.store import users

    st = state(ctx)
    with st.session() as session:
        listed = users.list_(session)
        found = [UserOut.of(u) for u in listed]
        by_id = people.teams_by_user(session, listed)
        teams = {u.handle: by_id[u.id] for u in listed}
    if as_json:
        print_json(found)
        return
    table(
        None,
        ["Handle", "Name", "Email", "Time zone", "Role", "Teams", "Status"],
        [
            [
                u.handle,
                u.name,
                u.email,
                u.time_zone,
                u.role,
                ", ".join(teams[u.handle]),
                "disabled" if u.disabled else "",
            ]
            for u in found
        ],
    )


@service_app.command("add")
def service_add(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(help="Short name, like api-gateway.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    owner: Annotated[
        str | None, typer.Option(metavar="HANDLE", help="Handle of the owning user.")
    ] = None,
    description: Annotated[str, typer.Option()] = "",
    as_json: bool = JsonOption,
) -> None:
    """Add a service."""
    from tocsin.schemas import ServiceOut
    from tocsin.store import services

    st = state(ctx)
    with st.session() as session:
        service = services.create(
            session, slug=slug, name=name, owner=owner, description=description, now=st.now()
        )
        if as_json:
            print_json(ServiceOut.of(service))
        else:
            success(f"Added service {service.slug} ({service.name})")


@service_app.command("list")
def service_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List services."""
    from tocsin.schemas import ServiceOut
    from tocsin.store import services

    st = state(ctx)
    with st.session() as session:
        found = [ServiceOut.of(s) for s in services.list_(session)]
    if as_json:
        print_json(found)
        return
    table(
        None,
        ["Service", "Name", "Owner", "Team", "Description"],
        [[s.slug, s.name, s.owner, s.team, s.description] for s in found],
    )


@service_app.command("show")
def service_show(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(help="The service.")],
    as_json: bool = JsonOption,
) -> None:
    """Show a service, its severity definitions and its recent incidents."""
    from tocsin.core.incident import incident_ref
    from tocsin.schemas import IncidentOut, ServiceOut
    from tocsin.services import incidents
    from tocsin.store import services, severities

    st = state(ctx)
    with st.session() as session:
        service = services.get_by_slug(session, slug)
        scale = severities.scale(session).with_definitions(service.severity_definitions)
        recent = incidents.list_(session, service=slug, limit=10)
        if as_json:
            data = ServiceOut.of(service).model_dump(mode="json")
            data["recent_incidents"] = [IncidentOut.of(i).model_dump(mode="json") for i in recent]
            print_json(data)
            return
        out.print(f"{service.name} ({service.slug})", markup=False, style="bold")
        out.print(f"Owner: {('@' + service.owner.handle) if service.owner else '-'}", markup=False)
        if service.description:
            out.print(service.description, markup=False)
        table(
            "Severities",
            ["Severity", "Definition", "Response time", "Example"],
            [[s.name, s.definition, s.response_time_label, s.example] for s in scale.levels],
        )
        table(
            "Recent incidents",
            ["Incident", "Severity", "Status", "Title", "Started"],
            [[incident_ref(i.number), i.severity, i.status, i.title, i.started_at] for i in recent],
        )


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    user: Annotated[
        str, typer.Option(metavar="HANDLE", help="Handle of the user the token acts as.")
    ],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    scope: Annotated[
        list[str] | None,
        typer.Option(
            help="calendar, read, write, admin or metrics (repeat); at most what the "
            "user's role allows. Default: read, and write if the role allows."
        ),
    ] = None,
    team: Annotated[
        str | None,
        typer.Option(
            metavar="SLUG",
            help="Scope it to a team: it changes that team's objects only, never administers.",
        ),
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Create an API token. Its secret is printed now and never again."""
    from tocsin.schemas import TokenCreated, TokenOut
    from tocsin.store import tokens

    st = state(ctx)
    with st.session() as session:
        token, secret = tokens.create(
            session, handle=user, name=name, scopes=scope or None, team=team, now=st.now()
        )
        if as_json:
            print_json(TokenCreated(**TokenOut.of(token).model_dump(), token=secret))
        else:
            success(
                f"Token {token.name!r} for @{token.user.handle} ({', '.join(token.scopes)}); "
                "store it now, it is not shown again:"
            )
            out.print(secret, markup=False)


@token_app.command("list")
def token_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List API tokens (never their secrets)."""
    from tocsin.schemas import TokenOut
    from tocsin.store import tokens

    st = state(ctx)
    with st.session() as session:
        found = [TokenOut.of(t) for t in tokens.list_(session)]
    if as_json:
        print_json(found)
        return
    table(
        None,
        ["Id", "Name", "User", "Scopes", "Team", "Ends with", "Created", "Revoked"],
        [
            [t.id, t.name, t.user, t.scopes, t.team, t.hint, t.created_at, t.revoked_at]
            for t in found
        ],
    )


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context, token_id: Annotated[int, typer.Argument(help="The token's id.")]
) -> None:
    """Revoke an API token; it stops working at once."""
    from tocsin.store import tokens

    st = state(ctx)
    with st.session() as session:
        token = tokens.revoke(session, token_id, now=st.now())
        success(f"Revoked token {token.id} ({token.name})")
