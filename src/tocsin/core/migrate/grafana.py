"""Grafana OnCall's public API v1 objects, as a Tocsin config file.

Read: `/api/v1/users`, their `personal_notification_rules`, `/teams`, `/schedules` and their
`on_call_shifts`, `/escalation_chains` and their steps (`/escalation_policies`),
`/integrations` with their `/routes`, and `/webhooks`.

How each maps:

- A user keeps email, username, time zone and role (admin; editor is a responder; viewer).
  The personal notification rules (for alerts that are not "important") become notification
  rules, each `wait` adding to the delay of the steps after it. Email moves; SMS and phone
  calls need a number the API does not give, Slack, Telegram and the mobile app need linking:
  each is reported with what to do.
- A web or calendar schedule's shifts become layers, by `level` (a higher level wins, as a
  later Tocsin layer does): `rolling_users` take turns, a `recurrent_event` keeps its users on
  call each time; `frequency` and `interval` are the turn, `by_day` and `duration` the hours
  on call, as restrictions; `single_event` and `override` shifts become overrides. A turn of
  several people at once keeps its first, and says so. An iCal schedule is reported: Tocsin
  reads no calendar feed.
- An escalation chain's steps become levels: the persons and schedules notified until a
  `wait` are one level, the wait its delay; `repeat_escalation` repeats the chain (Grafana
  OnCall repeats it five times). User groups (Slack) and webhooks are reported.
- Each integration becomes a service with its default route's chain: Alertmanager and Grafana
  Alerting integrations take the Alertmanager webhook, webhook integrations the generic one.
  With `keep_keys` the token in the integration's URL becomes its key, so a sender changes only
  the URL's host and path prefix. Routes other than the default are reported: rebuild them
  as label routes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tocsin.core.migrate import (
    CHANGED,
    IMPORTED,
    SKIPPED,
    Migration,
    known_zone,
    need,
    slug,
    verify,
)
from tocsin.core.schedule import GAP
from tocsin.core.timeutil import duration_text
from tocsin.errors import InvalidInput

_DAYS = {"MO": "mon", "TU": "tue", "WE": "wed", "TH": "thu", "FR": "fri", "SA": "sat", "SU": "sun"}
_FREQUENCY = {"hourly": "hour", "daily": "day", "weekly": "week", "monthly": "month"}
_ROLES = {"admin": "admin", "viewer": "viewer"}
_SECONDS = {"hour": 3600, "day": 86400, "week": 604800}
_KINDS = {"alertmanager": "alertmanager", "grafana_alerting": "alertmanager", "webhook": "generic"}
# Grafana OnCall's "repeat escalation" step runs the chain again, five times at most.
REPEATS = 5


def _wall(text: object, kind: str) -> datetime:
    """Return a shift's start: naive local wall time, as the API gives it."""
    try:
        found = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{kind}: {text!r} is not a date and time") from None
    return found


def convert(data: dict[str, Any], *, now: datetime, keep_keys: bool = False) -> Migration:
    """Return the migration of Grafana OnCall's objects (`data` maps each endpoint to its list;
    `shifts` and `steps` map a schedule's and a chain's id to theirs)."""
    m = Migration("Grafana OnCall")
    users = _users(m, data.get("users") or [], data.get("rules") or {})
    teams = _teams(m, data.get("teams") or [], data.get("users") or [], users)
    schedules = _schedules(m, data, users, now)
    chains = _chains(m, data, users, schedules, teams)
    services = _services(m, data, chains, teams, keep_keys)
    for hook in data.get("webhooks") or []:
        m.note(
            "outgoing webhook",
            str(hook.get("name") or hook.get("id")),
            SKIPPED,
            "add it under webhooks: with a signing secret, and name it in a policy's level",
        )
    m.assemble(
        users=[spec for _who, spec in users.values()],
        teams=list(teams.values()),
        schedules=[spec for _name, spec in schedules.values()],
        escalation_policies=[spec for _name, spec in chains.values()],
        services=services,
    )
    m.users = {uid: who for uid, (who, _spec) in users.items()}
    m.schedules = {sid: name for sid, (name, _spec) in schedules.items()}
    return m


# --- people -----------------------------------------------------------------------------------


def _users(
    m: Migration, items: list[dict[str, Any]], rules: dict[str, list[dict[str, Any]]]
) -> dict[str, tuple[str, dict[str, Any]]]:
    taken: set[str] = set()
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for item in items:
        uid = str(need(item.get("id"), "a user", "id"))
        email = str(item.get("email") or "")
        name = str(item.get("name") or item.get("username") or email or uid)
        who, spec = m.person(
            email,
            name,
            str(item.get("timezone") or "UTC"),
            _ROLES.get(str(item.get("role")), "responder"),
            taken,
            f"user {email or uid}",
        )
        important = [r for r in rules.get(uid, []) if r.get("important")]
        if important:
            m.note(
                "notification rule",
                f"{who}: {len(important)} for important alerts",
                SKIPPED,
                "Tocsin pages every alert by the same rules",
            )
        steps = sorted(
            (r for r in rules.get(uid, []) if not r.get("important")),
            key=lambda r: int(r.get("position") or 0),
        )
        delay = 0
        methods: list[dict[str, Any]] = []
        plan: list[dict[str, str]] = []
        for step in steps:
            kind = str(step.get("type"))
            if kind == "wait":
                delay += int(step.get("duration") or 0)
            elif kind == "notify_by_email" and email:
                if not methods:
                    methods.append({"name": "email", "type": "email", "address": email})
                after = f"{delay // 60}m"
                if {"contact_method": "email", "after": after} not in plan:
                    plan.append({"contact_method": "email", "after": after})
            else:
                how = kind.removeprefix("notify_by_").replace("_", " ")
                advice = {
                    "sms": "the API gives no phone number: add it on the profile page",
                    "phone call": "the API gives no phone number: add it on the profile page",
                    "telegram": "link Telegram on the profile page",
                    "mobile app": "enable Web Push or add ntfy on the profile page",
                }.get(how, "no counterpart")
                m.note("notification rule", f"{who}: {how} after {delay // 60}m", SKIPPED, advice)
        if methods:
            spec["contact_methods"] = methods
            spec["notification_rules"] = plan
        found[uid] = (who, spec)
    return found


def _teams(
    m: Migration,
    items: list[dict[str, Any]],
    people: list[dict[str, Any]],
    users: dict[str, tuple[str, dict[str, Any]]],
) -> dict[str, dict[str, Any]]:
    taken: set[str] = set()
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        tid = str(need(item.get("id"), "a team", "id"))
        name = str(item.get("name") or tid)
        members = [
            users[str(p["id"])][0]
            for p in people
            if str(p.get("id")) in users and tid in [str(t) for t in p.get("teams") or []]
        ]
        m.team(found, tid, name, members, taken)
    return found


# --- schedules --------------------------------------------------------------------------------


def _schedules(
    m: Migration,
    data: dict[str, Any],
    users: dict[str, tuple[str, dict[str, Any]]],
    now: datetime,
) -> dict[str, tuple[str, dict[str, Any]]]:
    taken: set[str] = set()
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for item in data.get("schedules") or []:
        sid = str(need(item.get("id"), "a schedule", "id"))
        title = str(item.get("name") or sid)
        kind = f"schedule {title}"
        if item.get("type") == "ical":
            m.note("schedule", title, SKIPPED, "an iCal schedule: rebuild it as layers")
            continue
        zone = known_zone(item.get("time_zone") or "UTC", kind)
        name = slug(title, taken)
        shifts = sorted(
            (data.get("shifts") or {}).get(sid, []), key=lambda s: int(s.get("level") or 0)
        )
        layers: list[dict[str, Any]] = []
        overrides: list[dict[str, Any]] = []
        names: set[str] = set()
        for shift in shifts:
            _shift(m, title, shift, zone, users, now, layers, overrides, names)
        schedule: dict[str, Any] = {"name": name, "time_zone": zone.key}
        if name != title:
            schedule["description"] = title
        schedule["layers"] = layers
        if overrides:
            schedule["overrides"] = overrides
        m.named("schedule", title, name)
        found[sid] = (name, schedule)
    return found


def _people(
    m: Migration, what: str, groups: list[list[str]], users: dict[str, tuple[str, dict[str, Any]]]
) -> list[str]:
    """Return one handle per turn; a turn of several people keeps its first, and says so."""
    turns = []
    for group in groups:
        known = [users[str(u)][0] for u in group if str(u) in users]
        if not known:
            # The turn keeps its place, with nobody: the others' turns stay where they were.
            m.note(
                "shift turn",
                f"{what}: {', '.join(map(str, group))}",
                CHANGED,
                "nobody known: a turn with nobody on call",
            )
            turns.append(GAP)
            continue
        if len(known) > 1:
            m.note(
                "shift turn",
                f"{what}: {', '.join(known)}",
                CHANGED,
                f"a turn of several people keeps {known[0]}",
            )
        turns.append(known[0])
    return turns


def _shift(
    m: Migration,
    schedule: str,
    shift: dict[str, Any],
    zone: ZoneInfo,
    users: dict[str, tuple[str, dict[str, Any]]],
    now: datetime,
    layers: list[dict[str, Any]],
    overrides: list[dict[str, Any]],
    names: set[str],
) -> None:
    title = str(shift.get("name") or shift.get("id"))
    what = f"{schedule}: {title}"
    kind = f"schedule {schedule}: shift {title}"
    local = known_zone(shift.get("time_zone"), kind) if shift.get("time_zone") else zone
    start = _wall(need(shift.get("start"), kind, "start"), kind)
    if start.utcoffset() is not None:
        start = start.astimezone(local).replace(tzinfo=None)
    length = int(shift.get("duration") or 0)
    why: list[str] = []
    if shift.get("until"):
        until = _wall(shift["until"], kind)
        until = until if until.utcoffset() is not None else until.replace(tzinfo=local)
        if until <= now:
            m.note("shift", what, SKIPPED, f"ended {shift['until']}")
            return
        why.append(f"it ends {shift['until']} in Grafana OnCall: remove it then, layers do not end")
    if shift.get("type") in ("single_event", "override"):
        begin = start.replace(tzinfo=local)
        end = begin + timedelta(seconds=length)
        people = [users[str(u)][0] for u in shift.get("users") or [] if str(u) in users]
        if end <= now or not people:
            m.note("shift", what, SKIPPED, "over" if end <= now else "nobody in it")
            return
        for person in people:
            overrides.append({"user": person, "from": begin.isoformat(), "to": end.isoformat()})
        m.note("shift", what, CHANGED, "a one-off shift is an override")
        return
    unit = _FREQUENCY.get(str(shift.get("frequency")))
    if unit is None:
        m.note("shift", what, SKIPPED, f"no recurrence ({shift.get('frequency')!r})")
        return
    count = int(shift.get("interval") or 1)
    if shift.get("type") == "rolling_users":
        turns = _people(m, what, list(shift.get("rolling_users") or []), users)
        first = int(shift.get("start_rotation_from_user_index") or 0)
        turns = turns[first:] + turns[:first] if turns else turns
    else:
        turns = _people(m, what, [list(shift.get("users") or [])], users)
    if not [t for t in turns if t != GAP]:
        m.note("shift", what, SKIPPED, "nobody takes turns in it")
        return
    begins = shift.get("rotation_start")
    if begins and unit != "month":
        effective = _wall(begins, kind)
        effective = (
            effective.astimezone(local).replace(tzinfo=None) if effective.utcoffset() else effective
        )
        turn = timedelta(seconds=_SECONDS[unit] * count)
        if effective > start:
            # The rotation takes effect from its first turn at or after rotation_start, and the
            # people move on by the turns skipped.
            skipped = -(-(effective - start) // turn)
            start += skipped * turn
            turns = turns[skipped % len(turns) :] + turns[: skipped % len(turns)]
            begun = start.isoformat(timespec="minutes")
            why.append(f"it takes effect from {begun}, its first turn after rotation_start")
    layer: dict[str, Any] = {
        "name": _unique_name(title, names),
        "rotation": f"{count} {unit}{'s' if count != 1 else ''}",
        "start": start.isoformat(timespec="minutes"),
        "participants": turns,
    }
    if local is not zone:
        layer["time_zone"] = local.key
    windows, exact = _windows(shift, start, length, unit, count)
    if windows:
        layer["restrictions"] = windows
    if not exact:
        why.append(
            f"on call {duration_text(length)} of every {count} {unit}(s): Tocsin restricts by"
            " day and hour, so it is on call in those hours of every day of the turn"
        )
    layers.append(layer)
    if layer["name"] != title:
        why.append(f"layer {layer['name']}")
    m.note("shift", what, CHANGED if why else IMPORTED, "; ".join(why))


def _unique_name(title: str, taken: set[str]) -> str:
    found, n = title, 2
    while found in taken:
        found, n = f"{title} ({n})", n + 1
    taken.add(found)
    return found


def _windows(
    shift: dict[str, Any], start: datetime, length: int, unit: str, count: int
) -> tuple[list[dict[str, Any]], bool]:
    """Return the hours a shift is on call in each turn, as restrictions, and whether they say
    exactly that: from its start time for its duration, on its days (`by_day`; a weekly shift
    without them, on the day it starts), split into days where it runs past midnight."""
    if unit == "month":
        return [], length <= 0
    turn = _SECONDS[unit] * count
    if length <= 0 or length >= turn:
        return [], True  # on call the whole turn
    days = [_DAYS[d] for d in shift.get("by_day") or [] if d in _DAYS]
    if unit == "week" and not days:
        days = [list(_DAYS.values())[start.weekday()]]
    begin = start.hour * 3600 + start.minute * 60
    if unit in ("hour", "day") and not days:
        if length >= 86400:
            return [], False
        exact = unit == "day" and count == 1
        return [{"from": _clock(begin), "to": _clock(begin + length)}], exact
    windows: list[dict[str, Any]] = []
    order = list(_DAYS.values())
    for day in days:
        cursor = order.index(day) * 86400 + begin
        stop = cursor + length
        while cursor < stop:
            midnight = (cursor // 86400 + 1) * 86400
            end = min(stop, midnight)
            windows.append(
                {"days": [order[(cursor // 86400) % 7]], "from": _clock(cursor), "to": _clock(end)}
            )
            cursor = end
    return windows, (unit == "week" and count == 1) or (unit == "day" and count == 1)


def _clock(seconds: int) -> str:
    return f"{seconds // 3600 % 24:02d}:{seconds % 3600 // 60:02d}"


# --- escalation and services -----------------------------------------------------------------


def _chains(
    m: Migration,
    data: dict[str, Any],
    users: dict[str, tuple[str, dict[str, Any]]],
    schedules: dict[str, tuple[str, dict[str, Any]]],
    teams: dict[str, dict[str, Any]],
) -> dict[str, tuple[str, dict[str, Any]]]:
    taken: set[str] = set()
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for chain in data.get("escalation_chains") or []:
        cid = str(need(chain.get("id"), "an escalation chain", "id"))
        title = str(chain.get("name") or cid)
        name = slug(title, taken)
        levels: list[tuple[list[str], int]] = []  # targets, and the wait after them (s)
        current: list[str] = []
        repeat = 0
        steps = sorted(
            (data.get("steps") or {}).get(cid, []), key=lambda s: int(s.get("position") or 0)
        )
        for step in steps:
            kind = str(step.get("type"))
            what = f"{title}: step {int(step.get('position') or 0) + 1} ({kind})"
            if kind == "wait":
                wait = int(step.get("duration") or 0)
                if wait <= 0:
                    continue  # no wait: the next steps belong to the same level
                if not current and not levels:
                    m.note(
                        "escalation step",
                        what,
                        CHANGED,
                        f"a wait of {duration_text(wait)} before anyone is notified: Tocsin pages"
                        " the first level at once",
                    )
                elif current:
                    levels.append((current, wait))
                    current = []
                elif levels:  # waits in a row add up
                    levels[-1] = (levels[-1][0], levels[-1][1] + wait)
                continue
            if kind in ("notify_persons", "notify_person_next_each_time"):
                field = (
                    "persons_to_notify"
                    if kind == "notify_persons"
                    else "persons_to_notify_next_each_time"
                )
                current += [
                    f"user:{users[str(u)][0]}" for u in step.get(field) or [] if str(u) in users
                ]
                if kind == "notify_person_next_each_time":
                    m.note("escalation step", what, CHANGED, "every person is paged, not in turn")
            elif (
                kind == "notify_on_call_from_schedule"
                and str(step.get("notify_on_call_from_schedule")) in schedules
            ):
                current.append(
                    f"schedule:{schedules[str(step['notify_on_call_from_schedule'])][0]}"
                )
            elif kind == "notify_team_members" and str(step.get("team_to_notify")) in teams:
                current.append(f"team:{teams[str(step['team_to_notify'])]['slug']}")
            elif kind == "repeat_escalation":
                repeat = REPEATS
            else:
                m.note(
                    "escalation step",
                    what,
                    SKIPPED,
                    f"{kind} has no counterpart: page people, a schedule or a team instead",
                )
        if current:
            levels.append((current, 0))
        if not levels:
            m.note("escalation chain", title, SKIPPED, "it notifies no one Tocsin can page")
            continue
        policy: dict[str, Any] = {"name": name}
        if repeat:
            policy["repeat"] = repeat
        policy["levels"] = [
            {"targets": targets, **({"delay": duration_text(wait)} if wait else {})}
            for targets, wait in levels
        ]
        m.named("escalation chain", title, name)
        found[cid] = (name, policy)
    return found


def _services(
    m: Migration,
    data: dict[str, Any],
    chains: dict[str, tuple[str, dict[str, Any]]],
    teams: dict[str, dict[str, Any]],
    keep_keys: bool,
) -> list[dict[str, Any]]:
    taken: set[str] = set()
    found: list[dict[str, Any]] = []
    for item in data.get("integrations") or []:
        title = str(item.get("name") or item.get("id"))
        kind = _KINDS.get(str(item.get("type")))
        if kind is None:
            m.note(
                "integration",
                title,
                SKIPPED,
                f"{item.get('type')} integrations have no counterpart",
            )
            continue
        service: dict[str, Any] = {"slug": slug(title, taken), "name": title}
        chain = chains.get(str((item.get("default_route") or {}).get("escalation_chain_id")))
        if chain is not None:
            service["escalation_policy"] = chain[0]
        team = teams.get(str(item.get("team_id")))
        if team is not None:
            service["team"] = team["slug"]
        service["integrations"] = [{"type": kind, "name": kind}]
        token = str(item.get("link") or "").rstrip("/").rsplit("/", 1)[-1]
        if keep_keys and len(token) >= 20:
            m.keys[f"{service['slug']}/{kind}"] = token
            m.note("integration", title, IMPORTED, "its URL's token is kept as its key")
        else:
            m.note("integration", title, CHANGED, "a new key: point the sender at Tocsin with it")
        for route in (data.get("routes") or {}).get(str(item.get("id")), []):
            if route.get("is_the_last_route"):
                continue
            m.note(
                "route",
                f"{title}: {route.get('routing_regex') or route.get('id')}",
                SKIPPED,
                f"a {route.get('routing_type') or 'template'} route: rebuild it as a label route",
            )
        found.append(service)
        m.note("service", title, CHANGED, "made for the integration")
    return found


def check(migration: Migration, data: dict[str, Any], start: datetime, end: datetime) -> int:
    """Compare each imported schedule with Grafana OnCall's final shifts over [start, end)
    (`/schedules/{id}/final_shifts`); put every difference in `migration.checks`; return how
    many schedules were compared."""
    specs = {s["name"]: s for s in migration.config.get("schedules", [])}
    compared = 0
    for sid, shifts in (data.get("final_shifts") or {}).items():
        name = migration.schedules.get(sid)
        if name is None:
            continue
        kind = f"schedule {name}: its final shifts"
        entries = [
            (
                _wall(shift.get("shift_start"), kind),
                _wall(shift.get("shift_end"), kind),
                migration.users.get(str(shift.get("user_pk")), "someone unknown"),
            )
            for shift in shifts
        ]
        migration.checks += verify.differences(
            verify.to_schedule(specs[name]), entries, start, end, source="Grafana OnCall"
        )
        compared += 1
    return compared
