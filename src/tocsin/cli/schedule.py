"""`tocsin schedule|oncall|override ...`: who is on call, exactly, in any time zone.

The schedule logic, the config loader, the store, the schemas and the time zone database are
imported where used (see `tocsin.cli.main`).
"""

import bisect
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from tocsin.cli.common import App, JsonOption, err, out, print_json, state, success, table
from tocsin.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from tocsin.core import schedule as sched

schedule_app = App(help="Show and check on-call schedules.", no_args_is_help=True)
override_app = App(help="Put someone on call for a while, above every layer.", no_args_is_help=True)

ConfigOption = typer.Option(
    "--config",
    "-c",
    metavar="FILE",
    help="Read schedules from this tocsin.yaml instead of the database.",
)
CHECK_DAYS = 90
PALETTE = [
    "cyan",
    "magenta",
    "green",
    "yellow",
    "blue",
    "bright_cyan",
    "bright_magenta",
    "bright_green",
    "bright_blue",
    "orange3",
]


def load(ctx: typer.Context, path: str | None) -> "dict[str, sched.Schedule]":
    """Return the schedules by name, from `path` when given, else from the database."""
    from tocsin import config as config_file
    from tocsin.store import schedules as store

    if path is None:
        st = state(ctx)
        with st.session() as session:
            return {s.name: store.to_core(s) for s in store.list_(session)}
    loaded = config_file.load(path)
    known = {u.handle for u in loaded.spec.users} if loaded.spec.users else None
    result: dict[str, sched.Schedule] = {}
    problems: list[str] = []
    for i, spec in enumerate(loaded.spec.schedules):
        built, found = config_file.build_schedule(
            spec, known_users=known, path=f"schedules[{i}]", problem=loaded.problem
        )
        problems += found
        if built is not None:
            result[built.name] = built
    if problems:
        raise InvalidInput.of(problems)
    return result


def pick(schedules: "dict[str, sched.Schedule]", name: str, where: str) -> "sched.Schedule":
    """Return schedule `name`, or raise NotFound naming the known ones."""
    if name not in schedules:
        known = ", ".join(sorted(schedules)) or "none"
        raise NotFound(f"unknown schedule {name!r} in {where} (schedules: {known})")
    return schedules[name]


def when(text: str | None, zone: str, default: datetime) -> datetime:
    """Return the instant `text` names: ISO-8601 local to `zone` unless it has an offset."""
    from tocsin.core import schedule as sched

    if text is None or text.strip().lower() == "now":
        return default
    return sched.parse_time(text, zone)


def shifts_json(shifts: "list[sched.Shift]") -> list[dict[str, Any]]:
    """Return shifts in the `--json` shape."""
    from tocsin.schemas import iso

    return [{"start": iso(s.start), "end": iso(s.end), "users": list(s.users)} for s in shifts]


def _local(at: datetime, zone: "ZoneInfo") -> str:
    return at.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


def _until(start: datetime, end: datetime, zone: "ZoneInfo") -> str:
    """Return the end as a time alone when it falls on the start's local day."""
    a, b = start.astimezone(zone), end.astimezone(zone)
    return b.strftime("%H:%M %Z") if a.date() == b.date() else _local(end, zone)


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}" if hours else f"{minutes}m"


def day_bars(schedule: "sched.Schedule", shifts: "list[sched.Shift]") -> None:
    """Print a bar per local day: 48 half-hour cells coloured by who is on call, gaps in red."""
    from zoneinfo import ZoneInfo

    from tocsin.core import schedule as sched

    if not shifts:
        return
    zone = ZoneInfo(schedule.time_zone)
    starts = [s.start for s in shifts]
    colours: dict[tuple[str, ...], str] = {}
    first = shifts[0].start.astimezone(zone).date()
    last = (shifts[-1].end - timedelta(microseconds=1)).astimezone(zone).date()
    out.print(
        Text(f"Each cell is 30 minutes of {schedule.time_zone} time, 00:00 to 24:00.", style="dim")
    )
    day = first
    while day <= last:
        bar = Text(f"{day:%a %Y-%m-%d} ")
        for cell in range(48):
            wall = datetime(day.year, day.month, day.day) + timedelta(minutes=30 * cell + 15)
            at = sched.localize(wall, schedule.time_zone).astimezone(UTC)
            i = bisect.bisect_right(starts, at) - 1
            if i < 0 or at >= shifts[-1].end:
                bar.append(" ")
                continue
            users = shifts[i].users
            if not users:
                bar.append("░", style="bold red")
                continue
            colour = colours.setdefault(users, PALETTE[len(colours) % len(PALETTE)])
            bar.append("█", style=colour)
        out.print(bar)
        day += timedelta(days=1)
    legend = Text("Legend: ")
    for users, colour in colours.items():
        legend.append("█ ", style=colour)
        legend.append(", ".join(users) + "  ")
    legend.append("░ ", style="bold red")
    legend.append("nobody on call (gap)")
    out.print(legend)


@schedule_app.command("list")
def schedule_list(
    ctx: typer.Context,
    config: Annotated[str | None, ConfigOption] = None,
    as_json: bool = JsonOption,
) -> None:
    """List schedules with their layers and who is on call now."""
    from tocsin.core import schedule as sched

    now = state(ctx).now()
    found = load(ctx, config)
    rows = [
        {
            "name": s.name,
            "time_zone": s.time_zone,
            "layers": [layer.name for layer in s.layers],
            "on_call": list(sched.on_call(s, now)),
        }
        for s in sorted(found.values(), key=lambda s: s.name)
    ]
    if as_json:
        print_json(rows)
        return
    table(
        None,
        ["Schedule", "Time zone", "Layers", "On call now"],
        [[r["name"], r["time_zone"], r["layers"], r["on_call"] or "NOBODY"] for r in rows],
    )


@schedule_app.command("show")
def schedule_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The schedule.")],
    from_: Annotated[
        str | None,
        typer.Option(
            "--from", help="Start; without an offset local to the schedule. Default: now."
        ),
    ] = None,
    to: Annotated[
        str | None, typer.Option(help="End (exclusive). Default: 7 days after start.")
    ] = None,
    config: Annotated[str | None, ConfigOption] = None,
    as_json: bool = JsonOption,
) -> None:
    """Show the final schedule: who is on call when, gaps included."""
    from zoneinfo import ZoneInfo

    from tocsin.core import schedule as sched

    st = state(ctx)
    schedule = pick(load(ctx, config), name, config or "the database")
    start = when(from_, schedule.time_zone, st.now())
    end = when(to, schedule.time_zone, start + timedelta(days=7))
    if end <= start:
        raise InvalidInput(f"--to {to!r} must be after --from {from_ or 'now'!r}")
    if end - start > timedelta(days=3660):
        raise InvalidInput("show at most ten years at a time")
    shifts = sched.final_shifts(schedule, start, end)
    if as_json:
        print_json(shifts_json(shifts))
        return
    zone = ZoneInfo(schedule.time_zone)
    override_windows = [(o.start, o.end) for o in schedule.overrides]
    rows = []
    for s in shifts:
        who = ", ".join(s.users) if s.users else "NOBODY (gap)"
        if s.users and any(a < s.end and s.start < b for a, b in override_windows):
            who += " (override)"
        rows.append(
            [_local(s.start, zone), _until(s.start, s.end, zone), _duration(s.end - s.start), who]
        )
    table(f"{schedule.name} ({schedule.time_zone})", ["From", "To", "For", "On call"], rows)
    day_bars(schedule, shifts)


@schedule_app.command("check")
def schedule_check(
    ctx: typer.Context,
    config: Annotated[str | None, ConfigOption] = None,
    days: Annotated[int, typer.Option(min=1, max=3660, help="How far ahead to look.")] = CHECK_DAYS,
) -> None:
    """List every uncovered window ahead and every layer that never wins; exit 1 on a gap."""
    from zoneinfo import ZoneInfo

    from tocsin.core import schedule as sched

    st = state(ctx)
    start = st.now().replace(second=0, microsecond=0)
    end = start + timedelta(days=days)
    found = load(ctx, config)
    disabled = _disabled_handles(ctx) if config is None else set()
    any_gap = False
    for schedule in sorted(found.values(), key=lambda s: s.name):
        for handle, where in sched.participants_among(schedule, disabled, start, end).items():
            err.print(
                Text(
                    f"warning: {schedule.name}: @{handle} is disabled but takes shifts "
                    f"({', '.join(where)}); their pages reach nobody who can act on them",
                    style="yellow",
                )
            )
        zone = ZoneInfo(schedule.time_zone)
        holes = sched.gaps(schedule, start, end)
        losers = sched.losing_layers(schedule, start, end)
        if holes:
            any_gap = True
            total = sum((h.end - h.start for h in holes), timedelta())
            table(
                f"{schedule.name}: {len(holes)} uncovered window(s) in the next {days} days, "
                f"{_duration(total)} in all",
                ["From", "To", "For"],
                [
                    [
                        _local(h.start, zone),
                        _until(h.start, h.end, zone),
                        _duration(h.end - h.start),
                    ]
                    for h in holes
                ],
            )
        else:
            out.print(f"{schedule.name}: covered around the clock for the next {days} days")
        for layer in losers:
            err.print(
                Text(
                    f"warning: {schedule.name}: layer {layer!r} never wins in the next "
                    f"{days} days (a later layer or an override always covers it)",
                    style="yellow",
                )
            )
    if any_gap:
        raise typer.Exit(1)


def _disabled_handles(ctx: typer.Context) -> set[str]:
    from sqlalchemy import select

    from tocsin.store.models import User

    with state(ctx).session() as session:
        return set(session.scalars(select(User.handle).where(User.disabled_at.is_not(None))))


def oncall(
    ctx: typer.Context,
    schedule: Annotated[str | None, typer.Option(help="Only this schedule.")] = None,
    at: Annotated[
        str | None,
        typer.Option(help="When; without an offset local to each schedule. Default: now."),
    ] = None,
    config: Annotated[str | None, ConfigOption] = None,
    as_json: bool = JsonOption,
) -> None:
    """Show who is on call now (or at --at) for every schedule."""
    from tocsin.core import schedule as sched
    from tocsin.schemas import iso

    st = state(ctx)
    found = load(ctx, config)
    chosen = (
        [pick(found, schedule, config or "the database")]
        if schedule
        else sorted(found.values(), key=lambda s: s.name)
    )
    answers = []
    for s in chosen:
        instant = when(at, s.time_zone, st.now())
        answers.append(
            {"schedule": s.name, "at": iso(instant), "users": list(sched.on_call(s, instant))}
        )
    if as_json:
        print_json(answers[0] if schedule else answers)
        return
    table(
        None,
        ["Schedule", "At", "On call"],
        [[a["schedule"], a["at"], a["users"] or "NOBODY (gap)"] for a in answers],
    )


@override_app.command("add")
def override_add(
    ctx: typer.Context,
    schedule: Annotated[str, typer.Argument(help="The schedule.")],
    user: Annotated[str, typer.Option(help="Who is on call instead.")],
    from_: Annotated[
        str, typer.Option("--from", help="Start; local to the schedule without an offset.")
    ],
    to: Annotated[str, typer.Option(help="End (exclusive).")],
    note: Annotated[str, typer.Option(help="Why, for the others.")] = "",
    as_json: bool = JsonOption,
) -> None:
    """Put a user on call for a window, above every layer."""
    from tocsin.core import schedule as sched
    from tocsin.schemas import override_json
    from tocsin.store import schedules as store

    st = state(ctx)
    with st.session() as session:
        zone = store.get_by_name(session, schedule).time_zone
        start, end = sched.parse_time(from_, zone), sched.parse_time(to, zone)
        override = store.add_override(
            session,
            schedule,
            user=user,
            start=start,
            end=end,
            note=note,
            actor=st.who(),
            now=st.now(),
        )
        data = override_json(override)
    if as_json:
        print_json(data)
    else:
        success(
            f"Override {data['id']}: @{user} on call on {schedule} from {data['start']} "
            f"to {data['end']}"
        )


@override_app.command("list")
def override_list(
    ctx: typer.Context,
    schedule: Annotated[str, typer.Argument(help="The schedule.")],
    all_: Annotated[bool, typer.Option("--all", help="Include overrides that have ended.")] = False,
    as_json: bool = JsonOption,
) -> None:
    """List a schedule's overrides."""
    from zoneinfo import ZoneInfo

    from tocsin.schemas import override_json
    from tocsin.store import schedules as store

    st = state(ctx)
    with st.session() as session:
        zone = ZoneInfo(store.get_by_name(session, schedule).time_zone)
        found = store.list_overrides(session, schedule, since=None if all_ else st.now())
        rows = [override_json(o) for o in found]
        local = [
            [o.id, o.user.handle, _local(o.start, zone), _local(o.end, zone), o.source, o.note]
            for o in found
        ]
    if as_json:
        print_json(rows)
        return
    table(f"Overrides of {schedule}", ["Id", "User", "From", "To", "Source", "Note"], local)


@override_app.command("remove")
def override_remove(
    ctx: typer.Context,
    schedule: Annotated[str, typer.Argument(help="The schedule.")],
    override_id: Annotated[int, typer.Argument(help="The override's id.")],
) -> None:
    """Remove an override."""
    from tocsin.store import schedules as store

    st = state(ctx)
    with st.session() as session:
        store.remove_override(session, schedule, override_id, now=st.now())
    success(f"Removed override {override_id} from {schedule}")
