"""Opsgenie's REST API v2 objects, as a Tocsin config file.

Read: users (`/v2/users`, their contacts and notification rules), teams and their members,
schedules with their rotations (`?expand=rotation`) and overrides, escalations, integrations
(the API ones' keys), heartbeats and maintenance.

How each maps:

- A user keeps full name, email (the username), time zone and role (Owner and Admin are
  admins; Observer and Stakeholder are viewers). Email, SMS and voice contacts move; the
  Opsgenie app's push does not, and is reported. The steps of the rules for new alerts
  become the notification rules.
- A rotation is a layer: hourly, daily or weekly turns of `length`, from its `startDate`; user
  participants take turns, a `none` participant is a turn with nobody on call (`-`), and a
  team or escalation participant, which Tocsin cannot put in a layer, is reported. A
  time-of-day restriction is a window every day; a weekday-and-time-of-day restriction,
  which may span several days, is split into exact per-day windows. Opsgenie pages everyone
  on call in every rotation of a schedule, where a later Tocsin layer wins over earlier ones:
  a schedule of several rotations becomes a schedule per rotation, and an escalation that
  notifies it names them all in one level, so the same people are paged.
- An escalation's rules, each notifying after a delay from the alert, become levels whose
  delays are the differences; `repeat.count` the repeats. Notifying a schedule's on-call
  (`default`) or a user moves; `next` and `previous` on-call have no counterpart.
- Opsgenie routes alerts to teams, Tocsin to services: each team with integrations becomes a
  service with the team's escalation, its API integrations `opsgenie` integrations (with
  `keep_keys`, keeping their keys) and its heartbeats `heartbeat` integrations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tocsin.core.escalation import MAX_REPEAT
from tocsin.core.migrate import (
    CHANGED,
    IMPORTED,
    SKIPPED,
    Migration,
    instant,
    known_zone,
    need,
    slug,
    verify,
)
from tocsin.core.schedule import GAP
from tocsin.core.timeutil import duration_text
from tocsin.errors import InvalidInput

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ROLES = {"owner": "admin", "admin": "admin", "observer": "viewer", "stakeholder": "viewer"}
_UNITS = {"hourly": "hour", "daily": "day", "weekly": "week"}
_MINUTES = {"minutes": 1, "hours": 60, "days": 1440}
# Integrations whose senders post Opsgenie's Alert API (the others post their own formats).
_API_TYPES = {"API", "Prometheus", "Alertmanager", "Grafana"}


def convert(data: dict[str, Any], *, now: datetime, keep_keys: bool = False) -> Migration:
    """Return the migration of Opsgenie's objects (`data` maps each endpoint to its list)."""
    m = Migration("Opsgenie")
    users = _users(m, data.get("users") or [])
    teams = _teams(m, data.get("teams") or [], users)
    schedules = _schedules(m, data, users, now)
    policies = _escalations(m, data.get("escalations") or [], users, schedules, teams)
    services = _services(m, data, teams, policies, keep_keys)
    for window in data.get("maintenance") or []:
        m.note(
            "maintenance",
            str(window.get("description") or window.get("id")),
            SKIPPED,
            "set it again with `tocsin maintenance add` if it is still to come",
        )
    m.assemble(
        users=[spec for _handle, spec in users.values()],
        teams=list(teams.values()),
        schedules=[spec for _names, specs in schedules.values() for spec in specs],
        escalation_policies=[spec for _name, spec in policies.values()],
        services=services,
    )
    m.users = {uid: who for uid, (who, _spec) in users.items()}
    m.groups = {sid: names for sid, (names, _specs) in schedules.items()}
    return m


# --- people -----------------------------------------------------------------------------------


def _users(m: Migration, items: list[dict[str, Any]]) -> dict[str, tuple[str, dict[str, Any]]]:
    taken: set[str] = set()
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for item in items:
        uid = str(need(item.get("id"), "a user", "id"))
        email = str(item.get("username") or "")
        name = str(item.get("fullName") or email or uid)
        who, spec = m.person(
            email,
            name,
            str(item.get("timeZone") or "UTC"),
            _ROLES.get(str((item.get("role") or {}).get("name", "")).lower(), "responder"),
            taken,
            f"user {email or uid}",
        )
        methods, names = _contacts(m, who, item.get("contacts") or [])
        if methods:
            spec["contact_methods"] = methods
            rules = _rules(item.get("notification_rules") or [], names)
            if rules:
                spec["notification_rules"] = rules
        found[uid] = (who, spec)
    return found


def _number(to: str) -> str | None:
    """Return Opsgenie's "49-15112345678" (country code, dash, number) in E.164."""
    digits = "".join(ch for ch in to if ch.isdigit())
    return f"+{digits}" if 8 <= len(digits) <= 15 else None


def _contacts(
    m: Migration, who: str, items: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], str]]:
    specs: list[dict[str, Any]] = []
    names: dict[tuple[str, str], str] = {}
    taken: set[str] = set()
    for item in items:
        method, to = str(item.get("method", "")), str(item.get("to", ""))
        if method == "email":
            spec: dict[str, Any] = {"type": "email", "address": to}
        elif method in ("sms", "voice"):
            number = _number(to)
            if number is None:
                m.note("contact method", f"{who}: {method} {to}", SKIPPED, "not a phone number")
                continue
            spec = {"type": method, "number": number}
        else:
            m.note(
                "contact method",
                f"{who}: {method}",
                SKIPPED,
                "the Opsgenie app's push cannot move: add ntfy or Web Push on the profile page",
            )
            continue
        name = slug(method, taken, limit=40)
        names[(method, to)] = name
        specs.append({"name": name, **spec})
        m.note("contact method", f"{who}: {name}", IMPORTED)
    return specs, names


def _rules(items: list[dict[str, Any]], names: dict[tuple[str, str], str]) -> list[dict[str, str]]:
    rules: list[dict[str, str]] = []
    seen: set[tuple[str, int]] = set()
    for rule in items:
        if rule.get("actionType") != "create-alert" or rule.get("enabled") is False:
            continue
        for step in rule.get("steps") or []:
            contact = step.get("contact") or {}
            name = names.get((str(contact.get("method")), str(contact.get("to"))))
            after = step.get("sendAfter") or {}
            minutes = int(after.get("timeAmount") or 0) * _MINUTES.get(
                str(after.get("timeUnit") or "minutes"), 1
            )
            if name is None or (name, minutes) in seen or step.get("enabled") is False:
                continue
            seen.add((name, minutes))
            rules.append({"contact_method": name, "after": f"{minutes}m"})
    return sorted(rules, key=lambda r: (int(r["after"][:-1]), r["contact_method"]))


def _teams(
    m: Migration, items: list[dict[str, Any]], users: dict[str, tuple[str, dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    taken: set[str] = set()
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        tid = str(need(item.get("id"), "a team", "id"))
        name = str(item.get("name") or tid)
        members = [
            users[str((member.get("user") or {}).get("id"))][0]
            for member in item.get("members") or []
            if str((member.get("user") or {}).get("id")) in users
        ]
        m.team(found, tid, name, members, taken)
    return found


# --- schedules --------------------------------------------------------------------------------


def _schedules(
    m: Migration,
    data: dict[str, Any],
    users: dict[str, tuple[str, dict[str, Any]]],
    now: datetime,
) -> dict[str, tuple[list[str], list[dict[str, Any]]]]:
    """Return Opsgenie schedule id -> (the names, the specs) of its Tocsin schedules: one, or
    one per rotation when several rotations page together."""
    taken: set[str] = set()
    found: dict[str, tuple[list[str], list[dict[str, Any]]]] = {}
    for item in data.get("schedules") or []:
        sid = str(need(item.get("id"), "a schedule", "id"))
        title = str(item.get("name") or sid)
        kind = f"schedule {title}"
        zone = known_zone(item.get("timezone") or "UTC", kind)
        layers = [
            (str(rotation.get("id")), layer)
            for rotation in item.get("rotations") or []
            if (layer := _rotation(m, title, rotation, zone, users, now)) is not None
        ]
        parts = (
            [(title, layers)]
            if len(layers) <= 1
            else [(f"{title} {layer['name']}", [(rid, layer)]) for rid, layer in layers]
        )
        specs: list[dict[str, Any]] = []
        names: list[str] = []
        for part_title, part_layers in parts:
            name = slug(part_title, taken)
            spec: dict[str, Any] = {"name": name, "time_zone": zone.key}
            if name != part_title:
                spec["description"] = part_title
            spec["layers"] = [layer for _rid, layer in part_layers]
            spec["_rotations"] = {rid for rid, _layer in part_layers}
            specs.append(spec)
            names.append(name)
        for override in (data.get("overrides") or {}).get(sid, []):
            _override(m, title, override, zone, users, now, specs)
        for spec in specs:
            del spec["_rotations"]
        if len(specs) > 1:
            m.note(
                "schedule",
                title,
                CHANGED,
                f"split into {', '.join(names)}: Opsgenie pages everyone on call in every"
                " rotation, and each escalation that notifies it pages all of these",
            )
        else:
            m.named("schedule", title, names[0])
        found[sid] = (names, specs)
    return found


def _override(
    m: Migration,
    title: str,
    override: dict[str, Any],
    zone: ZoneInfo,
    users: dict[str, tuple[str, dict[str, Any]]],
    now: datetime,
    specs: list[dict[str, Any]],
) -> None:
    """Put an override on the schedules of the rotations it covers (all, when it names none)."""
    kind = f"schedule {title}: an override"
    start = instant(override.get("startDate"), kind)
    end = instant(override.get("endDate"), kind)
    person = users.get(str((override.get("user") or {}).get("id")))
    what = f"{title}: from {override.get('startDate')}"
    if end <= now:
        m.note("override", what, SKIPPED, "over")
        return
    if person is None:
        m.note("override", what, SKIPPED, "not a user of this account")
        return
    covered = {str(r.get("id")) for r in override.get("rotations") or [] if isinstance(r, dict)}
    chosen = [s for s in specs if not covered or covered & s["_rotations"]]
    for spec in chosen:
        spec.setdefault("overrides", []).append(
            {
                "user": person[0],
                "from": start.astimezone(zone).isoformat(),
                "to": end.astimezone(zone).isoformat(),
            }
        )
    m.note("override", f"{title}: {person[0]} from {override.get('startDate')}", IMPORTED)


def _rotation(
    m: Migration,
    schedule: str,
    rotation: dict[str, Any],
    zone: ZoneInfo,
    users: dict[str, tuple[str, dict[str, Any]]],
    now: datetime,
) -> dict[str, Any] | None:
    title = str(rotation.get("name") or rotation.get("id"))
    kind = f"schedule {schedule}: rotation {title}"
    what = f"{schedule}: {title}"
    if rotation.get("endDate") and instant(rotation["endDate"], kind) <= now:
        m.note("rotation", what, SKIPPED, f"ended {rotation['endDate']}")
        return None
    unit = _UNITS.get(str(rotation.get("type")))
    if unit is None:
        raise InvalidInput(f"{kind}: unknown rotation type {rotation.get('type')!r}")
    length = int(rotation.get("length") or 1)
    start = instant(need(rotation.get("startDate"), kind, "startDate"), kind)
    participants: list[str] = []
    why: list[str] = []
    for entry in rotation.get("participants") or []:
        kind_of = str(entry.get("type"))
        if kind_of == "user" and str(entry.get("id")) in users:
            participants.append(users[str(entry["id"])][0])
        elif kind_of == "none":
            participants.append(GAP)
            why.append("a 'none' participant is a turn with nobody on call (-)")
        else:
            # Keeping the turn (with nobody) keeps everyone else's turns where they were.
            participants.append(GAP)
            who = entry.get("name") or entry.get("id")
            why.append(
                f"the turn of {kind_of} participant {who} has nobody on call: layers take users"
            )
    if not [p for p in participants if p != GAP]:
        m.note("rotation", what, SKIPPED, "nobody takes turns in it")
        return None
    spec: dict[str, Any] = {
        "name": title,
        "rotation": f"{length} {unit}{'s' if length != 1 else ''}",
        "start": start.astimezone(zone).replace(tzinfo=None).isoformat(timespec="minutes"),
        "participants": participants,
    }
    restrictions = _restrictions(rotation.get("timeRestriction"), kind)
    if restrictions:
        spec["restrictions"] = restrictions
    if rotation.get("endDate"):
        why.append(f"it ends {rotation['endDate']} in Opsgenie: remove it then, layers do not end")
    m.note("rotation", what, CHANGED if why else IMPORTED, "; ".join(dict.fromkeys(why)))
    return spec


def _restrictions(found: Any, kind: str) -> list[dict[str, Any]]:
    """Return Tocsin windows for a rotation's time restriction, split into exact days."""
    if not found:
        return []
    if found.get("type") == "time-of-day":
        r = found.get("restriction") or {}
        return [
            {
                "from": f"{int(r.get('startHour', 0)):02d}:{int(r.get('startMin', 0)):02d}",
                "to": f"{int(r.get('endHour', 0)):02d}:{int(r.get('endMin', 0)):02d}",
            }
        ]
    if found.get("type") != "weekday-and-time-of-day":
        raise InvalidInput(f"{kind}: unknown time restriction {found.get('type')!r}")
    windows: list[dict[str, Any]] = []
    for r in found.get("restrictions") or []:
        try:
            first, last = (
                DAYS.index(str(r["startDay"]).lower()),
                DAYS.index(str(r["endDay"]).lower()),
            )
        except (KeyError, ValueError):
            raise InvalidInput(f"{kind}: a restriction names no weekday") from None
        begin = first * 1440 + int(r.get("startHour", 0)) * 60 + int(r.get("startMin", 0))
        end = last * 1440 + int(r.get("endHour", 0)) * 60 + int(r.get("endMin", 0))
        if end <= begin:
            end += 7 * 1440  # it runs over the week's end (Saturday to Monday)
        cursor = begin
        while cursor < end:
            stop = min(end, (cursor // 1440 + 1) * 1440)
            windows.append(
                {
                    "days": [DAYS[(cursor // 1440) % 7][:3]],
                    "from": f"{cursor % 1440 // 60:02d}:{cursor % 60:02d}",
                    "to": f"{stop % 1440 // 60:02d}:{stop % 60:02d}",
                }
            )
            cursor = stop
    return windows


# --- escalations and services -----------------------------------------------------------------


def _escalations(
    m: Migration,
    items: list[dict[str, Any]],
    users: dict[str, tuple[str, dict[str, Any]]],
    schedules: dict[str, tuple[list[str], list[dict[str, Any]]]],
    teams: dict[str, dict[str, Any]],
) -> dict[str, tuple[str, dict[str, Any]]]:
    taken: set[str] = set()
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for item in items:
        eid = str(need(item.get("id"), "an escalation", "id"))
        title = str(item.get("name") or eid)
        name = slug(title, taken)
        steps: dict[int, list[str]] = {}
        for rule in item.get("rules") or []:
            delay = rule.get("delay") or {}
            minutes = int(delay.get("timeAmount") or 0) * _MINUTES.get(
                str(delay.get("timeUnit") or "minutes"), 1
            )
            if rule.get("condition", "if-not-acked") != "if-not-acked":
                m.note(
                    "escalation rule",
                    f"{title}: {rule.get('condition')}",
                    CHANGED,
                    "Tocsin escalates until someone acknowledges",
                )
            steps.setdefault(minutes, []).extend(_target(m, title, rule, users, schedules, teams))
        steps = {minutes: targets for minutes, targets in steps.items() if targets}
        at = sorted(steps)
        if at and at[0] > 0:
            m.note(
                "escalation",
                title,
                CHANGED,
                f"its first rule waited {at[0]}m after the alert: Tocsin pages the first level"
                " at once",
            )
        levels = []
        for index, minutes in enumerate(at):
            level: dict[str, Any] = {"targets": steps[minutes]}
            if index + 1 < len(at):
                level["delay"] = duration_text((at[index + 1] - minutes) * 60)
            levels.append(level)
        if not levels:
            m.note("escalation", title, SKIPPED, "it notifies no one Tocsin can page")
            continue
        policy: dict[str, Any] = {"name": name}
        repeat = int((item.get("repeat") or {}).get("count") or 0)
        if repeat > MAX_REPEAT:
            m.note("escalation", title, CHANGED, f"it repeated {repeat} times: {MAX_REPEAT} here")
            repeat = MAX_REPEAT
        if repeat:
            policy["repeat"] = repeat
            wait = int((item.get("repeat") or {}).get("waitInterval") or 0)
            if levels and wait:
                levels[-1]["delay"] = duration_text(wait * 60)
        policy["levels"] = levels
        m.named("escalation", title, name)
        found[eid] = (name, policy)
    return found


def _target(
    m: Migration,
    escalation: str,
    rule: dict[str, Any],
    users: dict[str, tuple[str, dict[str, Any]]],
    schedules: dict[str, tuple[list[str], list[dict[str, Any]]]],
    teams: dict[str, dict[str, Any]],
) -> list[str]:
    recipient = rule.get("recipient") or {}
    kind, rid = str(recipient.get("type")), str(recipient.get("id"))
    notify = str(rule.get("notifyType") or "default")
    called = recipient.get("name") or recipient.get("username") or rid
    label = f"{escalation}: {notify} of {kind} {called}"
    if notify in ("next", "previous"):
        m.note("escalation rule", label, SKIPPED, f"the {notify} on-call has no counterpart")
        return []
    if kind == "user" and rid in users:
        return [f"user:{users[rid][0]}"]
    if kind == "schedule" and rid in schedules and notify == "default":
        return [f"schedule:{name}" for name in schedules[rid][0]]
    if kind == "team" and rid in teams:
        if notify not in ("default", "all"):
            m.note("escalation rule", label, CHANGED, "the whole team is paged")
        return [f"team:{teams[rid]['slug']}"]
    m.note("escalation rule", label, SKIPPED, "no counterpart")
    return []


def _services(
    m: Migration,
    data: dict[str, Any],
    teams: dict[str, dict[str, Any]],
    policies: dict[str, tuple[str, dict[str, Any]]],
    keep_keys: bool,
) -> list[dict[str, Any]]:
    """Return a service for each team that has integrations or heartbeats."""
    by_team: dict[str, dict[str, Any]] = {}
    owners: dict[str, str] = {}
    for e in data.get("escalations") or []:
        team_id = str((e.get("ownerTeam") or {}).get("id"))
        if str(e.get("id")) not in policies:
            continue
        if team_id in owners:
            m.note(
                "escalation",
                str(e.get("name")),
                CHANGED,
                f"its team has another escalation, {owners[team_id]}, which its service uses;"
                " Opsgenie's routing rules are not read: name this one in a label route",
            )
            continue
        owners[team_id] = policies[str(e.get("id"))][0]

    def service_of(team_id: str) -> dict[str, Any] | None:
        team = teams.get(team_id)
        if team is None:
            return None
        if team_id not in by_team:
            service: dict[str, Any] = {
                "slug": team["slug"],
                "name": team["name"],
                "team": team["slug"],
            }
            if team_id in owners:
                service["escalation_policy"] = owners[team_id]
            service["integrations"] = []
            by_team[team_id] = service
        return by_team[team_id]

    names: dict[str, set[str]] = {}
    for item in data.get("integrations") or []:
        label = str(item.get("name") or item.get("id"))
        team_id = str((item.get("ownerTeam") or {}).get("id") or item.get("teamId") or "")
        service = service_of(team_id)
        if service is None or str(item.get("type")) not in _API_TYPES:
            why = (
                "it belongs to no team"
                if service is None
                else f"{item.get('type')} integrations have no counterpart"
            )
            m.note("integration", label, SKIPPED, why)
            continue
        name = slug(label, names.setdefault(service["slug"], set()), fallback="opsgenie")
        service["integrations"].append({"type": "opsgenie", "name": name})
        key = item.get("apiKey")
        if keep_keys and key:
            m.keys[f"{service['slug']}/{name}"] = str(key)
            m.note("integration", label, IMPORTED, "its API key is kept")
        else:
            m.note("integration", label, CHANGED, "a new key: point the sender at Tocsin with it")
    for beat in data.get("heartbeats") or []:
        label = str(beat.get("name"))
        team_id = str((beat.get("ownerTeam") or {}).get("id") or "")
        service = service_of(team_id)
        minutes = int(beat.get("interval") or 0) * _MINUTES.get(str(beat.get("intervalUnit")), 1)
        if service is None or minutes < 1:
            m.note(
                "heartbeat",
                label,
                SKIPPED,
                "it belongs to no team" if service is None else "no interval",
            )
            continue
        name = slug(label, names.setdefault(service["slug"], set()), fallback="heartbeat")
        service["integrations"].append(
            {"type": "heartbeat", "name": name, "interval": duration_text(minutes * 60)}
        )
        m.note(
            "heartbeat",
            label,
            IMPORTED if beat.get("enabled", True) else CHANGED,
            "" if beat.get("enabled", True) else "it was disabled in Opsgenie and is on here",
        )
    for service in by_team.values():
        m.note(
            "service", service["name"], CHANGED, "made for the team, which owned its integrations"
        )
    return list(by_team.values())


def check(migration: Migration, data: dict[str, Any], start: datetime, end: datetime) -> int:
    """Compare each imported schedule with Opsgenie's final timeline over [start, end)
    (`/schedules/{id}/timeline`); put every difference in `migration.checks`; return how many
    schedules were compared."""
    specs = {s["name"]: s for s in migration.config.get("schedules", [])}
    compared = 0
    for sid, timeline in (data.get("timelines") or {}).items():
        names = migration.groups.get(sid)
        if not names:
            continue
        kind = f"schedule {names[0]}: its timeline"
        entries = [
            (
                instant(period.get("startDate"), kind),
                instant(period.get("endDate"), kind),
                migration.users.get(
                    str((period.get("recipient") or {}).get("id")), "someone unknown"
                ),
            )
            for rotation in (timeline.get("finalTimeline") or {}).get("rotations") or []
            for period in rotation.get("periods") or []
            if period.get("type") != "historical"
            and (period.get("recipient") or {}).get("type") == "user"
        ]
        migration.checks += verify.differences(
            [verify.to_schedule(specs[name]) for name in names],
            entries,
            start,
            end,
            source="Opsgenie",
        )
        compared += 1
    return compared
