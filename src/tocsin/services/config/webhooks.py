"""`webhooks:`, the outgoing signed webhooks that escalation levels call as `webhook:NAME`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from tocsin.config import ConfigSpec, WebhookSpec
from tocsin.core.timeutil import duration_text, parse_duration
from tocsin.errors import TocsinError
from tocsin.notify.webhook import check_url
from tocsin.services.config.base import Change, Context, Section
from tocsin.store import services, webhooks
from tocsin.store.models import Webhook

# A send holds its outbox claim for a minute by default (TOCSIN_CLAIM_SECONDS): a receiver
# allowed to take longer would have its call sent again by another node while it still works.
MAX_TIMEOUT = timedelta(seconds=30)


class Webhooks(Section[Webhook]):
    name = "webhooks"
    kind = "webhook"

    def listed(self, spec: ConfigSpec) -> list[str]:
        return [w.name for w in spec.webhooks]

    def rows(self, session: Session) -> list[Webhook]:
        return webhooks.list_(session)

    def key(self, row: Webhook) -> str:
        return row.name

    def validate(self, context: Context) -> list[str]:
        stored = set(self.stored(context.session))
        return [
            context.problem(f"webhooks[{i}].{field_name}", message)
            for i, spec in enumerate(context.spec.webhooks)
            for field_name, message in webhook_problems(spec, stored=spec.name in stored)
        ]

    def apply(self, context: Context, *, now: datetime) -> list[Change]:
        changes: list[Change] = []
        for spec in context.spec.webhooks:
            timeout = _timeout_seconds(spec)
            found = webhooks.find(context.session, spec.name)
            if found is None:
                assert spec.secret is not None  # validated: a new webhook names its secret
                webhooks.create(
                    context.session,
                    name=spec.name,
                    url=spec.url,
                    secret=spec.secret,
                    timeout_seconds=timeout,
                    now=now,
                )
                changes.append(Change("create", self.kind, spec.name))
                continue
            changed = webhooks.update(
                context.session,
                found,
                url=spec.url,
                secret=spec.secret,
                timeout_seconds=timeout,
                now=now,
            )
            if changed:
                changes.append(Change("update", self.kind, spec.name, tuple(changed)))
        return changes

    def export(self, session: Session, *, include_secrets: bool) -> list[dict[str, Any]]:
        return [_webhook(w, include_secrets) for w in self.rows(session)]


def webhook_problems(spec: WebhookSpec, *, stored: bool) -> list[tuple[str, str]]:
    """Return (field, message) for every problem of one webhook; `stored`: it exists already."""
    problems: list[tuple[str, str]] = []
    if not services.SLUG.match(spec.name):
        problems.append(
            ("name", f"{spec.name!r} is not a valid name: lowercase letters, digits and dashes")
        )
    try:
        check_url(spec.url, "the webhook URL")
    except TocsinError as exc:
        problems.append(("url", exc.message))
    if spec.secret is None and not stored:
        problems.append(
            ("secret", "a new webhook needs the secret its receiver checks signatures with")
        )
    elif spec.secret is not None and not spec.secret:
        # An empty HMAC key signs nothing a receiver could trust.
        problems.append(("secret", "must not be empty"))
    if spec.timeout is not None:
        try:
            timeout = parse_duration(spec.timeout)
        except TocsinError as exc:
            problems.append(("timeout", exc.message))
        else:
            if not timedelta(seconds=1) <= timeout <= MAX_TIMEOUT:
                problems.append(("timeout", f"{spec.timeout!r} must be from 1s to 30s"))
    return problems


def _timeout_seconds(spec: WebhookSpec) -> float | None:
    if spec.timeout is None:
        return None
    return parse_duration(spec.timeout).total_seconds()


def _webhook(webhook: Webhook, include_secrets: bool) -> dict[str, Any]:
    found: dict[str, Any] = {"name": webhook.name, "url": webhook.url}
    if include_secrets:
        found["secret"] = webhook.secret
    if webhook.timeout_seconds is not None:
        found["timeout"] = duration_text(int(webhook.timeout_seconds))
    return found
