"""`tocsin drill`: a tabletop exercise on a simulated clock, ending in a score card.

The drill runner, its sandbox and the database layer are imported where used (see
`tocsin.cli.main`).
"""

import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from tocsin.cli.common import out, state, success, table
from tocsin.clock import FixedClock
from tocsin.errors import InvalidInput

if TYPE_CHECKING:
    from rich.progress import Progress
    from sqlalchemy import Engine

    from tocsin.core import drill as core
    from tocsin.drill.runner import Choice, Line, Result, Situation
    from tocsin.settings import Settings

DEFAULT_CONFIG = "tocsin.yaml"
DEFAULT_SPEED = 60.0  # one simulated minute per real second
_STYLE = {"script": "cyan", "incident": "", "score": "bold"}


class PromptCommander:
    """The person at the keyboard, asked for the IC's moves."""

    def __init__(self, speed: float) -> None:
        self.speed = speed

    def decide(self, situation: "Situation") -> "Choice":
        """Ask for the next move; the time taken counts, scaled by the drill's speed."""
        import click

        from tocsin.core import drill as core
        from tocsin.drill.runner import CHOICES, Choice

        started = time.monotonic()
        ic = f"IC @{situation.commander}" if situation.commander else "no IC"
        acked = (
            f"acknowledged by @{situation.acknowledged_by}"
            if situation.acknowledged_by
            else "not acknowledged"
        )
        out.print(
            Text(
                f"{core.format_offset(situation.offset):<8}{situation.incident} is "
                f"{situation.status}, {acked}, {ic}. You are the IC: your move.",
                style="bold yellow",
            )
        )
        move = click.prompt(
            f"  {' / '.join(CHOICES)}", type=click.Choice(CHOICES), show_choices=False
        )
        who = message = None
        public = True
        if move == "assign":
            default = situation.acknowledged_by or situation.commander or ""
            who = click.prompt("  Who takes command (handle)?", default=default or None)
        elif move == "update":
            public = (
                click.prompt(
                    "  public or internal?",
                    type=click.Choice(["public", "internal"]),
                    default="public",
                )
                == "public"
            )
            hint = situation.hint
            suggestion = hint.message if hint is not None and hint.message else "Investigating."
            message = click.prompt("  Message", default=suggestion)
        thinking = timedelta(seconds=round((time.monotonic() - started) * self.speed))
        return Choice(move, thinking, who=who, message=message, public=public)


def _pacer(speed: float, progress: "Progress | None", task: int | None, total: float) -> object:
    done = [0.0]

    def pace(delta: timedelta) -> None:
        seconds = delta.total_seconds()
        if speed > 0:
            time.sleep(seconds / speed)
        done[0] += seconds
        if progress is not None and task is not None:
            progress.update(task, completed=min(done[0], total))  # type: ignore[arg-type]

    return pace


def drill(
    ctx: typer.Context,
    scenario: Annotated[
        str | None,
        typer.Argument(help="A shipped scenario (see --list) or the path of a scenario .yaml."),
    ] = None,
    config_file: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            metavar="FILE",
            help="The tocsin.yaml to drill against (services, schedules, policies); "
            "default ./tocsin.yaml.",
        ),
    ] = None,
    speed: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Simulated seconds per real second; 0 runs without waiting. "
            "Default: 60 on a terminal, 0 when the output is not one.",
        ),
    ] = None,
    interactive: Annotated[
        bool, typer.Option("--interactive", help="Play the IC yourself: you are asked for moves.")
    ] = False,
    record: Annotated[
        bool,
        typer.Option(
            "--record",
            help="Run in the real database (as configured there), keeping the incident, flagged "
            "as a drill and left out of every metric.",
        ),
    ] = False,
    at: Annotated[
        str | None,
        typer.Option(
            metavar="TIME", help="When the drill starts, which decides who is on call; default now."
        ),
    ] = None,
    postmortem_out: Annotated[
        str | None,
        typer.Option(
            metavar="FILE",
            help="Where to write the postmortem draft; default drill-NAME-postmortem.md.",
        ),
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the shipped scenarios.")] = False,
) -> None:
    """Run a tabletop drill: alerts fire, pages go out, the response is scored."""
    from tocsin import config
    from tocsin.core.timeutil import parse_instant
    from tocsin.drill import sandbox, scenarios
    from tocsin.store.db import require_migrated

    if list_:
        table(
            None,
            ["Scenario", "Severity", "Service", "What happens"],
            [
                [s.name, s.severity, s.service, s.description or s.title]
                for s in scenarios.shipped()
            ],
        )
        return
    if scenario is None:
        raise InvalidInput("name a scenario to drill (tocsin drill --list shows them)")
    plan = scenarios.load(scenario)
    st = state(ctx)
    start = parse_instant(at, now=st.now()) if at else st.now()
    terminal = out.is_terminal
    pace_speed = speed if speed is not None else (DEFAULT_SPEED if terminal else 0.0)
    commander = PromptCommander(pace_speed) if interactive else None
    clock = FixedClock(start)
    if record:
        if config_file is not None:
            raise InvalidInput(
                "--record drills against the database as it is configured; leave out -c"
            )
        engine = st.engine()
        require_migrated(engine)
        result = _play(
            plan, engine, st.settings, clock, pace_speed, terminal, commander, check_open=True
        )
    else:
        path = config_file or (DEFAULT_CONFIG if Path(DEFAULT_CONFIG).is_file() else None)
        if path is None:
            raise InvalidInput(
                "no configuration to drill against: pass -c tocsin.yaml, or run where "
                "./tocsin.yaml is"
            )
        loaded = config.load(path)
        with sandbox.throwaway(loaded, now=start) as engine:
            result = _play(
                plan,
                engine,
                st.settings,
                clock,
                pace_speed,
                terminal,
                commander,
                check_open=False,
            )
    _score_card(result, terminal)
    target = Path(postmortem_out or f"drill-{plan.name}-postmortem.md")
    try:
        target.write_text(result.postmortem, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot write {target}: {exc.strerror}") from exc
    where = f" ({result.incident}, kept as a drill)" if record else ""
    success(f"Wrote the postmortem draft to {target}{where}")


def _play(
    plan: "core.Scenario",
    database: "Engine",
    settings: "Settings",
    clock: FixedClock,
    speed: float,
    terminal: bool,
    commander: PromptCommander | None,
    *,
    check_open: bool,
) -> "Result":
    from rich.progress import BarColumn, Progress, TextColumn

    from tocsin.core import drill as core
    from tocsin.drill.runner import Runner

    total = (plan.length + timedelta(minutes=1)).total_seconds()
    if terminal and commander is None:
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[clock]}"),
            console=out,
            transient=True,
        )
        task = progress.add_task(plan.name, total=total, clock="+0m")

        def show(line: "Line") -> None:
            progress.console.print(_styled(line))
            progress.update(task, clock=core.format_offset(line.offset))

        with progress:
            runner = Runner(
                plan,
                database,
                settings,
                clock,
                show=show,
                pace=_pacer(speed, progress, task, total),  # type: ignore[arg-type]
                check_open=check_open,
            )
            return runner.run()

    def plain(line: "Line") -> None:
        if terminal:
            out.print(_styled(line))
        else:
            out.print(line.plain(), markup=False, highlight=False)

    return Runner(
        plan,
        database,
        settings,
        clock,
        show=plain,
        pace=_pacer(speed, None, None, total),  # type: ignore[arg-type]
        commander=commander,
        check_open=check_open,
    ).run()


def _styled(line: "Line") -> Text:
    from tocsin.core import drill as core

    return Text(f"{core.format_offset(line.offset):<8}", style="dim") + Text(
        line.text, style=_STYLE.get(line.source, "")
    )


def _score_card(result: "Result", terminal: bool) -> None:
    from tocsin.core import drill as core

    card = result.card
    heading = (
        f"Score card: {result.scenario.name} ({result.record.severity or result.scenario.severity},"
        f" {result.incident}): {card.met} of {card.judged} targets met"
    )
    if terminal:
        grid = Table(title=heading, title_justify="left", header_style="bold")
        for column in ("Measure", "Took", "Target", "Result"):
            grid.add_column(column)
        colours = {core.Verdict.MET: "green", core.Verdict.MISSED: "red"}
        for line in card.lines:
            grid.add_row(
                line.label,
                core.short(line.actual) if line.actual is not None else "never",
                core.short(line.target) if line.target is not None else "-",
                Text(line.verdict.value, style=colours.get(line.verdict, "")),
            )
        out.print(grid)
    else:
        out.print("", markup=False)
        out.print(heading, markup=False)
        for line in card.lines:
            out.print(line.text(), markup=False)
    for title, items, style in (
        ("Went well", card.went_well, "green"),
        ("Went wrong", card.went_wrong, "red"),
    ):
        out.print(Text(f"{title}:", style=f"bold {style}" if terminal else ""))
        for item in items or ("(nothing)",):
            out.print(Text(f"  - {item}"))
