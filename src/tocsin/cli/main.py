"""The `tocsin` command. Errors are turned into one line and an exit code here, and only here.

`tocsin --help` should answer at once, so the command modules keep their imports cheap: the
database layer, the services and the web stack are imported inside the commands that use them.
They also do without `from __future__ import annotations`: Typer reads every command's signature
to build the help, and would evaluate string annotations again, one by one, on every run.
"""

import os
import sys
from typing import Annotated, Any, NoReturn

import typer
from rich.text import Text
from typer.exceptions import TyperException

from tocsin.cli import (
    alerts,
    audit,
    contacts,
    directory,
    importing,
    incident,
    paging,
    postmortem,
    routes,
    runbook,
    schedule,
    subscribers,
    swaps,
)
from tocsin.cli.common import (
    App,
    Group,
    JsonOption,
    err,
    out,
    print_json,
    reader_gone,
    state,
    success,
    warn,
)
from tocsin.core.audit import Actor, Via
from tocsin.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    NotMigrated,
    PermissionDenied,
    TocsinError,
    Unauthenticated,
)

EXIT_CODES: list[tuple[type[TocsinError], int]] = [
    (InvalidInput, 2),
    (NotFound, 3),
    (Conflict, 4),
    (Unauthenticated, 5),
    (PermissionDenied, 5),
]
EXIT_NOT_MIGRATED = 6
EXIT_INTERNAL = 70


def _loaded_class(module: str, name: str) -> type | None:
    """Return class `name` of `module` if that module was imported, else None.

    An exception can only be an instance of a class whose module is loaded, so checking against
    it needs no import (and the failure path does not pay for alembic or SQLAlchemy).
    """
    found = sys.modules.get(module)
    return None if found is None else getattr(found, name)


def exit_code(exc: TocsinError) -> int:
    """Return the exit code for `exc`."""
    if isinstance(exc, NotMigrated):
        return EXIT_NOT_MIGRATED
    return next((code for cls, code in EXIT_CODES if isinstance(exc, cls)), 1)


# Help lists commands by how often a responder reaches for them during an incident; setting
# Tocsin up and running it come last.
COMMAND_ORDER = [
    "incident",
    "alert",
    "oncall",
    "schedule",
    "override",
    "swap",
    "runbook",
    "postmortem",
    "action",
    "report",
    "drill",
    "policy",
    "maintenance",
    "subscriber",
    "service",
    "integration",
    "route",
    "user",
    "token",
    "init",
    "import",
    "apply",
    "export",
    "vapid-keys",
    "db",
    "serve",
    "engine",
]


class RootGroup(Group):
    """The root group: turns every expected failure into one readable line."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda name: rank.get(name, len(rank)))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except TocsinError as exc:
            _fail(exc.message, exit_code(exc), exc.problems)
        except BrokenPipeError:
            reader_gone()
        except (typer.Exit, typer.Abort, TyperException, SystemExit):
            raise
        except Exception as exc:
            database_error = _loaded_class("sqlalchemy.exc", "SQLAlchemyError")
            if database_error is not None and isinstance(exc, database_error):
                reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
                _fail(f"database error: {reason}", EXIT_INTERNAL)
            # A bug: still one line, the traceback only on request.
            if os.environ.get("TOCSIN_DEBUG"):
                raise
            _fail(
                f"internal error: {type(exc).__name__}: {exc} (set TOCSIN_DEBUG=1 for details)",
                EXIT_INTERNAL,
            )


def _fail(message: str, code: int, problems: list[str] | None = None) -> NoReturn:
    # One line per problem, so a file with three mistakes shows all three at once.
    for line in problems if problems and len(problems) > 1 else [message]:
        err.print(Text("error: ", style="bold red") + Text(line))
    raise typer.Exit(code)


app = App(
    name="tocsin",
    cls=RootGroup,
    help="Tocsin: self-hosted incident response.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = App(help="Database maintenance.", no_args_is_help=True)
app.add_typer(incident.app, name="incident")
app.add_typer(directory.user_app, name="user")
directory.user_app.add_typer(contacts.contact_app, name="contact")
app.add_typer(directory.service_app, name="service")
app.add_typer(importing.import_app, name="import")
app.add_typer(directory.token_app, name="token")
app.add_typer(db_app, name="db")
app.add_typer(schedule.schedule_app, name="schedule")
app.add_typer(schedule.override_app, name="override")
app.add_typer(swaps.swap_app, name="swap")
app.command("oncall")(schedule.oncall)
app.add_typer(alerts.integration_app, name="integration")
app.add_typer(alerts.alert_app, name="alert")
app.add_typer(alerts.maintenance_app, name="maintenance")
app.add_typer(routes.route_app, name="route")
app.add_typer(paging.policy_app, name="policy")
app.add_typer(postmortem.postmortem_app, name="postmortem")
app.add_typer(postmortem.action_app, name="action")
app.add_typer(postmortem.report_app, name="report")
app.add_typer(runbook.runbook_app, name="runbook")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(subscribers.subscriber_app, name="subscriber")
app.command("drill")(__import__("tocsin.cli.drill", fromlist=["drill"]).drill)
incident.app.command("notifications")(paging.notifications)


@app.callback()
def root(
    ctx: typer.Context,
    as_: Annotated[
        str | None,
        typer.Option(
            "--as", metavar="HANDLE", envvar="TOCSIN_ACTOR", help="Who you are on the timeline."
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            metavar="TOKEN",
            envvar="TOCSIN_TOKEN",
            help="Act as this API token's user, within what the token allows (a team token:"
            " that team's objects only).",
        ),
    ] = None,
) -> None:
    """Tocsin: self-hosted incident response."""
    st = state(ctx)
    st.actor = as_
    st.token = token or None
    ctx.call_on_close(st.close)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the database schema to this version."""
    from tocsin.store.db import current_revision, head_revision, upgrade

    st = state(ctx)
    engine = st.engine()
    before = current_revision(engine)
    upgrade(engine)
    url = engine.url.render_as_string(hide_password=True)
    if before == head_revision():
        success(f"{url} is up to date ({before})")
    else:
        success(f"Migrated {url} from {before or 'empty'} to {head_revision()}")


@app.command()
def init(
    ctx: typer.Context,
    admin: Annotated[
        str, typer.Option(metavar="HANDLE", help="Handle of the first admin.")
    ] = "admin",
    as_json: bool = JsonOption,
) -> None:
    """Create the first admin and print its API token once; does nothing if users exist."""
    import secrets

    from tocsin.store import tokens, users

    st = state(ctx)
    with st.session() as session:
        if users.list_(session):
            success("Tocsin already has users; nothing to do.")
            if as_json:
                print_json(None)
            return
        user = users.create(session, handle=admin, name="Administrator", role="admin", now=st.now())
        token, secret = tokens.create(
            session, handle=user.handle, name="bootstrap", scopes=["admin"], now=st.now()
        )
        password = secrets.token_urlsafe(15)
        users.set_password(session, user, password)
        if as_json:
            print_json(
                {
                    "user": user.handle,
                    "token": secret,
                    "scopes": token.scopes,
                    "password": password,
                }
            )
            return
        success(f"Created admin @{user.handle}. Its API token is shown this once; keep it:")
        out.print(secret, markup=False)
        success(f"Log in to the web interface as @{user.handle} with this password (shown once):")
        out.print(password, markup=False)


@app.command()
def apply(
    ctx: typer.Context,
    file: Annotated[
        str, typer.Option("--file", "-f", metavar="FILE", help="The tocsin.yaml to apply.")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the changes and make none.")
    ] = False,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Also delete what the sections the file writes do not list. Users with "
            "history are kept (with a warning); services that incidents name cannot go.",
        ),
    ] = False,
    keys: Annotated[
        str | None,
        typer.Option(
            "--keys",
            metavar="FILE",
            help="Integration keys to keep (`integrations: {service/name: key}`, mode 600), "
            "as `tocsin import --keep-keys` writes them: senders then change only their URL.",
        ),
    ] = None,
) -> None:
    """Create or update what a config file describes (validated as a whole first).

    Prints one line per change: `create KIND NAME`, `update KIND NAME (fields)`, `delete KIND
    NAME`. A new integration's key is printed once, by the apply that creates it.
    """
    from tocsin import config
    from tocsin.services import config_apply as applier

    st = state(ctx)
    loaded = config.load(file)
    if keys is not None:
        loaded.keys = config.load_keys(keys)
        loaded.keys_path = keys
    applied_by = Actor(st.who(), Via.APPLY, f"{file} sha256:{loaded.sha256}")
    with st.session(actor=applied_by) as session:
        if dry_run:
            plan = applier.dry_run(session, loaded, now=st.now(), prune=prune)
        else:
            plan = applier.apply(session, loaded, now=st.now(), prune=prune)
    for change in plan.changes:
        out.print(change.line(show_secret=not dry_run), markup=False)
    warn(plan.warnings)
    for line in plan.refused:
        err.print(Text("refused: ", style="bold red") + Text(line))
    count = len(plan.changes)
    refused = f"; {len(plan.refused)} refused (beyond the token's reach)" if plan.refused else ""
    if not count:
        success(f"{file}: no changes{refused}")
    elif dry_run:
        success(f"Dry run of {file}: {count} change(s), none made{refused}")
    else:
        success(f"Applied {file}: {count} change(s){refused}")
    if plan.refused:
        # What could be applied is; the exit status says the file was not applied whole.
        raise typer.Exit(dict(EXIT_CODES)[PermissionDenied])


@app.command("export")
def export_config(
    ctx: typer.Context,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write to this file, not stdout."),
    ] = None,
    include_secrets: Annotated[
        bool,
        typer.Option(
            "--include-secrets",
            help="Also write webhook signing secrets (needed to rebuild on a new database).",
        ),
    ] = False,
) -> None:
    """Write the configuration in the database as a tocsin.yaml that apply reads back.

    Applying the export to the same database changes nothing. Integration keys are never
    written (only their hashes are kept). Without --include-secrets, webhook signing secrets
    are left out, and apply keeps the stored ones. Runbook paths are written as they were
    applied, relative to the file that named them: write the export into that folder (or
    copy the runbooks along) before applying it.
    """
    from pathlib import Path

    from tocsin.services import config_export as exporter

    st = state(ctx)
    with st.session() as session:
        data = exporter.export(session, include_secrets=include_secrets)
    text = exporter.dump(data)
    if output is None:
        typer.echo(text, nl=False)
        return
    target = Path(output)
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot write {target}: {exc.strerror}") from exc
    missing = [
        f"{target}: services[{i}].runbook: no {s['runbook']} beside this file; copy the "
        "runbook there before applying it"
        for i, s in enumerate(data.get("services", []))
        if "runbook" in s and not (target.parent / s["runbook"]).is_file()
    ]
    warn(missing)
    success(f"Wrote {target}")


SHUTDOWN_SECONDS = 5


@app.command("vapid-keys")
def vapid_keys() -> None:
    """Print a new VAPID key pair for Web Push, as the settings that take it."""
    from tocsin.notify.webpush import generate

    private, public = generate()
    out.print(f"TOCSIN_VAPID_PRIVATE_KEY={private}", soft_wrap=True)
    out.print(f"# public key (browsers subscribe with it; the profile page gives it): {public}")
    out.print("TOCSIN_VAPID_SUBJECT=mailto:oncall@example.com", soft_wrap=True)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    tls_cert: Annotated[
        str | None,
        typer.Option(
            metavar="FILE",
            help="PEM certificate: serve HTTPS (senders like the pagerduty client insist on it).",
        ),
    ] = None,
    tls_key: Annotated[
        str | None, typer.Option(metavar="FILE", help="PEM private key for --tls-cert.")
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Server processes (use the cores you have).")
    ] = 1,
    access_log: Annotated[
        bool, typer.Option(help="Log every HTTP request (ingestion is recorded anyway).")
    ] = False,
) -> None:
    """Serve the web UI, the API and the ingestion endpoints."""
    import uvicorn

    from tocsin.server import serving_app
    from tocsin.store.db import require_migrated

    st = state(ctx)
    if (tls_cert is None) != (tls_key is None):
        raise InvalidInput("--tls-cert and --tls-key go together")
    require_migrated(st.engine())
    # Built before the banner, so that settings that cannot work (single sign-on, retention,
    # Slack channels) stop the start with their reasons rather than after "Tocsin on ...".
    served = serving_app(st.settings)
    scheme = "https" if tls_cert else "http"
    success(f"Tocsin on {scheme}://{host}:{port} (API docs at /docs)")
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "access_log": access_log,
        "ssl_certfile": tls_cert,
        "ssl_keyfile": tls_key,
        # On SIGTERM, give requests in flight a few seconds, then stop anyway: a client that
        # keeps its connection busy must not keep the server up.
        "timeout_graceful_shutdown": SHUTDOWN_SECONDS,
    }
    if workers == 1:
        uvicorn.run(served, **options)
    else:
        served.state.engine.dispose()  # each worker builds its own
        # Each worker process builds its own app from the same TOCSIN_* environment.
        os.environ["TOCSIN_DATABASE_URL"] = st.settings.database_url
        uvicorn.run("tocsin.server:serving_app", factory=True, workers=workers, **options)


@app.command()
def engine(ctx: typer.Context) -> None:
    """Run only the engine (escalations, the outbox, heartbeats), for more nodes on PostgreSQL."""
    import logging
    import signal

    from tocsin.app import freeze_startup_objects
    from tocsin.store.db import require_migrated

    st = state(ctx)
    require_migrated(st.engine())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per page is the outbox's job
    runtime = st.runtime()
    worker = runtime.engine
    node = runtime.sender.node

    def stop(_signum: int, _frame: object) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    success(f"Tocsin engine {node} running on {st.engine().url.get_backend_name()}")
    freeze_startup_objects()
    worker.run_forever()


def main() -> None:
    """Run the CLI."""
    try:
        try:
            app(prog_name="tocsin")
        finally:
            sys.stdout.flush()  # the last of the output may meet the closed pipe only here
    except BrokenPipeError:
        reader_gone()
    sys.exit(0)
