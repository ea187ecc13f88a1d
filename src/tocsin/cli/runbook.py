"""`tocsin runbook ...`: every service must have a runbook, in the seed's structure.

The config loader, the runbook parser and the store are imported where used (see
`tocsin.cli.main`).
"""

from typing import Annotated

import typer

from tocsin.cli.common import App, JsonOption, err, out, print_json, state

runbook_app = App(help="Runbooks: symptoms, checks, fixes, escalation.", no_args_is_help=True)


def _from_file(path: str) -> list[tuple[str, str | None, str]]:
    """Return (service, runbook text or None, how to name it in messages) from a config file."""
    from tocsin import config as config_file

    loaded = config_file.load(path)
    found: list[tuple[str, str | None, str]] = []
    for i, spec in enumerate(loaded.spec.services):
        if spec.runbook is None:
            path = f"services[{i}]"
            found.append((spec.slug, None, f"{loaded.where(path)}: {path}"))
            continue
        target = loaded.resolve(spec.runbook)
        text = target.read_text(encoding="utf-8") if target.is_file() else None
        found.append((spec.slug, text, str(target)))
    return found


@runbook_app.command("check")
def check(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option(
            "--config", "-c", metavar="FILE", help="Check the runbooks this tocsin.yaml names."
        ),
    ] = None,
) -> None:
    """Check that every service has a runbook with the four sections; exit 1 otherwise."""
    from tocsin.core import runbook as core
    from tocsin.store import services

    if config is not None:
        found = _from_file(config)
    else:
        st = state(ctx)
        with st.session() as session:
            found = [
                (s.slug, s.runbook, s.runbook_path or f"{s.slug} (stored)")
                for s in services.list_(session)
            ]
    problems: list[str] = []
    for slug, text, where in found:
        if text is None:
            problems.append(
                f"{where}: service {slug!r} has no runbook (every service must have a runbook)"
            )
            continue
        problems += core.check(core.parse(text), path=where, service=slug)
    for problem in problems:
        out.print(problem, markup=False)
    if problems:
        raise typer.Exit(1)
    out.print(f"{len(found)} runbook(s): every service has one, in the seed's structure")


@runbook_app.command("show")
def show(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="The service.")],
    scenario: Annotated[str | None, typer.Option(help="One fix scenario, by slug.")] = None,
    as_json: bool = JsonOption,
) -> None:
    """Print a service's runbook, or the steps of one scenario."""
    from tocsin.core import runbook as core
    from tocsin.store import services

    st = state(ctx)
    with st.session() as session:
        text = services.get_by_slug(session, service).runbook
    if text is None:
        err.print(f"{service} has no runbook", markup=False)
        raise typer.Exit(1)
    book = core.parse(text)
    if scenario is None:
        if as_json:
            print_json(
                {"service": service, "scenarios": [s.slug for s in book.scenarios], "text": text}
            )
        else:
            typer.echo(text, nl=False)
        return
    found = core.scenario(book, scenario)
    if as_json:
        print_json(
            {
                "service": service,
                "scenario": found.slug,
                "name": found.name,
                "steps": [
                    {"number": s.number, "text": s.text, "commands": list(s.commands)}
                    for s in found.steps
                ],
            }
        )
        return
    out.print(f"Issue: {found.name}", markup=False, style="bold")
    for step in found.steps:
        out.print(f"{step.number}. {step.text}", markup=False)
