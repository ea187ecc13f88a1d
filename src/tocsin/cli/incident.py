"""`tocsin incident ...`: run an incident from the terminal.

The services, the models and the schemas are imported where used (see `tocsin.cli.main`).
"""

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from tocsin.cli.common import (
    App,
    JsonOption,
    fmt_time,
    out,
    print_json,
    read_text_arg,
    state,
    success,
    table,
    warn,
)

if TYPE_CHECKING:
    from tocsin.services import incidents
    from tocsin.store.models import Incident

app = App(help="Declare and run incidents.", no_args_is_help=True)

Ref = Annotated[str, typer.Argument(help="The incident, like INC-42 (or 42).")]


def _done(outcome: "incidents.Outcome", as_json: bool) -> None:
    from tocsin.core.incident import incident_ref
    from tocsin.schemas import IncidentOut

    warn(outcome.warnings)
    incident = outcome.incident
    if as_json:
        print_json(IncidentOut.of(incident, outcome.warnings))
        return
    last = incident.events[-1] if incident.events else None
    line = f"{incident_ref(incident.number)}: {last.message if last else incident.status}"
    success(line)


@app.command()
def declare(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(help="What is broken: 'All requests returning 502'.")],
    severity: Annotated[
        str, typer.Option("--severity", "-s", help="SEV-1 (highest) .. SEV-4. Declare early.")
    ],
    service: Annotated[
        list[str] | None, typer.Option("--service", "-S", help="An affected service (repeat).")
    ] = None,
    impact: Annotated[str, typer.Option(help="Who is affected and how.")] = "",
    summary: Annotated[str, typer.Option(help="What is happening, as far as known.")] = "",
    detection: Annotated[str, typer.Option(help="How it was detected (the alert).")] = "",
    started_at: Annotated[
        str | None,
        typer.Option(
            metavar="TIME",
            help="When impact began: 2024-06-20T10:28Z or '5m ago'. Default: now.",
        ),
    ] = None,
    commander: Annotated[
        str | None, typer.Option(metavar="HANDLE", help="Handle of the incident commander.")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Declare an incident (you can always downgrade it later)."""
    from tocsin.core.incident import incident_ref
    from tocsin.core.timeutil import parse_instant
    from tocsin.schemas import IncidentOut
    from tocsin.services import incidents

    st = state(ctx)
    now = st.now()
    started = parse_instant(started_at, now=now) if started_at else None
    with st.session() as session:
        outcome = incidents.declare(
            session,
            title=title,
            severity=severity,
            services=service or [],
            impact=impact,
            summary=summary,
            detection=detection,
            started_at=started,
            commander=commander,
            actor=st.who(),
            now=now,
        )
        session.flush()
        warn(outcome.warnings)
        if as_json:
            print_json(IncidentOut.of(outcome.incident, outcome.warnings))
        else:
            i = outcome.incident
            success(f"Declared {incident_ref(i.number)} ({i.severity}) in {i.channel}")
            out.print(incident_ref(i.number), markup=False)


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[list[str] | None, typer.Option(help="Only this status (repeat).")] = None,
    open_: Annotated[bool, typer.Option("--open", help="Only unresolved incidents.")] = False,
    service: Annotated[str | None, typer.Option(help="Only incidents affecting it.")] = None,
    severity: Annotated[str | None, typer.Option(help="Only this severity.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: bool = JsonOption,
) -> None:
    """List incidents, newest first."""
    from tocsin.core.incident import incident_ref
    from tocsin.schemas import IncidentOut
    from tocsin.services import incidents

    st = state(ctx)
    with st.session() as session:
        found = incidents.list_(
            session,
            statuses=status,
            open_only=open_,
            service=service,
            severity=severity,
            limit=limit,
        )
        if as_json:
            print_json([IncidentOut.of(i) for i in found])
            return
        now = st.now()
        table(
            None,
            ["Incident", "Severity", "Status", "Title", "Services", "IC", "Age"],
            [
                [
                    incident_ref(i.number),
                    i.severity,
                    i.status,
                    i.title,
                    i.service_slugs,
                    (c.handle if (c := incidents.commander_of(i)) else None),
                    _age(now - i.started_at)
                    if i.status in ("detected", "triaging", "mitigating")
                    else "-",
                ]
                for i in found
            ],
        )


def _age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 1440:
        return f"{minutes // 60}h{minutes % 60:02d}m"
    return f"{minutes // 1440}d{(minutes % 1440) // 60}h"


def summary_text(incident: "Incident") -> str:
    """Return the seed's summary layout, with milestones and timestamps."""
    from tocsin.services import incidents

    view = incidents.view(incident)
    commander = view.commander
    lines = [
        "=== Incident Summary ===",
        f"Incident: {view.ref}",
        f"Severity: {view.severity}",
        f"Service: {', '.join(view.services) or '-'}",
        f"Description: {view.title}",
        f"IC: {commander.name + ' (@' + commander.handle + ')' if commander else None}",
        f"Status: {view.status.value}",
    ]
    others = [p for p in view.participants if p.role.value != "commander"]
    if others:
        lines.append(
            "Roles: "
            + ", ".join(
                f"{p.name} (@{p.handle}, {p.role.value}"
                + (f": {p.speciality})" if p.speciality else ")")
                for p in others
            )
        )
    lines.append(f"Channel: {view.channel}")
    if view.impact:
        lines.append(f"Impact: {view.impact}")
    for label, at in (
        ("Started", view.started_at),
        ("Detected", view.detected_at),
        ("Acknowledged", view.acknowledged_at),
        ("Mitigated", view.mitigated_at),
        ("Resolved", view.resolved_at),
        ("Closed", view.closed_at),
    ):
        if at is not None:
            lines.append(f"{label}: {fmt_time(at)}")
    if view.skipped:
        lines.append(f"Skipped: {', '.join(view.skipped)}")
    lines.append("Timeline:")
    lines += [f" {fmt_time(e.at)}  {e.message}" for e in view.timeline]
    return "\n".join(lines)


@app.command()
def show(ctx: typer.Context, ref: Ref, as_json: bool = JsonOption) -> None:
    """Show an incident: the seed's summary plus milestones and a timestamped timeline."""
    from tocsin.schemas import IncidentOut, StatusUpdateOut, TimelineEventOut
    from tocsin.services import alerts, incidents

    st = state(ctx)
    with st.session() as session:
        incident = incidents.load_for_view(session, ref)
        if as_json:
            data = IncidentOut.of(incident).model_dump(mode="json")
            data["timeline"] = [
                TimelineEventOut.of(e).model_dump(mode="json") for e in incident.events
            ]
            data["updates"] = [
                StatusUpdateOut.of(u).model_dump(mode="json") for u in incident.updates
            ]
            print_json(data)
            return
        text = summary_text(incident)
        for ref, scenario in alerts.runbook_scenarios(session, incident):
            if scenario is None:
                text += f"\nRunbook {ref}: not found in the service's runbook"
                continue
            text += f"\nRunbook {ref}: Issue: {scenario.name}"
            text += "".join(f"\n {step.number}. {step.text}" for step in scenario.steps)
        typer.echo(text)


@app.command()
def timeline(
    ctx: typer.Context,
    ref: Ref,
    kind: Annotated[str | None, typer.Option(help="Only events of this kind.")] = None,
    as_json: bool = JsonOption,
) -> None:
    """Print the timeline, oldest first."""
    from tocsin.schemas import TimelineEventOut
    from tocsin.services import incidents

    st = state(ctx)
    with st.session() as session:
        events = [e for e in incidents.timeline(session, ref) if kind is None or e.kind == kind]
        if as_json:
            print_json([TimelineEventOut.of(e) for e in events])
            return
        table(
            None,
            ["Time", "Actor", "Kind", "Event"],
            [[e.at, e.actor, e.kind, e.message] for e in events],
        )


@app.command()
def assign(
    ctx: typer.Context,
    ref: Ref,
    user: Annotated[str, typer.Argument(help="Handle of the user.")],
    role: Annotated[
        str, typer.Option(help="commander, scribe, communications, executive, observer.")
    ] = "commander",
    handover: Annotated[bool, typer.Option(help="Replace the current commander.")] = False,
    as_json: bool = JsonOption,
) -> None:
    """Assign a role; the commander (IC) by default."""
    from tocsin.services import incidents

    st = state(ctx)
    with st.session() as session:
        outcome = incidents.assign(
            session, ref, user, role=role, handover=handover, actor=st.who(), now=st.now()
        )
        _done(outcome, as_json)


@app.command()
def unassign(
    ctx: typer.Context,
    ref: Ref,
    user: Annotated[str, typer.Argument(help="Handle of the user.")],
    role: Annotated[str, typer.Option(help="The role to end.")],
    as_json: bool = JsonOption,
) -> None:
    """End a user's role in the incident."""
    from tocsin.services import incidents

    st = state(ctx)
    with st.session() as session:
        _done(
            incidents.unassign(session, ref, user, role=role, actor=st.who(), now=st.now()), as_json
        )


@app.command("add-responder")
def add_responder(
    ctx: typer.Context,
    ref: Ref,
    user: Annotated[str, typer.Argument(help="Handle of the user.")],
    speciality: Annotated[
        str | None, typer.Option("--speciality", "-p", help="Like Networking or Backend.")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Add a responder, with a speciality."""
    from tocsin.services import incidents

    st = state(ctx)
    with st.session() as session:
        outcome = incidents.assign(
            session,
            ref,
            user,
            role="responder",
            speciality=speciality,
            actor=st.who(),
            now=st.now(),
        )
        _done(outcome, as_json)


@app.command()
def ack(ctx: typer.Context, ref: Ref, as_json: bool = JsonOption) -> None:
    """Acknowledge the incident."""
    from tocsin.services import incidents

    st = state(ctx)
    with st.session() as session:
        _done(incidents.acknowledge(session, ref, actor=st.who(), now=st.now()), as_json)


@app.command()
def page(
    ctx: typer.Context,
    ref: Ref,
    target: Annotated[
        str, typer.Argument(help="user:HANDLE, or schedule:NAME for whoever it has on call.")
    ],
    as_json: bool = JsonOption,
) -> None:
    """Page someone about the incident now, by their notification rules."""
    from tocsin.services import incidents

    st = state(ctx)
    with st.session() as session:
        _done(incidents.page(session, ref, target, actor=st.who(), now=st.now()), as_json)


@app.command()
def unack(ctx: typer.Context, ref: Ref, as_json: bool = JsonOption) -> None:
    """Give the incident back to its escalation policy: level 1 is paged again now."""
    from tocsin.services import incidents

    st = state(ctx)
    with st.session() as session:
        _done(incidents.unacknowledge(session, ref, actor=st.who(), now=st.now()), as_json)


@app.command()
def status(
    ctx: typer.Context,
    ref: Ref,
    new_status: Annotated[
        str,
        typer.Argument(
            metavar="STATUS", help="detected, triaging, mitigating, resolved, postmortem, closed."
        ),
    ],
    message: Annotated[str | None, typer.Argument(help="What is happening now.")] = None,
    as_json: bool = JsonOption,
) -> None:
    """Move the incident to another status."""
    from tocsin.services import incidents

    st = state(ctx)
    with st.session() as session:
        outcome = incidents.set_status(
            session, ref, new_status, message=message, actor=st.who(), now=st.now()
        )
        _done(outcome, as_json)


@app.command()
def severity(
    ctx: typer.Context,
    ref: Ref,
    new_severity: Annotated[str, typer.Argument(metavar="SEVERITY", help="SEV-1 .. SEV-4.")],
    reason: Annotated[str, typer.Option(help="Why the severity changes (required).")],
    as_json: bool = JsonOption,
) -> None:
    """Upgrade or downgrade the severity."""
    from tocsin.services import incidents

    st = state(ctx)
    with st.session() as session:
        outcome = incidents.change_severity(
            session, ref, new_severity, reason=reason, actor=st.who(), now=st.now()
        )
        _done(outcome, as_json)


@app.command()
def update(
    ctx: typer.Context,
    ref: Ref,
    message: Annotated[str, typer.Argument(help="The update text ('-' reads standard input).")],
    public: Annotated[bool, typer.Option("--public", help="Publish on the status page.")] = False,
    public_status: Annotated[
        str | None,
        typer.Option(
            "--status", help="investigating, identified, monitoring or resolved (public only)."
        ),
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Post a status update for stakeholders (internal unless --public)."""
    from tocsin.core.incident import Visibility, incident_ref
    from tocsin.schemas import StatusUpdateOut
    from tocsin.services import incidents

    st = state(ctx)
    with st.session() as session:
        _outcome, posted = incidents.post_update(
            session,
            ref,
            read_text_arg(message),
            visibility=Visibility.PUBLIC if public else Visibility.INTERNAL,
            public_status=public_status,
            actor=st.who(),
            now=st.now(),
        )
        if as_json:
            print_json(StatusUpdateOut.of(posted))
        else:
            kind = f"public ({posted.public_status})" if public else "internal"
            success(f"Posted a {kind} update to {incident_ref(_outcome.incident.number)}")


@app.command()
def note(
    ctx: typer.Context,
    ref: Ref,
    message: Annotated[str, typer.Argument(help="The note ('-' reads standard input).")],
    as_json: bool = JsonOption,
) -> None:
    """Add a note to the timeline."""
    from tocsin.services import incidents

    st = state(ctx)
    with st.session() as session:
        outcome = incidents.add_note(
            session, ref, read_text_arg(message), actor=st.who(), now=st.now()
        )
        _done(outcome, as_json)


@app.command()
def resolve(
    ctx: typer.Context,
    ref: Ref,
    message: Annotated[str | None, typer.Argument(help="What was done.")] = None,
    resolution: Annotated[str | None, typer.Option(help="The fix, for the summary.")] = None,
    root_cause: Annotated[str | None, typer.Option(help="The root cause, if known.")] = None,
    summary: Annotated[str | None, typer.Option(help="What happened.")] = None,
    as_json: bool = JsonOption,
) -> None:
    """Resolve the incident."""
    from tocsin.services import incidents

    st = state(ctx)
    with st.session() as session:
        outcome = incidents.resolve(
            session,
            ref,
            message=message,
            resolution=resolution,
            root_cause=root_cause,
            summary=summary,
            actor=st.who(),
            now=st.now(),
        )
        _done(outcome, as_json)


@app.command()
def edit(
    ctx: typer.Context,
    ref: Ref,
    title: Annotated[str | None, typer.Option()] = None,
    summary: Annotated[str | None, typer.Option()] = None,
    impact: Annotated[str | None, typer.Option()] = None,
    detection: Annotated[str | None, typer.Option()] = None,
    root_cause: Annotated[str | None, typer.Option()] = None,
    resolution: Annotated[str | None, typer.Option()] = None,
    started_at: Annotated[
        str | None, typer.Option(metavar="TIME", help="Back-date the start of impact.")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Change an incident's descriptive fields."""
    from tocsin.core.timeutil import parse_instant
    from tocsin.services import incidents

    st = state(ctx)
    now = st.now()
    changes: dict[str, object] = {
        name: value
        for name, value in (
            ("title", title),
            ("summary", summary),
            ("impact", impact),
            ("detection", detection),
            ("root_cause", root_cause),
            ("resolution", resolution),
        )
        if value is not None
    }
    if started_at is not None:
        changes["started_at"] = parse_instant(started_at, now=now)
    with st.session() as session:
        _done(incidents.edit(session, ref, changes=changes, actor=st.who(), now=now), as_json)


@app.command()
def notification(
    ctx: typer.Context,
    ref: Ref,
    resolution: Annotated[
        bool, typer.Option("--resolution", help="The RESOLUTION summary instead.")
    ] = False,
) -> None:
    """Print the INCIDENT NOTIFICATION, ready to paste into the incident channel."""
    from tocsin.engine import messages

    st = state(ctx)
    with st.session() as session:
        text = messages.render_message(
            session,
            ref,
            "resolution" if resolution else "notification",
            template_dir=st.settings.template_dir,
        )
        typer.echo(text, nl=False)
