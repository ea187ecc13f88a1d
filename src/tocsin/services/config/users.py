"""`users:`, with how each is reached (contact methods) and how soon (notification rules).

A user the file no longer lists is pruned only when nothing else points at them: history
(incident roles, notifications, action items, API tokens, a password) and configuration outside
the file keep the row, since logins and pages hang off it, and the apply warns instead.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.config import ConfigSpec, ContactMethodSpec, NotificationRuleSpec, UserConfigSpec
from tocsin.core import paging
from tocsin.core.phone import E164
from tocsin.core.push import check_keys
from tocsin.core.timeutil import duration_text, parse_duration
from tocsin.errors import TocsinError
from tocsin.notify.ntfy import split_topic_url
from tocsin.services.config.base import Change, Context, Plan, Section, parsed
from tocsin.store import contacts, users
from tocsin.store.contacts import PHONE_TYPES, ContactType, Method, target_field
from tocsin.store.models import (
    ActionItem,
    ApiToken,
    ContactMethod,
    IncidentRole,
    Notification,
    User,
)
from tocsin.store.users import check_time_zone

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# A Telegram chat id: an integer, negative for a group.
CHAT_ID = re.compile(r"-?[0-9]{1,20}")
SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,20}")
# The kept-user warning names what holds a user in this order; other sections come after.
_HOLDERS = ("schedules", "escalation_policies", "services", "teams")


class Users(Section[User]):
    name = "users"
    kind = "user"
    kept_when_named = True

    def listed(self, spec: ConfigSpec) -> list[str]:
        return [u.handle for u in spec.users]

    def rows(self, session: Session) -> list[User]:
        return users.list_(session)

    def key(self, row: User) -> str:
        return row.handle

    def validate(self, context: Context) -> list[str]:
        return [
            problem
            for i, u in enumerate(context.spec.users)
            for problem in _user_problems(context, i, u)
        ]

    def apply(self, context: Context, *, now: datetime) -> list[Change]:
        changes: list[Change] = []
        for u in context.spec.users:
            changes += _apply_user(context.session, u, now=now)
        return changes

    def export(self, session: Session, *, include_secrets: bool) -> list[dict[str, Any]]:
        return [_user(session, u, include_secrets) for u in self.rows(session)]

    def prune(self, context: Context, listed: set[str], plan: Plan) -> None:
        session = context.session
        named: dict[str, list[str]] = {}
        order = sorted(context.sections, key=lambda s: _rank(s.name))
        for section in order:
            for reference in section.references(session):
                if reference.section == self.name:
                    holders = named.setdefault(reference.name, [])
                    if reference.holder not in holders:
                        holders.append(reference.holder)
        for user in self.rows(session):
            if user.handle in listed:
                continue
            holders = _history(session, user) + named.get(user.handle, [])
            if holders:
                plan.warnings.append(
                    f"kept user {user.handle}, who is not in the file: still referred to by "
                    + ", ".join(holders)
                )
                continue
            session.delete(user)
            plan.changes.append(Change("delete", "user", user.handle))


def _rank(section: str) -> int:
    return _HOLDERS.index(section) if section in _HOLDERS else len(_HOLDERS)


def _user_problems(context: Context, i: int, u: UserConfigSpec) -> list[str]:
    problems = [
        context.problem(f"users[{i}]", problem)
        for problem in users.validate(
            handle=u.handle, name=u.name, email=u.email, time_zone=None, role=u.role
        )
    ]
    for problem in check_time_zone(u.time_zone):
        problems.append(context.problem(f"users[{i}].time_zone", problem.split(": ", 1)[1]))
    names = Counter(m.name for m in u.contact_methods)
    for j, method in enumerate(u.contact_methods):
        where = f"users[{i}].contact_methods[{j}]"
        if names[method.name] > 1:
            problems.append(context.problem(where, f"two contact methods named {method.name!r}"))
        for problem in method_problems(method):
            field_name, _, message = problem.partition(": ")
            problems.append(context.problem(f"{where}.{field_name}", message))
    if u.notification_rules is not None:
        try:
            paging.parse_rules(
                [r.model_dump(exclude_none=True) for r in u.notification_rules], set(names)
            )
        except TocsinError as exc:
            for problem in exc.problems:
                field_name, _, message = problem.partition(": ")
                problems.append(context.problem(f"users[{i}].notification_{field_name}", message))
    return problems


def method_problems(spec: ContactMethodSpec) -> list[str]:
    """Return every problem with one contact method (paths relative to it)."""
    problems: list[str] = []
    try:
        kind = ContactType(spec.type)
    except ValueError:
        return [
            f"type: unknown contact method type {spec.type!r}; valid: " + ", ".join(ContactType)
        ]
    if kind is ContactType.EMAIL and not (spec.address and EMAIL.match(spec.address)):
        problems.append(f"address: an email method needs an email address (got {spec.address!r})")
    if kind is ContactType.SLACK and spec.slack_user is not None:
        if spec.url is not None:
            problems.append("slack_user: a slack method has a url or a slack_user, not both")
        elif not SLACK_USER.fullmatch(spec.slack_user):
            problems.append(
                f"slack_user: {spec.slack_user!r} is not a Slack user id (like U0123ABCD)"
            )
    elif spec.slack_user is not None:
        problems.append("slack_user: only a slack method has a Slack user")
    elif kind in (
        ContactType.SLACK,
        ContactType.TEAMS,
        ContactType.WEBHOOK,
        ContactType.NTFY,
    ) and not (spec.url and spec.url.startswith(("http://", "https://"))):
        problems.append(f"url: a {kind.value} method needs an http(s) URL (got {spec.url!r})")
    if kind in PHONE_TYPES and not (spec.number and E164.fullmatch(spec.number)):
        which = "an sms" if kind is ContactType.SMS else "a voice"
        problems.append(
            f"number: {which} method needs a phone number in E.164 form, + and 8 to 15 digits"
            f" like +4915112345678 (got {spec.number!r})"
        )
    if spec.number is not None and kind not in PHONE_TYPES:
        problems.append("number: only an sms or voice method has a phone number")
    if kind is ContactType.TELEGRAM and not (spec.chat_id and CHAT_ID.fullmatch(spec.chat_id)):
        problems.append(
            f"chat_id: a telegram method needs the chat's id, an integer (got {spec.chat_id!r})"
        )
    if spec.chat_id is not None and kind is not ContactType.TELEGRAM:
        problems.append("chat_id: only a telegram method has a chat id")
    if kind is ContactType.NTFY and spec.url and spec.url.startswith(("http://", "https://")):
        try:
            split_topic_url(spec.url)
        except TocsinError as exc:
            problems.append(f"url: {exc.message}")
    if kind is ContactType.WEBPUSH:
        if not (spec.url and spec.url.startswith("https://")):
            problems.append(
                f"url: a webpush method needs its push service's https endpoint (got {spec.url!r})"
            )
        # An export leaves the keys out (they are secret): the stored ones are kept then.
        if spec.secret is not None:
            try:
                check_keys(spec.secret)
            except TocsinError as exc:
                problems.append(f"secret: {exc.message}")
    if spec.secret is not None and kind not in (
        ContactType.WEBHOOK,
        ContactType.NTFY,
        ContactType.WEBPUSH,
    ):
        problems.append(
            "secret: only a webhook (its signing secret), ntfy (its access token) or webpush"
            " (its subscription's keys) method has a secret"
        )
    if spec.throttle is not None:
        try:
            parse_duration(spec.throttle)
        except TocsinError as exc:
            problems.append(f"throttle: {exc.message}")
    return problems


def _apply_user(session: Session, u: UserConfigSpec, *, now: datetime) -> list[Change]:
    changes: list[Change] = []
    existing = users.find(session, u.handle)
    fields: list[str] = []
    if existing is None:
        users.create(
            session,
            handle=u.handle,
            name=u.name,
            email=u.email,
            time_zone=u.time_zone,
            role=u.role,
            now=now,
        )
        changes.append(Change("create", "user", u.handle))
    else:
        fields = users.update(
            session,
            existing,
            name=u.name or u.handle,
            email=u.email,
            time_zone=u.time_zone,
            role=u.role,
        )
    person = users.get_by_handle(session, u.handle)
    if person.stakeholder != u.stakeholder:
        person.stakeholder = u.stakeholder
        if existing is not None:
            fields.append("stakeholder")
    if fields:
        changes.append(Change("update", "user", u.handle, tuple(fields)))
    if "contact_methods" in u.model_fields_set or "notification_rules" in u.model_fields_set:
        lines = contacts.put(
            session,
            person,
            [_method_values(m) for m in u.contact_methods],
            _rule_values(u.contact_methods, u.notification_rules),
            now=now,
        )
        changes += map(parsed, lines)
    return changes


def _method_values(spec: ContactMethodSpec) -> Method:
    target = spec.slack_user or getattr(spec, target_field(spec.type))
    return Method(
        name=spec.name,
        type=spec.type,
        target=target or "",
        secret=spec.secret,
        throttle_seconds=(
            int(parse_duration(spec.throttle).total_seconds()) if spec.throttle else None
        ),
    )


def _rule_values(
    methods: list[ContactMethodSpec], rules: list[NotificationRuleSpec] | None
) -> list[tuple[str, int]]:
    """Return (method, seconds after the page); without rules, every method at once."""
    specs = (
        rules
        if rules is not None
        else [NotificationRuleSpec(contact_method=m.name, after="0m") for m in methods]
    )
    parsed_rules = paging.parse_rules([r.model_dump() for r in specs], {m.name for m in methods})
    return [(r.contact_method, int(r.after.total_seconds())) for r in parsed_rules]


def _history(session: Session, user: User) -> list[str]:
    """Return what refers to `user` that a config file cannot describe."""
    found = []
    for label, column in (
        ("incident roles", IncidentRole.user_id),
        ("notifications", Notification.user_id),
        ("action items", ActionItem.owner_id),
        ("API tokens", ApiToken.user_id),
    ):
        if session.scalar(select(column).where(column == user.id).limit(1)) is not None:
            found.append(f"their {label}")
    if user.password_hash:
        found.append("their web login")
    return found


def _user(session: Session, user: User, include_secrets: bool) -> dict[str, Any]:
    found: dict[str, Any] = {"handle": user.handle}
    if user.name != user.handle:
        found["name"] = user.name
    if user.email:
        found["email"] = user.email
    if user.time_zone != "UTC":
        found["time_zone"] = user.time_zone
    if user.role != "responder":
        found["role"] = user.role
    if user.stakeholder:
        found["stakeholder"] = True
    methods = contacts.methods_of(session, user)
    if methods:
        found["contact_methods"] = [_method(m, include_secrets) for m in methods]
        rules = contacts.rules_of(session, user)
        everything_at_once = sorted((m.name, 0) for m in methods)
        if sorted((m.name, after) for m, after in rules) != everything_at_once:
            found["notification_rules"] = [
                {"contact_method": m.name, "after": duration_text(after)} for m, after in rules
            ]
    return found


def _method(method: ContactMethod, include_secrets: bool) -> dict[str, Any]:
    found: dict[str, Any] = {"name": method.name, "type": method.type}
    if method.type == ContactType.SLACK and method.target and "://" not in method.target:
        found["slack_user"] = method.target
    elif method.target or target_field(method.type) != "url":
        found[target_field(method.type)] = method.target
    if include_secrets and method.secret:
        found["secret"] = method.secret
    if method.throttle_seconds is not None:
        found["throttle"] = duration_text(method.throttle_seconds)
    return found
