"""The on-call hours report as a page: a form, the table, and a chart drawn on the server.

The figures come from `services.reports.oncall`, as for `tocsin report oncall` and the API, so
the three always agree. The chart is plain SVG: a stacked bar per person, one colour per
category, with a legend and a text title on every segment, and the table beside it says the
same in words.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup, escape

from tocsin.errors import InvalidInput, NotFound
from tocsin.http.deps import NowDep, SessionDep
from tocsin.services import reports
from tocsin.store import schedules
from tocsin.web.auth import LoginDep
from tocsin.web.render import page
from tocsin.web.routing import PageRoute

router = APIRouter(include_in_schema=False, route_class=PageRoute)

# Four whole weeks ending with today: each weekday and weekend counted four times.
DEFAULT_DAYS = 28
WIDTH = 900
LABEL = 140
ROW = 28
# The report's columns in the chart's order, with their names and colours.
SERIES = (
    ("business_hours", "Business hours", "#4c78a8"),
    ("evening_hours", "Evenings", "#edc948"),
    ("night_hours", "Nights", "#b07aa1"),
    ("weekend_hours", "Weekends", "#59a14f"),
)


def _hours(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def hours_svg(people: list[dict[str, Any]]) -> Markup:
    """Return horizontal bars, one per person, stacked by category, scaled to the longest."""
    longest = max((p["total_hours"] for p in people), default=0.0) or 1.0
    height = 8 + ROW * len(people) + 8
    span = WIDTH - LABEL - 70
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="oncall-hours" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" font-family="sans-serif" '
        f'aria-labelledby="oncall-chart-title"><title id="oncall-chart-title">'
        f"Hours on call per person, by business hours, evenings, nights and weekends</title>"
    ]
    for number, person in enumerate(people):
        y = 8 + number * ROW
        parts.append(
            f'<text x="4" y="{y + ROW / 2 + 4:.1f}" font-size="13" fill="#1d232b">'
            f"{escape(person['user'])}</text>"
        )
        x = float(LABEL)
        for key, name, colour in SERIES:
            width = span * person[key] / longest
            if width <= 0:
                continue
            title = f"{person['user']}: {_hours(person[key])} h {name.lower()}"
            parts.append(
                f'<g class="segment {key}"><title>{escape(title)}</title>'
                f'<rect x="{x:.1f}" y="{y + 4}" width="{width:.1f}" height="{ROW - 8}" '
                f'fill="{colour}"/></g>'
            )
            x += width
        parts.append(
            f'<text x="{x + 6:.1f}" y="{y + ROW / 2 + 4:.1f}" font-size="12" fill="#5b6570">'
            f"{_hours(person['total_hours'])} h</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


@router.get("/reports/oncall", response_class=HTMLResponse)
def oncall_page(
    request: Request,
    session: SessionDep,
    now: NowDep,
    login: LoginDep,
    from_: Annotated[str, Query(alias="from")] = "",
    to: str = "",
    schedule: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """Hours on call per person over a range, for one schedule or all, as a table and a chart."""
    chosen = [name for name in schedule or [] if name]
    end = (now + timedelta(days=1)).date()
    values = {
        "from": from_ or (end - timedelta(days=DEFAULT_DAYS)).isoformat(),
        "to": to or end.isoformat(),
        "schedule": chosen[0] if len(chosen) == 1 else "",
    }
    context: dict[str, Any] = {
        "values": values,
        "schedules": [s.name for s in schedules.list_(session)],
        "report": None,
        "chart": None,
        "problems": [],
        "series": SERIES,
        "hours": _hours,
    }
    try:
        data = reports.oncall(session, from_=values["from"], to=values["to"], schedules=chosen)
    except (InvalidInput, NotFound) as exc:
        context["problems"] = exc.problems or [exc.message]
        return page(request, "oncall_report.html", context, status=400)
    context["report"] = data
    context["chart"] = hours_svg(data["people"])
    # The range as people read it, in the viewer's own zone, like the other pages' times.
    try:
        zone = ZoneInfo(login.user.time_zone)
    except (ZoneInfoNotFoundError, ValueError):  # a zone the zone database no longer has
        zone = ZoneInfo("UTC")
    context["range"] = tuple(
        datetime.fromisoformat(data[end]).astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")
        for end in ("from", "to")
    )
    return page(request, "oncall_report.html", context)
