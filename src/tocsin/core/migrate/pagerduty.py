"""PagerDuty's REST API v2 objects, as a Tocsin config file.

Read: `/users` (with their contact methods and notification rules), `/teams`, `/schedules/{id}`
(their `schedule_layers` and `restrictions`), `/schedules/{id}/overrides`,
`/escalation_policies`, `/services` (with their integrations) and `/maintenance_windows`.

How each maps:

- A user keeps name, email, time zone and role (owner and admin are admins; observer, read-only
  and restricted users are viewers). Email, phone and SMS contact methods move; PagerDuty's
  own app push cannot, and is reported. High-urgency notification rules become the rules;
  low-urgency ones have no counterpart and are reported.
- A schedule's layers keep their order of precedence (`rendering_index`: higher wins, as a later
  Tocsin layer wins), their handoff (`rotation_virtual_start`, in the schedule's zone), their
  turn length and participants. A daily restriction is a window every day; a weekly one may
  span several days, and is split into exact per-day windows. A layer that ended is left out;
  one that ends later is kept and the report says when to remove it.
- Escalation rules become levels with their delays, `num_loops` the repeats.
- A service's Events API integrations become `pagerduty` integrations; with `keep_keys` their
  routing keys are kept, so a sender changes only its URL. Email integrations, and the
  auto-resolve timeout, have no counterpart and are reported.
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
    instant,
    known_zone,
    need,
    slug,
    verify,
)
from tocsin.core.timeutil import duration_text
from tocsin.errors import InvalidInput

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ROLES = {
    "owner": "admin",
    "admin": "admin",
    "observer": "viewer",
    "read_only_user": "viewer",
    "read_only_limited_user": "viewer",
    "restricted_access": "viewer",
}
_EVENTS = {"events_api_v2_inbound_integration", "generic_events_api_inbound_integration"}


def convert(data: dict[str, Any], *, now: datetime, keep_keys: bool = False) -> Migration:
    """Return the migration of PagerDuty's objects (`data` maps each endpoint to its list;
    `overrides` maps a schedule id to its list)."""
    migration = Migration("PagerDuty")
    users = _users(migration, data.get("users") or [])
    teams = _teams(migration, data.get("teams") or [], data.get("users") or [], users)
    schedules = _schedules(migration, data, users, now)
    policies = _policies(migration, data.get("escalation_policies") or [], users, schedules)
    services = _services(migration, data.get("services") or [], policies, teams, keep_keys)
    for window in data.get("maintenance_windows") or []:
        end = instant(window.get("end_time"), f"maintenance window {window.get('id')}")
        migration.note(
            "maintenance window",
            str(window.get("description") or window.get("id")),
            SKIPPED,
            f"{window.get('start_time')} to {window.get('end_time')}: set it again with"
            " `tocsin maintenance add`"
            if end > now
            else "over",
        )
    migration.assemble(
        users=[u for _id, u in users.values()],
        teams=list(teams.values()),
        schedules=[s for _id, s in schedules.values()],
        escalation_policies=[p for _id, p in policies.values()],
        services=services,
    )
    migration.users = {uid: who for uid, (who, _spec) in users.items()}
    migration.schedules = {sid: name for sid, (name, _spec) in schedules.items()}
    return migration


def check(migration: Migration, data: dict[str, Any], start: datetime, end: datetime) -> int:
    """Compare each imported schedule with PagerDuty's own rendering of it over [start, end)
    (`final_schedule.rendered_schedule_entries`); put every difference in `migration.checks`
    and return how many schedules were compared."""
    specs = {s["name"]: s for s in migration.config.get("schedules", [])}
    compared = 0
    for item in data.get("schedules") or []:
        name = migration.schedules.get(str(item.get("id")))
        final = (item.get("final_schedule") or {}).get("rendered_schedule_entries")
        if name is None or final is None:
            continue
        kind = f"schedule {item.get('name')}: its final schedule"
        entries = [
            (
                instant(entry.get("start"), kind),
                instant(entry.get("end"), kind),
                migration.users.get(str((entry.get("user") or {}).get("id")), "someone unknown"),
            )
            for entry in final
        ]
        migration.checks += verify.differences(
            verify.to_schedule(specs[name]), entries, start, end, source="PagerDuty"
        )
        compared += 1
    return compared


# --- people -----------------------------------------------------------------------------------


def _users(m: Migration, items: list[dict[str, Any]]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Return PagerDuty user id -> (handle, user spec)."""
    taken: set[str] = set()
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for item in items:
        uid = need(item.get("id"), "a user", "id")
        email = str(item.get("email") or "")
        name = str(item.get("name") or email or uid)
        who, spec = m.person(
            email,
            name,
            str(item.get("time_zone") or "UTC"),
            _ROLES.get(str(item.get("role")), "responder"),
            taken,
            f"user {email or uid}",
        )
        methods, names = _contact_methods(m, who, item.get("contact_methods") or [])
        if methods:
            spec["contact_methods"] = methods
            rules = _rules(m, who, item.get("notification_rules") or [], names)
            if rules:
                spec["notification_rules"] = rules
        found[uid] = (who, spec)
    return found


def _contact_methods(
    m: Migration, who: str, items: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Return the methods' specs and PagerDuty method id -> method name."""
    specs: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    taken: set[str] = set()
    for item in items:
        kind = str(item.get("type", "")).removesuffix("_reference")
        label = str(item.get("label") or kind.split("_")[0])
        what = f"{who}: {label}"
        if kind == "email_contact_method":
            out = "email"
            spec = {"type": out, "address": item.get("address")}
        elif kind in ("phone_contact_method", "sms_contact_method"):
            number = f"+{item.get('country_code', '')}{item.get('address', '')}"
            if not (number[1:].isdigit() and 8 <= len(number) - 1 <= 15):
                m.note("contact method", what, SKIPPED, f"{number} is not a phone number")
                continue
            out = "voice" if kind == "phone_contact_method" else "sms"
            spec = {"type": out, "number": number}
        else:
            m.note(
                "contact method",
                what,
                SKIPPED,
                "PagerDuty's app push cannot move: add ntfy or Web Push on the profile page",
            )
            continue
        name = slug(label, taken, limit=40, fallback=out)
        names[str(item.get("id"))] = name
        specs.append({"name": name, **spec})
        m.note("contact method", f"{who}: {name}", IMPORTED)
    return specs, names


def _rules(
    m: Migration, who: str, items: list[dict[str, Any]], names: dict[str, str]
) -> list[dict[str, str]]:
    rules: list[dict[str, str]] = []
    seen: set[tuple[str, int]] = set()
    for item in items:
        method = names.get(str((item.get("contact_method") or {}).get("id")))
        delay = int(item.get("start_delay_in_minutes") or 0)
        if item.get("urgency", "high") != "high":
            m.note(
                "notification rule",
                f"{who}: {method or '?'} after {delay}m",
                SKIPPED,
                "low-urgency rules have no counterpart: SEV-4 pages wait for business hours",
            )
            continue
        if method is None or (method, delay) in seen:
            continue
        seen.add((method, delay))
        rules.append({"contact_method": method, "after": f"{delay}m"})
    return sorted(rules, key=lambda r: (int(r["after"][:-1]), r["contact_method"]))


def _teams(
    m: Migration,
    items: list[dict[str, Any]],
    people: list[dict[str, Any]],
    users: dict[str, tuple[str, dict[str, Any]]],
) -> dict[str, dict[str, Any]]:
    taken: set[str] = set()
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        tid = need(item.get("id"), "a team", "id")
        name = str(item.get("name") or tid)
        members = [
            users[str(p["id"])][0]
            for p in people
            if str(p.get("id")) in users
            and any(str(t.get("id")) == tid for t in p.get("teams") or [])
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
        sid = need(item.get("id"), "a schedule", "id")
        title = str(item.get("name") or sid)
        kind = f"schedule {title}"
        zone = known_zone(item.get("time_zone") or "UTC", kind)
        name = slug(title, taken)
        layers = []
        ordered = sorted(
            enumerate(item.get("schedule_layers") or []),
            # PagerDuty answers the highest layer first; rendering_index says it outright.
            key=lambda pair: (
                index if isinstance(index := pair[1].get("rendering_index"), int) else -pair[0],
                -pair[0],
            ),
        )
        for _index, layer in ordered:
            spec = _layer(m, title, layer, zone, users, now)
            if spec is not None:
                layers.append(spec)
        schedule: dict[str, Any] = {"name": name, "time_zone": zone.key}
        if item.get("description") or name != title:
            schedule["description"] = str(item.get("description") or title)
        schedule["layers"] = layers
        overrides = []
        for override in (data.get("overrides") or {}).get(sid, []):
            start = instant(override.get("start"), f"{kind}: an override")
            end = instant(override.get("end"), f"{kind}: an override")
            person = users.get(str((override.get("user") or {}).get("id")))
            if end <= now:
                m.note("override", f"{title}: from {override.get('start')}", SKIPPED, "over")
                continue
            if person is None:
                m.note("override", f"{title}: {override.get('start')}", SKIPPED, "unknown user")
                continue
            overrides.append(
                {
                    "user": person[0],
                    "from": start.astimezone(zone).isoformat(),
                    "to": end.astimezone(zone).isoformat(),
                }
            )
            m.note("override", f"{title}: {person[0]} from {override.get('start')}", IMPORTED)
        if overrides:
            schedule["overrides"] = overrides
        m.named("schedule", title, name)
        found[sid] = (name, schedule)
    return found


def _layer(
    m: Migration,
    schedule: str,
    layer: dict[str, Any],
    zone: ZoneInfo,
    users: dict[str, tuple[str, dict[str, Any]]],
    now: datetime,
) -> dict[str, Any] | None:
    title = str(layer.get("name") or layer.get("id"))
    kind = f"schedule {schedule}: layer {title}"
    what = f"{schedule}: {title}"
    if layer.get("end"):
        end = instant(layer["end"], kind)
        if end <= now:
            m.note("layer", what, SKIPPED, f"ended {layer['end']}")
            return None
    seconds = int(need(layer.get("rotation_turn_length_seconds"), kind, "turn length"))
    anchor = instant(need(layer.get("rotation_virtual_start"), kind, "handoff"), kind)
    participants = []
    for entry in layer.get("users") or []:
        person = users.get(str((entry.get("user") or {}).get("id")))
        if person is None:
            raise InvalidInput(f"{kind}: names a user that /users did not list")
        participants.append(person[0])
    if not participants:
        m.note("layer", what, SKIPPED, "nobody takes turns in it")
        return None
    why = []
    local = anchor.astimezone(zone).replace(tzinfo=None)
    effective = instant(layer["start"], kind) if layer.get("start") else anchor
    if effective > anchor:
        # PagerDuty computes turns from the virtual start but puts no one on call before the
        # layer's start; a Tocsin layer starts at a handoff: the first one at or after it.
        turn = timedelta(seconds=seconds)
        skipped = -(-(effective.astimezone(zone).replace(tzinfo=None) - local) // turn)
        local += skipped * turn
        participants = (
            participants[skipped % len(participants) :]
            + participants[: skipped % len(participants)]
        )
        if effective > now:
            why.append(
                f"it takes effect at {layer['start']} in PagerDuty, at its first handoff from"
                f" then here ({local.isoformat(timespec='minutes')})"
            )
    spec: dict[str, Any] = {
        "name": title,
        "rotation": _rotation(seconds),
        "start": local.isoformat(timespec="minutes"),
        "participants": participants,
    }
    windows = [_restriction(r, kind) for r in layer.get("restrictions") or []]
    # A restriction covering every hour makes the layer unrestricted, whatever else it has.
    if windows and not any(w is None for w in windows):
        spec["restrictions"] = [window for found in windows if found for window in found]
    if anchor.second or anchor.microsecond:
        why.append("its handoff is rounded to the minute")
    if layer.get("end"):
        why.append(f"it ends {layer['end']} in PagerDuty: remove it then, Tocsin layers do not end")
    m.note("layer", what, CHANGED if why else IMPORTED, "; ".join(why))
    return spec


def _rotation(seconds: int) -> str:
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    raise InvalidInput(f"a turn of {seconds} s is not a whole number of hours")


def _clock(seconds: int) -> str:
    return f"{seconds // 3600 % 24:02d}:{seconds % 3600 // 60:02d}"


def _restriction(item: dict[str, Any], kind: str) -> list[dict[str, Any]] | None:
    """Return Tocsin windows for one restriction: a daily one is one window every day; a weekly
    one is split into a window per day it touches, so that its hours are exactly the same.
    None: it covers every hour."""
    hours, minutes, *rest = (int(part) for part in str(item.get("start_time_of_day")).split(":"))
    start = hours * 3600 + minutes * 60 + (rest[0] if rest else 0)
    length = int(item.get("duration_seconds") or 0)
    if item.get("type") == "daily_restriction":
        if length >= 86400:
            return None  # the whole day: no restriction at all
        return [{"from": _clock(start), "to": _clock(start + length)}]
    if item.get("type") != "weekly_restriction":
        raise InvalidInput(f"{kind}: unknown restriction type {item.get('type')!r}")
    if length >= 7 * 86400:
        return None
    day = int(item.get("start_day_of_week") or 1) - 1  # PagerDuty: 1 is Monday
    begin, end = day * 86400 + start, day * 86400 + start + length
    windows = []
    cursor = begin
    while cursor < end:
        midnight = (cursor // 86400 + 1) * 86400
        stop = min(end, midnight)
        windows.append(
            {"days": [DAYS[(cursor // 86400) % 7]], "from": _clock(cursor), "to": _clock(stop)}
        )
        cursor = stop
    return windows


# --- escalation and services -----------------------------------------------------------------


def _policies(
    m: Migration,
    items: list[dict[str, Any]],
    users: dict[str, tuple[str, dict[str, Any]]],
    schedules: dict[str, tuple[str, dict[str, Any]]],
) -> dict[str, tuple[str, dict[str, Any]]]:
    taken: set[str] = set()
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for item in items:
        pid = need(item.get("id"), "an escalation policy", "id")
        title = str(item.get("name") or pid)
        name = slug(title, taken)
        levels = []
        for rule in item.get("escalation_rules") or []:
            targets = []
            for target in rule.get("targets") or []:
                tid, kind = str(target.get("id")), str(target.get("type"))
                if kind.startswith("user") and tid in users:
                    targets.append(f"user:{users[tid][0]}")
                elif kind.startswith("schedule") and tid in schedules:
                    targets.append(f"schedule:{schedules[tid][0]}")
                else:
                    m.note("escalation target", f"{title}: {tid}", SKIPPED, f"unknown {kind}")
            if targets:
                delay = int(rule.get("escalation_delay_in_minutes") or 0)
                levels.append({"targets": targets, "delay": duration_text(delay * 60)})
        policy: dict[str, Any] = {"name": name}
        loops = int(item.get("num_loops") or 0)
        if loops:
            policy["repeat"] = loops
        policy["levels"] = levels
        m.named("escalation policy", title, name)
        found[pid] = (name, policy)
    return found


def _services(
    m: Migration,
    items: list[dict[str, Any]],
    policies: dict[str, tuple[str, dict[str, Any]]],
    teams: dict[str, dict[str, Any]],
    keep_keys: bool,
) -> list[dict[str, Any]]:
    taken: set[str] = set()
    found: list[dict[str, Any]] = []
    for item in items:
        title = str(item.get("name") or item.get("id"))
        slug_ = slug(title, taken)
        service: dict[str, Any] = {"slug": slug_, "name": title}
        if item.get("description"):
            service["description"] = str(item["description"])
        policy = policies.get(str((item.get("escalation_policy") or {}).get("id")))
        why = []
        if policy is not None:
            service["escalation_policy"] = policy[0]
        else:
            why.append("its escalation policy was not listed: it pages no one until one is set")
        if item.get("status") == "disabled":
            why.append("it was disabled in PagerDuty and takes alerts here")
        owners = [
            teams[str(t.get("id"))]["slug"]
            for t in item.get("teams") or []
            if str(t.get("id")) in teams
        ]
        if owners:
            service["team"] = owners[0]
        if item.get("acknowledgement_timeout"):
            service["ack_timeout"] = duration_text(int(item["acknowledgement_timeout"]))
        if item.get("auto_resolve_timeout"):
            why.append(
                "its incidents auto-resolved after "
                f"{duration_text(int(item['auto_resolve_timeout']))}: Tocsin resolves them with"
                " their alerts instead (auto_resolve)"
            )
            service["auto_resolve"] = True
        integrations: list[dict[str, Any]] = []
        names: set[str] = set()
        for integration in item.get("integrations") or []:
            label = str(integration.get("name") or integration.get("summary") or "events")
            kind = str(integration.get("type", "")).removesuffix("_reference")
            if kind not in _EVENTS:
                m.note(
                    "integration",
                    f"{title}: {label}",
                    SKIPPED,
                    f"{kind} has no counterpart; Events API integrations move",
                )
                continue
            name = slug(label, names, fallback="pagerduty")
            integrations.append({"type": "pagerduty", "name": name})
            key = integration.get("integration_key")
            if keep_keys and key:
                m.keys[f"{slug_}/{name}"] = str(key)
                m.note("integration", f"{title}: {label}", IMPORTED, "its routing key is kept")
            else:
                m.note(
                    "integration",
                    f"{title}: {label}",
                    CHANGED,
                    "a new key: point the sender at Tocsin with it",
                )
        if integrations:
            service["integrations"] = integrations
        m.note("service", title, CHANGED if why else IMPORTED, "; ".join(why))
        found.append(service)
    return found
