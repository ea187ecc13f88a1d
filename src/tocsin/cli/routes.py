"""`tocsin route test`: where a tocsin.yaml's label routes send an alert, stored nowhere.

As `amtool config routes test` does for Alertmanager: the file is read, nothing is stored and no
database is needed. The config loader, the parsers and the core are imported where used (see
`tocsin.cli.main`).
"""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tocsin.cli.common import App, JsonOption, out, print_json
from tocsin.errors import InvalidInput

if TYPE_CHECKING:
    from tocsin.config import Config, ServiceSpec
    from tocsin.core.alerts import AlertEvent

route_app = App(help="Try a tocsin.yaml's label routes on an alert.", no_args_is_help=True)


def _labels(text: str) -> dict[str, str]:
    """Return `team=db,env="eu,west"` as labels (commas inside double quotes stay)."""
    from tocsin.core.matchers import MatcherError, Op, parse_matchers

    try:
        matchers = parse_matchers(text)
    except MatcherError as exc:
        raise InvalidInput.of([f"--labels: {line}" for line in str(exc).splitlines()]) from None
    problems = [f"--labels: {m} is not NAME=VALUE" for m in matchers if m.op is not Op.EQUAL]
    if problems:
        raise InvalidInput.of(problems)
    return {m.name: m.value for m in matchers}


def _event(path: str) -> "AlertEvent":
    """Return the first alert of a sender's request body: Alertmanager, PagerDuty or Opsgenie."""
    from tocsin.ingest import alertmanager, opsgenie, pagerduty

    try:
        body = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"--event: cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise InvalidInput(f"--event: {path} is not JSON: {exc}") from None
    if isinstance(body, dict) and "alerts" in body:
        events = alertmanager.parse(body)
        if not events:
            raise InvalidInput(f"--event: {path} has no alerts")
        return events[0]
    if isinstance(body, dict) and "event_action" in body:
        return pagerduty.parse_event(body).event
    if isinstance(body, dict) and "message" in body:
        return opsgenie.parse_create(body)
    raise InvalidInput(
        f"--event: {path} is not an Alertmanager webhook, a PagerDuty event or an Opsgenie alert"
    )


def _service(loaded: "Config", slug: str | None) -> "ServiceSpec":
    specs = loaded.spec.services
    if slug is not None:
        for spec in specs:
            if spec.slug == slug:
                return spec
        raise InvalidInput(f"--service: {loaded.path} has no service {slug!r}")
    routed = [s for s in specs if s.routes]
    if len(routed) != 1:
        names = ", ".join(s.slug for s in routed) or "none"
        raise InvalidInput(
            f"--service: name the service whose routes to try (with routes: {names})"
        )
    return routed[0]


def explain(loaded: "Config", origin: "ServiceSpec", event: "AlertEvent") -> dict[str, Any]:
    """Return where the routes of `origin` send `event`, as the ingest pipeline places it."""
    from tocsin.core import alerts, routing
    from tocsin.core.matchers import MatcherError, event_labels
    from tocsin.core.severity import SeverityScale

    rules: list[routing.RouteRule] = []
    problems: list[str] = []
    for j, r in enumerate(origin.routes):
        try:
            rules.append(routing.rule_of(r.model_dump(by_alias=True)))
        except MatcherError as exc:
            where = f"services[{loaded.spec.services.index(origin)}].routes[{j}].match"
            problems += [loaded.problem(where, line) for line in str(exc).splitlines()]
    if problems:
        raise InvalidInput.of(problems)
    labels = event_labels(event)
    routed = routing.route(rules, labels)
    slug = routed.service or origin.slug
    target = next((s for s in loaded.spec.services if s.slug == slug), origin)
    levels = loaded.severity_levels()
    own = (
        [alerts.Rule(alerts.RouteAction(r.action), r.severity, r.sev) for r in target.alert_rules]
        if target.alert_rules is not None
        else list(alerts.default_rules(SeverityScale(tuple(levels)) if levels else SeverityScale()))
    )
    decision = routing.decide(routed, event, own)
    return {
        "routes": [
            {"index": j, "match": [str(m) for m in rules[j].matchers]} for j in routed.matched
        ],
        "service": slug,
        "severity": decision.sev,
        "policy": routed.policy,
        "action": decision.action.value,
        "dropped": routed.dropped,
        "group": routing.group_key(labels, target.group_by),
        "group_by": list(target.group_by),
        "labels": labels,
    }


@route_app.command("test")
def test(
    config: Annotated[
        str,
        typer.Option("--config", "-c", metavar="FILE", help="The tocsin.yaml whose routes to try."),
    ],
    labels: Annotated[
        str | None,
        typer.Option(metavar="NAME=VALUE,...", help='The alert\'s labels: team=db,env="eu,west".'),
    ] = None,
    event: Annotated[
        str | None,
        typer.Option(
            metavar="FILE", help="A sender's request body: Alertmanager, PagerDuty or Opsgenie."
        ),
    ] = None,
    service: Annotated[
        str | None,
        typer.Option(metavar="SLUG", help="The service whose integration receives the alert."),
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Show which route an alert matches, and its service, severity and action; store nothing."""
    from tocsin import config as config_file
    from tocsin.core.alerts import AlertAction, AlertEvent, normalize_severity

    if (labels is None) == (event is None):
        raise InvalidInput("give the alert as --labels or as --event FILE, one of them")
    loaded = config_file.load(config)
    origin = _service(loaded, service)
    if labels is not None:
        found = _labels(labels)
        raw = found.get("severity", "")
        alert = AlertEvent(
            AlertAction.TRIGGER,
            "route-test",
            severity=normalize_severity(raw or None),
            raw_severity=raw,
            details={"labels": found},
        )
    else:
        assert event is not None
        alert = _event(event)
    result = explain(loaded, origin, alert)
    if as_json:
        print_json(result)
        return
    matched = (
        "; ".join(f"routes[{r['index']}] {{{', '.join(r['match'])}}}" for r in result["routes"])
        or f"none (the alert stays with {origin.slug})"
    )
    out.print(f"route     {matched}", markup=False)
    out.print(f"service   {result['service']}", markup=False)
    if result["dropped"]:
        out.print("action    dropped: recorded, never paged", markup=False)
        return
    out.print(f"severity  {result['severity'] or '-'}", markup=False)
    out.print(f"action    {result['action']}", markup=False)
    if result["policy"]:
        out.print(f"policy    {result['policy']} (for an incident it opens)", markup=False)
    if result["group_by"]:
        out.print(
            f"group     {result['group']} (one incident per group, by"
            f" {', '.join(result['group_by'])})",
            markup=False,
        )
    else:
        out.print("group     {} (no group_by: the service's open incident)", markup=False)
