"""`tocsin integration|alert|maintenance ...`: the ways in for alerts, and the alerts.

The services, the store and the schemas are imported where used (see `tocsin.cli.main`).
"""

from datetime import datetime
from typing import Annotated

import typer

from tocsin.cli.common import App, JsonOption, fmt_time, out, print_json, state, success, table
from tocsin.errors import InvalidInput

integration_app = App(
    help="Keys for Alertmanager, PagerDuty, Opsgenie senders.", no_args_is_help=True
)
alert_app = App(help="Alerts from monitoring.", no_args_is_help=True)
maintenance_app = App(
    help="Maintenance: windows that page nobody, and public maintenance on the status page.",
    no_args_is_help=True,
)

URLS = {
    "alertmanager": "webhook_configs url: {base}/hooks/alertmanager/{key}",
    "pagerduty": "Events API v2: POST {base}/v2/enqueue with routing_key {key}",
    "opsgenie": "Opsgenie API at {base} with Authorization: GenieKey {key}",
    "generic": "POST JSON to {base}/hooks/generic/{key}",
    "heartbeat": "ping {base}/hooks/heartbeat/{key} (or Opsgenie /v2/heartbeats/{name}/ping)",
}


@integration_app.command("add")
def integration_add(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="The service the alerts are about.")],
    type_: Annotated[
        str, typer.Option("--type", help="alertmanager, pagerduty, opsgenie, generic or heartbeat.")
    ],
    name: Annotated[str | None, typer.Option(help="Default: the type.")] = None,
    interval: Annotated[
        str | None,
        typer.Option(metavar="DURATION", help="Heartbeats: ping at least this often (like 5m)."),
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Create an integration key. It is printed now and never again."""
    from tocsin.core.timeutil import parse_duration
    from tocsin.schemas import IntegrationCreated
    from tocsin.store import integrations

    st = state(ctx)
    with st.session() as session:
        integration, key = integrations.create(
            session,
            service=service,
            type=type_,
            name=name,
            interval=parse_duration(interval) if interval else None,
            now=st.now(),
        )
        created = IntegrationCreated(
            id=integration.id,
            service=integration.service.slug,
            type=integration.type,
            name=integration.name,
            key=key,
        )
    if as_json:
        print_json(created)
        return
    success(
        f"Integration {created.id}: {created.type} for {created.service}. "
        "The key is shown this once; store it now:"
    )
    out.print(key, markup=False)
    out.print(
        URLS[created.type].format(base=st.settings.base_url, key=key, name=created.name),
        markup=False,
        style="dim",
    )


@integration_app.command("list")
def integration_list(
    ctx: typer.Context,
    service: Annotated[str | None, typer.Option(help="Only this service's.")] = None,
    as_json: bool = JsonOption,
) -> None:
    """List integrations (never their keys)."""
    from tocsin.schemas import IntegrationOut
    from tocsin.store import integrations

    st = state(ctx)
    with st.session() as session:
        found = [IntegrationOut.of(i) for i in integrations.list_(session, service=service)]
    if as_json:
        print_json(found)
        return
    table(
        None,
        ["Id", "Service", "Type", "Name", "Key ends", "Next ping before"],
        [[i.id, i.service, i.type, i.name, i.key_hint, i.heartbeat_deadline_at] for i in found],
    )


@integration_app.command("remove")
def integration_remove(
    ctx: typer.Context, integration_id: Annotated[int, typer.Argument(help="Its id.")]
) -> None:
    """Delete an integration; its key stops working at once."""
    from tocsin.store import integrations

    st = state(ctx)
    with st.session() as session:
        integrations.remove(session, integration_id)
    success(f"Removed integration {integration_id}")


@alert_app.command("list")
def alert_list(
    ctx: typer.Context,
    status: Annotated[
        list[str] | None, typer.Option(help="triggered, acknowledged, resolved.")
    ] = None,
    open_: Annotated[bool, typer.Option("--open", help="Only unresolved alerts.")] = False,
    service: Annotated[str | None, typer.Option(help="Only this service's.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: bool = JsonOption,
) -> None:
    """List alerts, most recently seen first."""
    from tocsin.schemas import alert_views
    from tocsin.services import alerts

    st = state(ctx)
    with st.session() as session:
        found = alert_views(
            session,
            alerts.list_(session, status=status, open_only=open_, service=service, limit=limit),
        )
    if as_json:
        print_json(found)
        return
    table(
        None,
        ["Id", "Service", "Status", "Severity", "Count", "Summary", "Incident", "Last seen"],
        [
            [
                a.id,
                a.service,
                a.status + (" (maintenance)" if a.suppressed else ""),
                a.severity,
                a.count,
                a.summary,
                a.incident,
                a.last_seen,
            ]
            for a in found
        ],
    )


@alert_app.command("show")
def alert_show(
    ctx: typer.Context,
    alert_id: Annotated[int, typer.Argument(help="Its id.")],
    as_json: bool = JsonOption,
) -> None:
    """Show one alert."""
    from tocsin.schemas import alert_views
    from tocsin.services import alerts

    st = state(ctx)
    with st.session() as session:
        alert = alerts.get(session, alert_id)
        view = alert_views(session, [alert])[0]
        details = dict(alert.details)
    if as_json:
        data = view.model_dump(mode="json")
        data["details"] = details
        print_json(data)
        return
    for label, value in (
        ("Alert", view.id),
        ("Summary", view.summary),
        ("Service", view.service),
        ("Integration", view.integration),
        ("Dedup key", view.dedup_key),
        ("Status", view.status),
        (
            "Severity",
            f"{_severity(view.severity, view.raw_severity)} -> {view.sev or 'alert only'}",
        ),
        ("Routed", _routed(view.route, suppressed=view.suppressed)),
        ("Count", view.count),
        ("First seen", fmt_time(view.first_seen)),
        ("Last seen", fmt_time(view.last_seen)),
        ("Incident", view.incident or "-"),
        ("Source", view.source),
    ):
        out.print(f"{label}: {value}", markup=False)
    for link in view.links:
        out.print(f"Link: {link.get('text') or link['href']} {link['href']}", markup=False)


@alert_app.command("ack")
def alert_ack(ctx: typer.Context, alert_id: Annotated[int, typer.Argument(help="Its id.")]) -> None:
    """Acknowledge an alert."""
    from tocsin.services import alerts

    st = state(ctx)
    with st.session() as session:
        alerts.acknowledge(session, alert_id, actor=st.who(), now=st.now())
    success(f"Acknowledged alert {alert_id}")


@alert_app.command("resolve")
def alert_resolve(
    ctx: typer.Context, alert_id: Annotated[int, typer.Argument(help="Its id.")]
) -> None:
    """Resolve an alert."""
    from tocsin.services import alerts

    st = state(ctx)
    with st.session() as session:
        alerts.resolve(session, alert_id, actor=st.who(), now=st.now())
    success(f"Resolved alert {alert_id}")


@maintenance_app.command("add")
def maintenance_add(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="The service.")],
    to: Annotated[
        str, typer.Option(help="When it ends: ISO time, or a duration from the start like 2h.")
    ],
    from_: Annotated[str, typer.Option("--from", help="When it starts. Default: now.")] = "now",
    reason: Annotated[str, typer.Option(help="What is being done.")] = "",
    as_json: bool = JsonOption,
) -> None:
    """Start (or schedule) a maintenance window: alerts are recorded, nothing pages."""
    from tocsin.schemas import MaintenanceOut
    from tocsin.services import alerts

    st = state(ctx)
    now = st.now()
    start, end = _span(from_, to, now=now)
    with st.session() as session:
        window = MaintenanceOut.of(
            alerts.add_maintenance(
                session,
                service=service,
                start=start,
                end=end,
                reason=reason,
                actor=st.who(),
                now=now,
            )
        )
    if as_json:
        print_json(window)
        return
    success(
        f"Maintenance {window.id} on {window.service}: {fmt_time(window.start)} to "
        f"{fmt_time(window.end)}"
    )


@maintenance_app.command("list")
def maintenance_list(
    ctx: typer.Context,
    service: Annotated[str | None, typer.Option(help="Only this service's.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include ended windows.")] = False,
    as_json: bool = JsonOption,
) -> None:
    """List maintenance windows."""
    from tocsin.schemas import MaintenanceOut
    from tocsin.services import alerts

    st = state(ctx)
    with st.session() as session:
        found = [
            MaintenanceOut.of(w)
            for w in alerts.list_maintenance(
                session, service=service, since=None if all_ else st.now()
            )
        ]
    if as_json:
        print_json(found)
        return
    table(
        None,
        ["Id", "Service", "From", "To", "Reason", "By"],
        [[w.id, w.service, w.start, w.end, w.reason, w.created_by] for w in found],
    )


@maintenance_app.command("end")
def maintenance_end(
    ctx: typer.Context, window_id: Annotated[int, typer.Argument(help="Its id.")]
) -> None:
    """End a maintenance window now."""
    from tocsin.services import alerts

    st = state(ctx)
    with st.session() as session:
        alerts.end_maintenance(session, window_id, now=st.now())
    success(f"Ended maintenance {window_id}")


def _span(from_: str, to: str, *, now: datetime) -> tuple[datetime, datetime]:
    """Return the start and end a maintenance command was given: times without an offset are
    UTC, and the end may be a duration from the start (2h)."""
    from tocsin.core.timeutil import parse_duration, parse_instant

    start = parse_instant(from_, now=now)
    try:
        end = start + parse_duration(to)
    except InvalidInput:
        end = parse_instant(to, now=now)
    return start, end


@maintenance_app.command("announce")
def maintenance_announce(
    ctx: typer.Context,
    title: Annotated[str, typer.Option(help="What customers read, in a line.")],
    component: Annotated[
        list[str],
        typer.Option(metavar="SLUG", help="A status component it affects (repeat for more)."),
    ],
    to: Annotated[
        str,
        typer.Option(
            help="When it ends: ISO time (UTC unless it has an offset), or a duration "
            "from the start like 2h."
        ),
    ],
    from_: Annotated[
        str,
        typer.Option("--from", help="When it starts (UTC unless it has an offset). Default: now."),
    ] = "now",
    message: Annotated[str, typer.Option(help="More for customers: what changes for them.")] = "",
    keep_paging: Annotated[
        bool,
        typer.Option(
            help="Keep paging for the components' services meanwhile (by default "
            "their alerts page nobody during the maintenance)."
        ),
    ] = False,
    as_json: bool = JsonOption,
) -> None:
    """Announce maintenance on the public status page and to its subscribers."""
    from tocsin.schemas import PublicMaintenanceOut
    from tocsin.services import maintenance

    st = state(ctx)
    now = st.now()
    start, end = _span(from_, to, now=now)
    with st.session() as session:
        row = maintenance.announce(
            session,
            title=title,
            components=component,
            start=start,
            end=end,
            message=message,
            silence=not keep_paging,
            actor=st.who(),
            now=now,
            base_url=st.settings.base_url,
        )
        shown = PublicMaintenanceOut.of(session, row, now=now)
    if as_json:
        print_json(shown)
        return
    quiet = f"; paging nobody for {', '.join(shown.silenced)}" if shown.silenced else ""
    success(
        f"Public maintenance {shown.id} ({shown.stage.replace('_', ' ')}): "
        f"{fmt_time(shown.start)} to {fmt_time(shown.end)}{quiet}"
    )


@maintenance_app.command("public")
def maintenance_public(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Include completed and cancelled.")] = False,
    as_json: bool = JsonOption,
) -> None:
    """List public maintenance: what is scheduled or in progress."""
    from tocsin.schemas import PublicMaintenanceOut
    from tocsin.services import maintenance

    st = state(ctx)
    now = st.now()
    with st.session() as session:
        found = [
            PublicMaintenanceOut.of(session, row, now=now)
            for row in maintenance.list_(session, now=now, all_=all_)
        ]
    if as_json:
        print_json(found)
        return
    if not found:
        out.print("No public maintenance." if all_ else "No public maintenance ahead or under way.")
        return
    table(
        None,
        ["Id", "Title", "Components", "From", "To", "Stage", "Paging off for"],
        [
            [m.id, m.title, m.components, m.start, m.end, m.stage.replace("_", " "), m.silenced]
            for m in found
        ],
    )


@maintenance_app.command("cancel-public")
def maintenance_cancel_public(
    ctx: typer.Context, maintenance_id: Annotated[int, typer.Argument(help="Its id.")]
) -> None:
    """Cancel public maintenance, before or during it: paging resumes, subscribers are told."""
    from tocsin.services import maintenance

    st = state(ctx)
    with st.session() as session:
        maintenance.cancel(session, maintenance_id, now=st.now(), base_url=st.settings.base_url)
    success(f"Cancelled public maintenance {maintenance_id}")


def _severity(severity: str, raw: str) -> str:
    """Return the severity Tocsin routes by, with the sender's own word when it differs."""
    return f"{severity} ({raw})" if raw and raw.lower() != severity else severity


def _routed(route: str, *, suppressed: bool) -> str:
    """Return how an alert was routed, saying why one pages nobody."""
    if suppressed:
        return f"{route} (suppressed: maintenance)"
    if route == "held":
        return "held (its group opens no incident until open_after is reached)"
    return route
