"""`tocsin swap ...`: ask teammates to cover part of your shift, and take theirs.

The services, the store and the schedule logic are imported where used (see `tocsin.cli.main`).
"""

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tocsin.cli.common import App, JsonOption, err, out, print_json, state, success, table, warn

if TYPE_CHECKING:
    from tocsin.services.swaps import View

swap_app = App(
    help="Shift swaps: ask teammates to cover part of your shift; the first to accept takes it.",
    no_args_is_help=True,
)


def _local(at: datetime, zone: str) -> str:
    from zoneinfo import ZoneInfo

    return at.astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M %Z")


def _row(seen: "View") -> list[Any]:
    swap = seen.swap
    zone = swap.schedule.time_zone
    return [
        swap.id,
        swap.schedule.name,
        "@" + swap.requester.handle,
        _local(swap.start, zone),
        _local(swap.end, zone),
        seen.status.value,
        "@" + swap.taker.handle if swap.taker is not None else "",
        swap.note,
    ]


COLUMNS = ["Id", "Schedule", "Asked by", "From", "To", "Status", "Taken by", "Note"]


@swap_app.command("request")
def swap_request(
    ctx: typer.Context,
    schedule: Annotated[str, typer.Argument(help="The schedule you are on call on.")],
    from_: Annotated[
        str,
        typer.Option(
            "--from",
            metavar="WHEN",
            help="Start: ISO-8601, local to the schedule without an offset, or 'now'.",
        ),
    ],
    to: Annotated[str, typer.Option(metavar="WHEN", help="End (exclusive), written alike.")],
    note: Annotated[str, typer.Option(metavar="TEXT", help="Why, for your teammates.")] = "",
    as_json: bool = JsonOption,
) -> None:
    """Ask your teammates to cover part of your own shift; they are notified."""
    from tocsin.cli.schedule import when
    from tocsin.services import swaps
    from tocsin.store import schedules

    st = state(ctx)
    now = st.now()
    with st.session() as session:
        zone = schedules.get_by_name(session, schedule).time_zone
        start, end = when(from_, zone, now), when(to, zone, now)
        swap = swaps.request(
            session, schedule, requester=st.who(), start=start, end=end, note=note, now=now
        )
        seen = swaps.view(session, swap, st.who(), now=now)
        data = swaps.to_json(seen)
        shown = _row(seen)
    if as_json:
        print_json(data)
    else:
        success(
            f"Swap request {data['id']}: cover asked on {schedule} from {shown[3]} to {shown[4]}"
        )


@swap_app.command("list")
def swap_list(
    ctx: typer.Context,
    schedule: Annotated[
        str | None, typer.Option(metavar="NAME", help="Only this schedule's requests.")
    ] = None,
    person: Annotated[
        str | None,
        typer.Option("--person", metavar="HANDLE", help="Only those this person asked or took."),
    ] = None,
    open_: Annotated[
        bool, typer.Option("--open", help="Only requests still open to accept.")
    ] = False,
    as_json: bool = JsonOption,
) -> None:
    """List swap requests, latest range first."""
    from tocsin.services import swaps

    st = state(ctx)
    now = st.now()
    with st.session() as session:
        found = swaps.list_(session, schedule=schedule, person=person, open_only=open_, now=now)
        views = [swaps.view(session, s, st.who(), now=now) for s in found]
        data = [swaps.to_json(v) for v in views]
        rows = [_row(v) for v in views]
    if as_json:
        print_json(data)
        return
    if not rows:
        out.print("No swap requests match.", markup=False)
        return
    table(None, COLUMNS, rows)


@swap_app.command("show")
def swap_show(
    ctx: typer.Context,
    swap_id: Annotated[int, typer.Argument(metavar="ID", help="The request's id.")],
    as_json: bool = JsonOption,
) -> None:
    """Show a swap request, with what you should know before taking it."""
    from tocsin.services import swaps

    st = state(ctx)
    now = st.now()
    with st.session() as session:
        seen = swaps.view(session, swaps.get(session, swap_id), st.who(), now=now)
        data = swaps.to_json(seen)
        row = _row(seen)
    if as_json:
        print_json(data)
        return
    table(f"Swap request {swap_id}", COLUMNS, [row])
    if seen.may_accept:
        out.print(f"You may take it: tocsin swap accept {swap_id}", markup=False)
    for warning in data["warnings"]:
        out.print(f"warning ({warning['kind']}): {warning['message']}", markup=False)


@swap_app.command("accept")
def swap_accept(
    ctx: typer.Context,
    swap_id: Annotated[int, typer.Argument(metavar="ID", help="The request's id.")],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Accept without asking, whatever the warnings.")
    ] = False,
    as_json: bool = JsonOption,
) -> None:
    """Cover a teammate's shift: you become an override for the rest of the range."""
    from tocsin.services import swaps
    from tocsin.store.models import ScheduleOverride

    st = state(ctx)
    # Read and warn in one transaction, accept in another: nobody's write waits on the prompt.
    with st.session() as session:
        seen = swaps.view(session, swaps.get(session, swap_id), st.who(), now=st.now())
        messages = [w.message for w in seen.warnings]
    if messages:
        warn(messages)
        if not yes and not typer.confirm("Accept anyway?", err=True):
            err.print("Not accepted.", markup=False)
            raise typer.Exit(1)
    with st.session() as session:
        swap = swaps.accept(session, swap_id, taker=st.who(), now=st.now())
        seen = swaps.view(session, swap, st.who(), now=st.now())
        data = swaps.to_json(seen)
        row = _row(seen)
        # Accepted part-way through, the override covers only what is left of the range.
        cover = session.get(ScheduleOverride, swap.override_id) if swap.override_id else None
        begins = _local(cover.start, swap.schedule.time_zone) if cover is not None else row[3]
    if as_json:
        print_json(data)
    else:
        success(
            f"Accepted swap request {swap_id}: you are on call on {row[1]} "
            f"from {begins} to {row[4]}"
        )


@swap_app.command("cancel")
def swap_cancel(
    ctx: typer.Context,
    swap_id: Annotated[int, typer.Argument(metavar="ID", help="The request's id.")],
) -> None:
    """Withdraw your request while nobody has taken it."""
    from tocsin.services import swaps

    st = state(ctx)
    with st.session() as session:
        swaps.cancel(session, swap_id, actor=st.who(), now=st.now())
    success(f"Cancelled swap request {swap_id}")
