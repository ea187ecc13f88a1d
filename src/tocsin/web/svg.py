"""A schedule's coming week as an SVG picture: a row per layer, overrides, and the final row.

Drawn on the server from the same pure functions that page people, so the picture and the pages
cannot disagree. The picture is drawn in one time zone, the viewer's or the schedule's: day
lines fall on that zone's midnights (DST included, so a day may be 23 or 25 hours wide) and the
tooltips give local times. Gaps in the final row are drawn in the warning colour.

Nobody has to tell people apart by colour alone: a legend under the picture names everyone it
shows, every block carries a tooltip with the name and its local start and end, and a block
shows the handle, or the initials, wherever that fits inside it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from tocsin.core import schedule as sched

WIDTH = 1100
LABEL = 150
ROW = 30
GAP_COLOUR = "#c8410b"
# Text sizes in the picture's own units; tocsin.css sets the same sizes on these classes.
AXIS_FONT = 12.0
WHO_FONT = 11.0
# Room kept between a day label and its day line, and between two labels.
LABEL_PAD = 4.0
LABEL_GAP = 6.0
# Room kept between a block's edge and the text inside it.
BLOCK_PAD = 4.0
DARK_TEXT = "#1d232b"
LIGHT_TEXT = "#ffffff"
# Ten hues far apart (after Tableau 10), each shaded so that dark or light text on it keeps a
# WCAG AA contrast of 4.5:1 or more: block labels are small text.
PALETTE = (
    "#4c78a8",
    "#59a14f",
    "#b07aa1",
    "#8f6b56",
    "#76b7b2",
    "#edc948",
    "#ff9da7",
    "#bab0ac",
    "#7f9f33",
    "#7e61a6",
)


def colours(schedule: sched.Schedule) -> dict[str, str]:
    """Give each person of the schedule their own colour, in the order the layers list them."""
    people: list[str] = []
    for layer in schedule.layers:
        people += [p for p in layer.participants if p not in people and p != sched.GAP]
    people += [o.user for o in schedule.overrides if o.user not in people]
    return {person: PALETTE[n % len(PALETTE)] for n, person in enumerate(people)}


# --------------------------------------------------------------------------------------------
# Text: how wide it is, which colour reads on a block


def _char_width(char: str) -> float:
    """Return a generous width of `char` in ems for the sans-serif fonts the stylesheet names.

    The server cannot measure text, so the picture estimates it on the wide side: a label that
    is thought wider than it is only moves or hides, one thought narrower would collide.
    """
    if char in "il.,:;'|!ftjrI ()[]":
        return 0.36
    if char in "mwMW@%":
        return 0.95
    if char.isupper():
        return 0.74
    return 0.6


def text_width(text: str, size: float) -> float:
    """Return the estimated width of `text` at font size `size`, in the picture's units."""
    return size * sum(_char_width(c) for c in text)


def _luminance(colour: str) -> float:
    """Return the relative luminance of a #rrggbb colour (WCAG 2.x)."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    """Return the WCAG contrast ratio of two #rrggbb colours, from 1 to 21."""
    high, low = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def text_colour(fill: str) -> str:
    """Return the text colour, dark or light, that reads best on a block filled with `fill`."""
    return max((DARK_TEXT, LIGHT_TEXT), key=lambda ink: contrast(ink, fill))


_WORDS = re.compile(r"[^\s\-_.]+")


def initials(handle: str, name: str | None = None) -> str:
    """Return a person's initials: of their name's words when known, else of the handle's parts.

    >>> initials("mjones", "Mary Ann Jones")
    'MAJ'
    """
    words = _WORDS.findall(name or "") or _WORDS.findall(handle)
    return "".join(word[0].upper() for word in words[:3]) or "?"


def block_text(users: Sequence[str], width: float, names: Mapping[str, str] | None = None) -> str:
    """Return what a block `width` wide shows: the handles if they fit, else the initials, else
    nothing (the legend and the block's tooltip still name everyone)."""
    names = names or {}
    room = width - 2 * BLOCK_PAD
    shown = ", ".join(users) if users else "gap"
    if text_width(shown, WHO_FONT) <= room:
        return shown
    if users:
        short = "+".join(initials(user, names.get(user)) for user in users)
        if text_width(short, WHO_FONT) <= room:
            return short
    return ""


# --------------------------------------------------------------------------------------------
# Days: lines at local midnights, labels that never collide


@dataclass(frozen=True, slots=True)
class DayLabel:
    """A day's name above the picture: its text starts at `x` and is about `width` wide."""

    x: float
    width: float
    text: str


def _x(at: datetime, start: datetime, end: datetime) -> float:
    span = (end - start).total_seconds()
    return LABEL + (WIDTH - LABEL) * (at - start).total_seconds() / span


def _days(start: datetime, end: datetime, zone: str) -> list[tuple[date, datetime]]:
    """Return each local day that meets [start, end) with the instant it begins.

    A day begins at local midnight, or where the clock jumps over it (`localize` takes the first
    instant after a gap), so a DST day is 23 or 25 hours long. The first day, begun before
    `start`, gets its midnight all the same.
    """
    day = start.astimezone(ZoneInfo(zone)).date()
    days: list[tuple[date, datetime]] = []
    while True:
        begins = sched.localize(datetime.combine(day, time()), zone).astimezone(UTC)
        if begins >= end:
            return days
        if days and days[-1][1] == begins:
            days.pop()  # a day the zone skipped altogether (Samoa's 2011-12-30) has no time
        days.append((day, begins))
        day += timedelta(days=1)


def day_lines(start: datetime, end: datetime, zone: str) -> list[datetime]:
    """Return the local midnights of `zone` within [start, end), where the day lines go."""
    return [begins for _, begins in _days(start, end, zone) if begins >= start]


def day_labels(start: datetime, end: datetime, zone: str) -> list[DayLabel]:
    """Return the day labels of the picture of [start, end) drawn in `zone`, left to right.

    Each label starts just after its day's line. Whole days are placed first, then the partial
    day the window starts in, which is dropped when its label would run into the next day's
    (a window starting at 23:00 shows one hour of that day: far too narrow for its name). Any
    label that would collide with one already placed, or leave the picture, is dropped too, so
    no two labels ever overlap whatever the window.
    """
    candidates: list[tuple[bool, DayLabel]] = []
    for day, begins in _days(start, end, zone):
        text = day.strftime("%a %d %b")
        x = _x(max(begins, start), start, end) + LABEL_PAD
        candidates.append((begins < start, DayLabel(x, text_width(text, AXIS_FONT), text)))
    placed: list[DayLabel] = []
    for _, label in sorted(candidates, key=lambda item: item[0]):  # stable: time order kept
        if label.x + label.width > WIDTH:
            continue
        if any(
            label.x < other.x + other.width + LABEL_GAP
            and other.x < label.x + label.width + LABEL_GAP
            for other in placed
        ):
            continue
        placed.append(label)
    return sorted(placed, key=lambda label: label.x)


# --------------------------------------------------------------------------------------------
# The picture


def _clock(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%a %H:%M")


def _bar(
    shift: sched.Shift,
    y: float,
    start: datetime,
    end: datetime,
    palette: Mapping[str, str],
    zone: str,
    names: Mapping[str, str],
) -> str:
    x0 = _x(max(shift.start, start), start, end)
    x1 = _x(min(shift.end, end), start, end)
    who = ", ".join(shift.users) if shift.users else "nobody on call"
    fill = palette.get(shift.users[0], PALETTE[-1]) if shift.users else GAP_COLOUR
    local = ZoneInfo(zone)
    title = f"{who}: {_clock(shift.start, local)} - {_clock(shift.end, local)} {zone}"
    shown = block_text(shift.users, x1 - x0, names)
    text = ""
    if shown:
        ink = "dark" if text_colour(fill) == DARK_TEXT else "light"
        text = (
            f'<text x="{x0 + BLOCK_PAD:.1f}" y="{y + ROW / 2 + 4:.1f}" class="who {ink}">'
            f"{escape(shown)}</text>"
        )
    css = "shift" if shift.users else "shift gap"
    return (
        f'<g class="{css}"><title>{escape(title)}</title>'
        f'<rect x="{x0:.1f}" y="{y + 3:.1f}" width="{max(x1 - x0, 1):.1f}" height="{ROW - 6}"'
        f' rx="3" fill="{fill}"/>{text}</g>'
    )


def _legend(
    shown: Sequence[str], palette: Mapping[str, str], names: Mapping[str, str], gap: bool
) -> str:
    items = []
    for person in shown:
        name = names.get(person, "")
        items.append(
            f'<li data-person="{escape(person)}"><svg class="swatch" viewBox="0 0 14 14" '
            f'aria-hidden="true"><rect width="14" height="14" rx="3" '
            f'fill="{palette.get(person, PALETTE[-1])}"/></svg>'
            f"<strong>@{escape(person)}</strong>"
            + (f' <span class="quiet">{escape(name)}</span>' if name and name != person else "")
            + "</li>"
        )
    if gap:
        items.append(
            '<li class="gap"><svg class="swatch" viewBox="0 0 14 14" aria-hidden="true">'
            f'<rect width="14" height="14" rx="3" fill="{GAP_COLOUR}"/></svg>nobody on call</li>'
        )
    listed = "".join(items)
    return f'<figcaption><ul class="legend" aria-label="Who is who">{listed}</ul></figcaption>'


def schedule_svg(
    schedule: sched.Schedule,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    zone: str | None = None,
    names: Mapping[str, str] | None = None,
) -> Markup:
    """Return the picture of `schedule` over [start, end) drawn in `zone` (by default the
    schedule's), followed by its legend as a figure caption; `names` maps handles to names."""
    zone = zone or schedule.time_zone
    names = names or {}
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
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="schedule" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'aria-label="{escape(schedule.name)}: the next 7 days, in {escape(zone)}">'
    ]
    for midnight in day_lines(start, end, zone):
        x = _x(midnight, start, end)
        parts.append(f'<line x1="{x:.1f}" y1="18" x2="{x:.1f}" y2="{height - 4}" class="day"/>')
    for label in day_labels(start, end, zone):
        parts.append(f'<text x="{label.x:.1f}" y="14" class="axis">{escape(label.text)}</text>')
    shown: dict[str, None] = {}
    gap = False
    for number, (name, shifts, final) in enumerate(rows):
        y = 24 + number * ROW
        css = "label final" if final else "label"
        parts.append(f'<text x="4" y="{y + ROW / 2 + 4:.1f}" class="{css}">{escape(name)}</text>')
        for shift in shifts:
            if final or shift.users:
                parts.append(_bar(shift, y, start, end, palette, zone, names))
            shown.update(dict.fromkeys(shift.users))
            gap = gap or (final and not shift.users)
    if start <= now < end:
        x = _x(now, start, end)
        parts.append(f'<line x1="{x:.1f}" y1="18" x2="{x:.1f}" y2="{height - 4}" class="now"/>')
    parts.append("</svg>")
    order = list(palette)
    people = sorted(shown, key=lambda p: (order.index(p) if p in order else len(order), p))
    parts.append(_legend(people, palette, names, gap))
    return Markup("".join(parts))
