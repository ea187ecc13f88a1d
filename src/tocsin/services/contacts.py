"""A person's own contact methods, one at a time: add, test and remove them.

The CLI (`tocsin user contact`), the API and the web profile page call these; `tocsin apply`
sets a user's methods all at once instead (`services.config.users`), with the same checks.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.config import ContactMethodSpec
from tocsin.core import destinations, paging
from tocsin.core.push import check_keys
from tocsin.engine.work import announce_work
from tocsin.errors import InvalidInput, NotFound, PermissionDenied, TocsinError
from tocsin.services.config.users import method_problems
from tocsin.store import contacts, links, users
from tocsin.store.contacts import ContactType, Method, target_field
from tocsin.store.models import ContactMethod, Notification, NotificationRule, User
from tocsin.store.notifications import NotificationStatus


def require_own_or_admin(caller: User, handle: str) -> None:
    """Raise PermissionDenied unless `caller` is `handle` or an admin: people manage their own
    contact methods, admins everyone's."""
    if caller.handle != handle and caller.role != "admin":
        raise PermissionDenied(f"only {handle} or an admin can change {handle}'s contact methods")


@dataclass(frozen=True, slots=True)
class Listed:
    """One contact method with when its rules page, and how its latest test went."""

    method: ContactMethod
    after: list[int]
    last_test: TestResult | None


def list_(session: Session, handle: str) -> list[Listed]:
    """Return a user's contact methods, by name."""
    user = _user(session, handle)
    rules: dict[int, list[int]] = {}
    for method, after in contacts.rules_of(session, user):
        rules.setdefault(method.id, []).append(after)
    tests = last_tests(session, user)
    return [
        Listed(m, sorted(rules.get(m.id, [])), tests.get(m.id))
        for m in contacts.methods_of(session, user)
    ]


def _user(session: Session, handle: str) -> User:
    user = users.find(session, handle)
    if user is None:
        raise NotFound(f"no user {handle!r}")
    return user


def add(
    session: Session,
    handle: str,
    *,
    name: str,
    type: str,
    target: str,
    after: str | None = "0m",
    now: datetime,
    trusted: bool = True,
) -> ContactMethod:
    """Add a contact method to a user, with a notification rule `after` a page ("0m": at once;
    None: no rule). Every problem is raised at once, and nothing is changed.

    Not `trusted` (a person other than an admin, for themselves), a URL must not point inside
    the server's network (`core.destinations`).
    """
    user = _user(session, handle)
    problems = []
    name = name.strip()
    if not name or len(name) > 50:
        problems.append("name: must be 1 to 50 characters")
    elif contacts.find(session, user, name) is not None:
        problems.append(f"name: {handle} already has a contact method named {name!r}")
    values: dict[str, str | None] = {"name": name or "-", "type": type}
    try:
        values[target_field(type)] = target.strip() or None
        spec = ContactMethodSpec.model_validate(values)
    except ValueError as exc:  # pydantic's: a type it cannot take at all
        raise InvalidInput(f"{target_field(type)}: {exc}") from None
    problems += method_problems(spec)
    where = target_field(type)
    if not trusted and where == "url" and target.strip():
        reason = destinations.internal(target)
        if reason:
            problems.append(f"url: only an admin may point a method inside the network: {reason}")
    seconds = None
    if after is not None:
        try:
            seconds = int(paging.parse_after(after).total_seconds())
        except TocsinError as exc:
            problems += exc.problems or [exc.message]
    if problems:
        raise InvalidInput.of(problems)
    return contacts.add(
        session,
        user,
        Method(name, type, target.strip(), None, None),
        after_seconds=seconds,
        now=now,
    )


def remove(session: Session, handle: str, name: str) -> None:
    """Remove a user's contact method and its notification rules."""
    user = _user(session, handle)
    method = contacts.find(session, user, name)
    if method is None:
        raise NotFound(f"{handle} has no contact method named {name!r}")
    for rule in session.scalars(
        select(NotificationRule).where(NotificationRule.contact_method_id == method.id)
    ):
        session.delete(rule)  # one by one, so the audit log sees each
    session.flush()  # before the method, whose deletion would cascade to them in the database
    session.delete(method)
    session.flush()


@dataclass(frozen=True, slots=True)
class TestResult:
    """Where a test message stands: pending, sending, sent or failed, and why it failed."""

    status: str
    detail: str = ""

    @property
    def done(self) -> bool:
        return self.status in (NotificationStatus.SENT, NotificationStatus.FAILED)

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}" if self.detail else str(self.status)


def test(session: Session, handle: str, name: str, *, now: datetime) -> int:
    """Queue a test message to a user's contact method; return its notification id, whose
    outcome `test_result` reads once the outbox has sent it."""
    user = _user(session, handle)
    method = contacts.find(session, user, name)
    if method is None:
        raise NotFound(f"{handle} has no contact method named {name!r}")
    how = "call" if method.type == ContactType.VOICE else "message"
    row = Notification(
        idempotency_key="test-" + secrets.token_hex(16),
        incident_id=None,
        user_id=user.id,
        contact_method_id=method.id,
        kind="test",
        status=NotificationStatus.PENDING,
        due_at=now,
        attempts=0,
        message={
            "subject": f"[TEST] Tocsin test {how} to {method.name}",
            "text": f"This is a test {how} from Tocsin to {user.handle}'s contact method"
            f" {method.name!r}. If it reached you, pages will too.",
            "severity": "",
            "user": user.handle,
        },
        created_at=now,
    )
    session.add(row)
    session.flush()
    announce_work(session)
    return row.id


def test_result(session: Session, handle: str, notification_id: int) -> TestResult:
    """Return how a user's test message went (its outbox row's status and error)."""
    user = _user(session, handle)
    row = session.get(Notification, notification_id)
    if row is None or row.kind != "test" or row.user_id != user.id:
        raise NotFound(f"no test message {notification_id}")
    if row.status == NotificationStatus.SENT and row.provider_status:
        return TestResult(row.status, f"the provider reports it {row.provider_status}")
    return TestResult(row.status, row.last_error)


def last_tests(session: Session, user: User) -> dict[int, TestResult]:
    """Return the outcome of the latest test message of each of a user's methods."""
    found: dict[int, TestResult] = {}
    for row in session.scalars(
        select(Notification)
        .where(Notification.user_id == user.id, Notification.kind == "test")
        .order_by(Notification.id)
    ):
        if row.contact_method_id is not None:
            found[row.contact_method_id] = TestResult(row.status, row.last_error)
    return found


def link_code(session: Session, handle: str, provider: str, *, now: datetime) -> str:
    """Return a new one-time code that links a chat account (`provider`: telegram) to the user,
    valid for `links.CODE_LIFETIME`; it replaces the user's earlier code."""
    return links.new_code(session, _user(session, handle), provider, now=now)


def unlink(session: Session, handle: str, provider: str) -> int:
    """Unlink the user's chat accounts of `provider`; return how many there were."""
    return links.unlink(session, _user(session, handle), provider)


def add_push(
    session: Session,
    handle: str,
    subscription: object,
    *,
    name: str,
    now: datetime,
    trusted: bool = False,
) -> ContactMethod:
    """Keep a browser's push subscription (the Push API's `PushSubscription.toJSON()`) as a
    webpush contact method paging at once; the same endpoint again takes the new keys."""
    user = _user(session, handle)
    found = subscription if isinstance(subscription, dict) else {}
    endpoint = found.get("endpoint")
    problems = []
    if not isinstance(endpoint, str) or not endpoint.startswith("https://") or len(endpoint) > 2000:
        problems.append("endpoint: a push subscription's endpoint is an https URL")
    elif not trusted and (reason := destinations.internal(endpoint)):
        problems.append(f"endpoint: a push service is not inside the network: {reason}")
    try:
        keys = json.dumps(check_keys(json.dumps(found.get("keys"))), sort_keys=True)
    except TocsinError as exc:
        problems.append(f"keys: {exc.message}")
    if problems:
        raise InvalidInput.of(problems)
    assert isinstance(endpoint, str)
    mine = contacts.methods_of(session, user)
    for method in mine:
        if method.type == ContactType.WEBPUSH and method.target == endpoint:
            method.secret = keys
            session.flush()
            return method
    taken = {m.name for m in mine}
    base = (name.strip() or "browser")[:40]
    unique = next(n for n in [base, *(f"{base}-{i}" for i in range(2, 100))] if n not in taken)
    return contacts.add(
        session,
        user,
        Method(unique, ContactType.WEBPUSH.value, endpoint, keys, None),
        after_seconds=0,
        now=now,
    )
