"""Status-page components: the parts of the product customers see, in display order."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.errors import NotFound
from tocsin.store.models import StatusComponent


def find(session: Session, slug: str) -> StatusComponent | None:
    """Return the component `slug`, or None."""
    return session.scalar(select(StatusComponent).where(StatusComponent.slug == slug))


def get_by_slug(session: Session, slug: str) -> StatusComponent:
    """Return the component `slug`, or raise NotFound."""
    component = find(session, slug)
    if component is None:
        raise NotFound(f"unknown status-page component {slug!r}")
    return component


def list_(session: Session) -> list[StatusComponent]:
    """Return every component in display order."""
    return list(
        session.scalars(
            select(StatusComponent).order_by(StatusComponent.position, StatusComponent.slug)
        )
    )


def create(
    session: Session,
    *,
    slug: str,
    name: str | None = None,
    description: str = "",
    position: int = 0,
    now: datetime,
) -> StatusComponent:
    """Create a component."""
    component = StatusComponent(
        slug=slug,
        name=(name or slug).strip(),
        description=description,
        position=position,
        created_at=now,
    )
    session.add(component)
    session.flush()
    return component


def update(
    session: Session, component: StatusComponent, *, name: str, description: str, position: int
) -> list[str]:
    """Change the component to these values; return the names of the fields that changed."""
    changed = []
    for field, value in (("name", name.strip()), ("description", description)):
        if getattr(component, field) != value:
            setattr(component, field, value)
            changed.append(field)
    if component.position != position:
        component.position = position
        changed.append("position")
    session.flush()
    return changed
