"""A schedule's coming week as an SVG picture: a row per layer, overrides, and the final row.

Drawn on the server from the same pure functions that page people, so the picture and the pages
cannot disagree. Day lines fall on the schedule's own midnights (DST included); gaps in the
final row are drawn in the warning colour.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from tocsin.core import schedule as sched

WIDTH = 1100
LABEL = 150
ROW = 30
GAP_COLOUR = "#d93f0b"
PALETTE = (
    "#4c78a8",
    "#59a14f",
    "#b07aa1",
    "#9c755f",
    "#76b7b2",
    "#edc948",
    "#ff9da7",
    "#bab0ac",
    "#6b8e23",
    "#8c6bb1",
)


def colours(schedule: sched.Schedule) -> dict[str, str]:
    """Give each person of the schedule their own colour, in the order the layers list them."""
    people: list[str] = []
    for layer in schedule.layers:
        people += [p for p in layer.participants if p not in people and p != sched.GAP]
    people += [o.user for o in schedule.overrides if o.user not in people]
    return {person: PALETTE[n % len(PALETTE)] for n, person in enumerate(people)}


def _x(at: datetime, start: datetime, end: datetime) -> float:
    span = (end - start).total_seconds()
    return LABEL + (WIDTH - LABEL) * (at - start).total_seconds() / span


def _bar(
    shift: sched.Shift, y: float, start: datetime, end: datetime, palette: dict[str, str]
) -> str:
    x0 = _x(max(shift.start, start), start, end)
    x1 = _x(min(shift.end, end), start, end)
    who = ", ".join(shift.users) if shift.users else "nobody on call"
    fill = palette.get(shift.users[0], PALETTE[-1]) if shift.users else GAP_COLOUR
    title = f"{who}: {shift.start.strftime('%a %H:%M')} - {shift.end.strftime('%a %H:%M')} UTC"
    text = ""
    if x1 - x0 > 46:
        text = (
            f'<text x="{x0 + 4:.1f}" y="{y + ROW / 2 + 4:.1f}" class="who">'
            f"{escape(who if shift.users else 'gap')}</text>"
        )
    css = "shift" if shift.users else "shift gap"
    return (
        f'<g class="{css}"><title>{escape(title)}</title>'
        f'<rect x="{x0:.1f}" y="{y + 3:.1f}" width="{max(x1 - x0, 1):.1f}" height="{ROW - 6}"'
        f' rx="3" fill="{fill}"/>{text}</g>'
    )


def schedule_svg(
    schedule: sched.Schedule, start: datetime, end: datetime, *, now: datetime
) -> Markup:
    """Return the picture of `schedule` over [start, end)."""
    rows: list[tuple[str, list[sched.Shift], bool]] = []
    for index, layer in enumerate(schedule.layers):
        shifts = sched.layer_shifts(schedule, index, start, end)
        rows.append((f"Layer: {layer.name}", shifts, False))
    overrides = [
        sched.Shift(max(o.start, start), min(o.end, end), (o.user,))
        for o in schedule.overrides
        if o.end > start and o.start < end
    ]
    if overrides:
        rows.append(("Overrides", overrides, False))
    rows.append(("Final schedule", sched.final_shifts(schedule, start, end), True))
    height = 34 + ROW * len(rows) + 8
    palette = colours(schedule)
    zone = ZoneInfo(schedule.time_zone)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="schedule" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'aria-label="{escape(schedule.name)}: the next 7 days">'
    ]
    local = start.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    while local.astimezone(UTC) < end:
        midnight = local.astimezone(UTC)
        if midnight >= start:
            x = _x(midnight, start, end)
            parts.append(f'<line x1="{x:.1f}" y1="18" x2="{x:.1f}" y2="{height - 4}" class="day"/>')
        label_at = max(midnight, start)
        if label_at < end - timedelta(hours=3):
            parts.append(
                f'<text x="{_x(label_at, start, end) + 4:.1f}" y="14" class="axis">'
                f"{escape(local.strftime('%a %d %b'))}</text>"
            )
        local = (local + timedelta(days=1, hours=3)).replace(hour=0)
    for number, (name, shifts, final) in enumerate(rows):
        y = 24 + number * ROW
        css = "label final" if final else "label"
        parts.append(f'<text x="4" y="{y + ROW / 2 + 4:.1f}" class="{css}">{escape(name)}</text>')
        for shift in shifts:
            if final or shift.users:
                parts.append(_bar(shift, y, start, end, palette))
    if start <= now < end:
        x = _x(now, start, end)
        parts.append(f'<line x1="{x:.1f}" y1="18" x2="{x:.1f}" y2="{height - 4}" class="now"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
