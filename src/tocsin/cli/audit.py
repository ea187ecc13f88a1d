"""`tocsin audit list`: who changed what in the configuration and among the people, and when.

The services and the schemas are imported where used (see `tocsin.cli.main`).
"""

from typing import Annotated

import typer

from tocsin.cli.common import App, JsonOption, fmt_time, out, print_json, state, table

audit_app = App(
    help="The audit log: every change to configuration and people, and every sign-in.",
    no_args_is_help=True,
)


@audit_app.command("list")
def audit_list(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(metavar="TIME", help="From this instant on: 2026-11-01, 09:00Z or '7d'."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(metavar="TIME", help="Before this instant, written alike.")
    ] = None,
    who: Annotated[
        str | None, typer.Option(metavar="HANDLE", help="Only what this person did.")
    ] = None,
    object_: Annotated[
        str | None,
        typer.Option(
            "--object",
            metavar="KIND[:NAME]",
            help="Only this kind (service), this object (service:payments) or a name alone "
            "(payments), with what belongs to it.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
    cursor: Annotated[
        str | None,
        typer.Option(metavar="CURSOR", help="Go on where an earlier --json list stopped."),
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """List audit entries, newest first.

    With --json the answer is `{"entries": [...], "next_cursor": ...}`; pass the cursor back
    with --cursor (and the same filters) for the entries before.
    """
    from tocsin.core.audit import describe, short_detail
    from tocsin.schemas import AuditEntryOut
    from tocsin.services import audit

    st = state(ctx)
    where = audit.where(since=since, until=until, who=who, object=object_, now=st.now())
    with st.session() as session:
        found = audit.page(session, where, limit=limit, cursor=cursor)
        entries = [AuditEntryOut.of(entry) for entry in found.items]
    if as_json:
        print_json({"entries": entries, "next_cursor": found.next_cursor})
        return
    if not entries:
        out.print("No audit entries match.", markup=False)
        return
    table(
        None,
        ["When", "Who", "Via", "Action", "Object", "Changes"],
        [
            [
                fmt_time(e.at),
                e.who,
                f"{e.via} {short_detail(e.detail)}" if e.detail else e.via,
                e.action,
                f"{e.object_type} {e.object_key}",
                describe(e.action, e.changes, width=30),
            ]
            for e in entries
        ],
    )
    if found.next_cursor:
        out.print(f"More entries before these: --cursor {found.next_cursor}", markup=False)
