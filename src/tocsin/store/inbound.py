"""Messages providers delivered to us, by id, so that each is acted on once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tocsin.store.models import InboundMessage


def first_time(session: Session, provider: str, sid: str, *, now: datetime) -> bool:
    """Record the message `sid` of `provider`; return False if it was recorded before."""
    if session.get(InboundMessage, (provider, sid)) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(InboundMessage(provider=provider, sid=sid, received_at=now))
    except IntegrityError:
        return False  # another node took the same message at the same moment
    return True
