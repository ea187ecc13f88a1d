"""Status-page subscribers over HTTP, for administrators: list them, add webhooks, remove any.

Email subscribers subscribe themselves on the status page (double opt-in); a webhook is added
here, active at once, and its signing secret is in the answer that creates it and nowhere else.
Addresses are never shown whole.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from tocsin.api.params import RowId
from tocsin.core.subscriptions import URL_MAX, Kind, mask
from tocsin.http.deps import Admin, NowDep, SessionDep
from tocsin.services import subscriptions

router = APIRouter()


class SubscriberOut(BaseModel):
    id: int
    kind: str = Field(description="email or webhook")
    address: str = Field(description="Masked: j***@example.com, https://host/***")
    components: list[str] = Field(description="Status-component slugs; empty: all of them.")
    confirmed: bool
    created_at: datetime
    pending: int = Field(description="Messages waiting to be sent to it.")
    failed: int = Field(description="Messages that could not be delivered.")


class SubscriberList(BaseModel):
    email_confirmed: int
    email_unconfirmed: int
    webhooks: int
    subscribers: list[SubscriberOut]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=URL_MAX, description="http:// or https:// URL to POST to.")
    components: list[str] = Field(
        default_factory=list, max_length=200, description="Component slugs; empty: all."
    )


class WebhookCreated(SubscriberOut):
    secret: str = Field(
        description="Signs every body (X-Tocsin-Signature: t=UNIX,v1=HEX); shown only here."
    )


@router.get("/status/subscribers", tags=["status page"])
def list_subscribers(session: SessionDep, _caller: Admin) -> SubscriberList:
    """List status-page subscribers with masked addresses, and how many of each kind."""
    found = subscriptions.list_(session)
    return SubscriberList(
        email_confirmed=found.email_confirmed,
        email_unconfirmed=found.email_unconfirmed,
        webhooks=found.webhooks,
        subscribers=[
            SubscriberOut(
                id=s.id,
                kind=s.kind.value,
                address=s.address,
                components=s.components,
                confirmed=s.confirmed,
                created_at=s.created_at,
                pending=s.pending,
                failed=s.failed,
            )
            for s in found.subscribers
        ],
    )


@router.post("/status/subscribers", status_code=201, tags=["status page"])
def add_webhook(
    body: WebhookIn, session: SessionDep, _caller: Admin, now: NowDep
) -> WebhookCreated:
    """Add a webhook subscriber; its signing secret is in this answer and nowhere else."""
    added = subscriptions.add_webhook(session, url=body.url, components=body.components, now=now)
    row = added.subscriber
    session.commit()
    return WebhookCreated(
        id=row.id,
        kind=row.kind,
        address=mask(Kind.WEBHOOK, row.address),
        components=list(row.components),
        confirmed=True,
        created_at=row.created_at,
        pending=0,
        failed=0,
        secret=added.secret,
    )


@router.delete("/status/subscribers/{subscriber_id}", status_code=204, tags=["status page"])
def remove_subscriber(subscriber_id: RowId, session: SessionDep, _caller: Admin) -> Response:
    """Remove a subscriber (email or webhook) and the messages still queued for it."""
    subscriptions.remove(session, subscriber_id)
    session.commit()
    return Response(status_code=204)
