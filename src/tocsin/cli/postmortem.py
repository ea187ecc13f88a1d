"""`tocsin postmortem ...`, `tocsin action ...` and `tocsin report [oncall]`: learn from the
incident, without blame, and see what being on call costs.

The services and the schemas are imported where used (see `tocsin.cli.main`).
"""

import os
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from tocsin.cli.common import App, JsonOption, err, out, print_json, state, success, table, warn
from tocsin.errors import InvalidInput

postmortem_app = App(help="Blameless postmortems.", no_args_is_help=True)
action_app = App(help="Action items from postmortems.", no_args_is_help=True)

Ref = Annotated[str, typer.Argument(help="The incident, like INC-42.")]


@postmortem_app.command("draft")
def draft(ctx: typer.Context, ref: Ref, as_json: bool = JsonOption) -> None:
    """Draft the postmortem of a resolved incident from what it recorded."""
    from tocsin.core.incident import incident_ref
    from tocsin.schemas import postmortem_json
    from tocsin.services import incidents, postmortems

    st = state(ctx)
    with st.session() as session:
        postmortem = postmortems.draft(
            session, ref, actor=st.who(), now=st.now(), template_dir=st.settings.template_dir
        )
        name = incident_ref(incidents.get(session, ref).number)
        data = postmortem_json(name, postmortem)
    if as_json:
        print_json(data)
        return
    typer.echo(data["body"], nl=False)
    success(f"Drafted the postmortem of {name}; edit it with `tocsin postmortem edit {name}`")


@postmortem_app.command("show")
def show(
    ctx: typer.Context,
    ref: Ref,
    format_: Annotated[str, typer.Option("--format", help="markdown or html.")] = "markdown",
    as_json: bool = JsonOption,
) -> None:
    """Print a postmortem as Markdown (or HTML)."""
    from tocsin.core.incident import incident_ref
    from tocsin.schemas import postmortem_json
    from tocsin.services import postmortems

    st = state(ctx)
    with st.session() as session:
        incident, postmortem = postmortems.get(session, ref)
        data = postmortem_json(incident_ref(incident.number), postmortem)
    if as_json:
        print_json(data)
    elif format_ == "html":
        typer.echo(postmortems.to_html(data["body"]), nl=False)
    elif format_ == "markdown":
        typer.echo(data["body"], nl=False)
    else:
        raise InvalidInput(f"unknown format {format_!r}; valid: markdown, html")


@postmortem_app.command("edit")
def edit(
    ctx: typer.Context,
    ref: Ref,
    file: Annotated[
        str | None,
        typer.Option(
            "--file", "-f", metavar="FILE", help="Take the text from this file ('-': stdin)."
        ),
    ] = None,
) -> None:
    """Edit a postmortem in $EDITOR (or replace it with a file's text)."""
    import shlex
    import subprocess
    import tempfile

    from tocsin.services import postmortems

    st = state(ctx)
    with st.session() as session:
        _incident, postmortem = postmortems.get(session, ref)
        current = postmortem.body
    if file == "-":
        body = typer.get_text_stream("stdin").read()
    elif file is not None:
        body = Path(file).read_text(encoding="utf-8")
    else:
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "postmortem.md"
            path.write_text(current, encoding="utf-8")
            finished = subprocess.run([*shlex.split(editor), str(path)], check=False)
            if finished.returncode != 0:
                raise InvalidInput(
                    f"the editor {editor!r} exited with {finished.returncode}; nothing saved"
                )
            body = path.read_text(encoding="utf-8")
    if body == current:
        err.print("No changes.")
        return
    with st.session() as session:
        postmortems.edit(session, ref, body, now=st.now())
    success("Saved the postmortem")


@postmortem_app.command("status")
def status(
    ctx: typer.Context,
    ref: Ref,
    new_status: Annotated[
        str, typer.Argument(metavar="STATUS", help="draft, in_review or published.")
    ],
) -> None:
    """Move a postmortem on: draft -> in_review -> published (publishing checks for blame)."""
    from tocsin.services import postmortems

    st = state(ctx)
    with st.session() as session:
        postmortem, warnings = postmortems.set_status(session, ref, new_status, now=st.now())
        final = postmortem.status
    warn(warnings)
    success(f"The postmortem is {final}")


@postmortem_app.command("check")
def check(ctx: typer.Context, ref: Ref) -> None:
    """Flag sentences that blame a person, with their lines; exit 1 if any."""
    from tocsin.services import postmortems

    st = state(ctx)
    with st.session() as session:
        _incident, postmortem = postmortems.get(session, ref)
        found = postmortems.blameless_warnings(session, postmortem)
    for line in found:
        out.print(line, markup=False)
    if found:
        raise typer.Exit(1)
    out.print("No sentence blames a person.")


@postmortem_app.command("runbook-updated")
def runbook_updated(ctx: typer.Context, ref: Ref) -> None:
    """Record that the runbook has the resolution steps (closes the runbook action item)."""
    from tocsin.services import postmortems

    st = state(ctx)
    with st.session() as session:
        postmortems.runbook_updated(session, ref, now=st.now())
    success("Noted: the runbook is updated")


@action_app.command("add")
def action_add(
    ctx: typer.Context,
    ref: Ref,
    action: Annotated[str, typer.Argument(help="What to do.")],
    owner: Annotated[str | None, typer.Option(metavar="HANDLE", help="Who does it.")] = None,
    priority: Annotated[str, typer.Option(help="P0 (most urgent) .. P3.")] = "P2",
    due: Annotated[str | None, typer.Option(metavar="DATE", help="YYYY-MM-DD.")] = None,
    as_json: bool = JsonOption,
) -> None:
    """Add an action item to an incident."""
    from tocsin.schemas import action_json
    from tocsin.services import actions, incidents

    st = state(ctx)
    try:
        due_date = date.fromisoformat(due) if due else None
    except ValueError:
        raise InvalidInput(f"due {due!r} is not a date like 2024-07-01") from None
    with st.session() as session:
        incident = incidents.get(session, ref)
        item = actions.add(
            session,
            incident=incident,
            action=action,
            owner=owner,
            priority=priority,
            due=due_date,
            actor=st.who(),
            now=st.now(),
        )
        data = action_json(item, incident.number)
    if as_json:
        print_json(data)
    else:
        success(f"Action item {data['id']} ({data['priority']}) on {data['incident']}")


@action_app.command("list")
def action_list(
    ctx: typer.Context,
    incident: Annotated[str | None, typer.Option(help="Only this incident's.")] = None,
    status_: Annotated[str | None, typer.Option("--status", help="open, done, wont_do.")] = None,
    overdue: Annotated[
        bool, typer.Option(help="Only open P0/P1 items past their due date.")
    ] = False,
    as_json: bool = JsonOption,
) -> None:
    """List action items, most urgent first."""
    from tocsin.schemas import action_json
    from tocsin.services import actions, incidents

    st = state(ctx)
    with st.session() as session:
        found = actions.list_(
            session,
            incident=incidents.get(session, incident) if incident else None,
            status=status_,
            overdue=overdue,
            today=st.now().date(),
        )
        numbers = actions.incident_numbers(session, found)
        rows = [action_json(i, numbers.get(i.incident_id or 0)) for i in found]
    if as_json:
        print_json(rows)
        return
    table(
        None,
        ["Id", "Incident", "Priority", "Action", "Owner", "Due", "Status"],
        [
            [r["id"], r["incident"], r["priority"], r["action"], r["owner"], r["due"], r["status"]]
            for r in rows
        ],
    )


def _set(ctx: typer.Context, item_id: int, status_: str) -> None:
    from tocsin.services import actions

    st = state(ctx)
    with st.session() as session:
        actions.set_status(session, item_id, status_, now=st.now())
    success(f"Action item {item_id}: {status_}")


@action_app.command("done")
def action_done(ctx: typer.Context, item_id: Annotated[int, typer.Argument()]) -> None:
    """Mark an action item done."""
    _set(ctx, item_id, "done")


@action_app.command("wontdo")
def action_wontdo(ctx: typer.Context, item_id: Annotated[int, typer.Argument()]) -> None:
    """Mark an action item as won't do."""
    _set(ctx, item_id, "wont_do")


report_app = App(
    help="Response metrics, and with `oncall`, hours on call per person.",
    invoke_without_command=True,
)


@report_app.callback(invoke_without_command=True)
def report(
    ctx: typer.Context,
    # No default value of its own: the group's options are read even for `report oncall
    # --help`, and reading a value loads the CLI's validation library, which help never needs.
    since: Annotated[
        str | None,
        typer.Option(metavar="DURATION", help="How far back: 90d, 12h; or 'all'. [default: 90d]"),
    ] = None,
    service: Annotated[str | None, typer.Option(help="Only incidents affecting it.")] = None,
    plot: Annotated[
        str | None,
        typer.Option(
            metavar="FILE",
            help="Also draw MTTA and MTTR by month and severity into FILE.png or FILE.svg.",
        ),
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Response metrics: MTTA, MTTR (p50/p90) and the share acknowledged in time."""
    if ctx.invoked_subcommand is not None:
        return  # `tocsin report oncall ...`: the subcommand reports, not the metrics
    from tocsin.core.timeutil import parse_duration
    from tocsin.store import reports

    st = state(ctx)
    now = st.now()
    since = since or "90d"
    start = now - parse_duration(since) if since != "all" else None
    with st.session() as session:
        data = reports.report(session, now=now, start=start, service=service)
        if plot is not None:
            from tocsin import plots
            from tocsin.store import severities

            plots.mtta_mttr_by_month(
                reports.incident_times(session, start=start, service=service),
                severities.scale(session),
                now=now,
                path=Path(plot),
            )
            success(f"Wrote {plot}")
    if as_json:
        print_json(data)
        return

    def minutes(value: float | None) -> str:
        return "-" if value is None else f"{value / 60:.1f} min"

    for title, key in (
        ("By severity", "by_severity"),
        ("By service", "by_service"),
        ("By month", "by_month"),
    ):
        groups = data[key]
        table(
            title,
            ["", "Incidents", "MTTA", "MTTA p90", "MTTR", "MTTR p90", "Acked in time"],
            [
                [
                    name,
                    s["count"],
                    minutes(s["mtta_seconds"]),
                    minutes(s["mtta_p90_seconds"]),
                    minutes(s["mttr_seconds"]),
                    minutes(s["mttr_p90_seconds"]),
                    "-" if s["within_response"] is None else f"{s['within_response']:.0%}",
                ]
                for name, s in groups.items()
            ],
        )


def _hours(value: float) -> str:
    """Return hours as people write them: 37.5, 8, 0.25."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _cell(value: object) -> object:
    """Return `value` as a spreadsheet reads it as text: a display name comes from people or
    from the identity provider, and one starting "=" (or +, -, @) would run as a formula in
    whoever opens the file."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@report_app.command("oncall")
def report_oncall(
    ctx: typer.Context,
    from_: Annotated[
        str,
        typer.Option(
            "--from",
            metavar="DATE|DATETIME",
            help="Start (ISO-8601). Without an offset: local to the schedule when one is named, "
            "else UTC.",
        ),
    ],
    to: Annotated[
        str, typer.Option(metavar="DATE|DATETIME", help="End (exclusive), read like --from.")
    ],
    schedule: Annotated[
        list[str] | None,
        typer.Option(metavar="NAME", help="Only this schedule (repeat for several). Default: all."),
    ] = None,
    as_json: bool = JsonOption,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV with a header row.")] = False,
) -> None:
    """Hours on call per person: business, evenings, nights, weekends; and pages received.

    Hours come from the final schedule (overrides and swaps included) and are split on each
    person's own local clock; drills are left out of the pages.
    """
    import csv
    import sys

    from tocsin.services import reports

    if as_json and as_csv:
        raise InvalidInput("choose one of --json and --csv")
    st = state(ctx)
    with st.session() as session:
        data = reports.oncall(session, from_=from_, to=to, schedules=schedule or [])
    if as_json:
        print_json(data)
        return
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=reports.COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in data["people"])
        return
    hour_keys = ["total_hours", *reports.HOUR_KEYS.values()]
    totals = data["totals"]
    shown = ", ".join(data["schedules"]) or "no schedules"
    table(
        f"On call from {data['from']} to {data['to']} ({shown})",
        [
            "Person",
            "Time zone",
            "Total h",
            "Business",
            "Evenings",
            "Nights",
            "Weekends",
            "Pages",
            "Night pages",
        ],
        [
            *(
                [
                    p["user"],
                    p["time_zone"],
                    *(_hours(p[k]) for k in hour_keys),
                    p["pages"],
                    p["night_pages"],
                ]
                for p in data["people"]
            ),
            [
                "Total",
                "",
                *(_hours(totals[k]) for k in hour_keys),
                totals["pages"],
                totals["night_pages"],
            ],
        ],
    )
