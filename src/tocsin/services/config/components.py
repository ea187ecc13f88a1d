"""`components:`, the status page's components, in the order the page shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tocsin.config import ConfigSpec
from tocsin.services.config.base import Change, Context, Section
from tocsin.store import components, services
from tocsin.store.models import StatusComponent


class Components(Section[StatusComponent]):
    name = "components"
    kind = "component"

    def listed(self, spec: ConfigSpec) -> list[str]:
        return [c.slug for c in spec.components]

    def rows(self, session: Session) -> list[StatusComponent]:
        return components.list_(session)

    def key(self, row: StatusComponent) -> str:
        return row.slug

    def validate(self, context: Context) -> list[str]:
        problems: list[str] = []
        for i, component in enumerate(context.spec.components):
            if not services.SLUG.match(component.slug):
                problems.append(
                    context.problem(
                        f"components[{i}].slug", f"{component.slug!r} is not a valid slug"
                    )
                )
            if component.name is not None and not component.name:
                problems.append(
                    context.problem(f"components[{i}].name", "the name must not be empty")
                )
        return problems

    def apply(self, context: Context, *, now: datetime) -> list[Change]:
        changes: list[Change] = []
        session = context.session
        for position, spec in enumerate(context.spec.components):
            found = components.find(session, spec.slug)
            if found is None:
                components.create(
                    session,
                    slug=spec.slug,
                    name=spec.name,
                    description=spec.description,
                    position=position,
                    now=now,
                )
                changes.append(Change("create", "component", spec.slug))
                continue
            changed = components.update(
                session,
                found,
                name=spec.name or spec.slug,
                description=spec.description,
                position=position,
            )
            if changed:
                changes.append(Change("update", "component", spec.slug, tuple(changed)))
        return changes

    def export(self, session: Session, *, include_secrets: bool) -> list[dict[str, Any]]:
        return [_component(c) for c in self.rows(session)]


def _component(component: StatusComponent) -> dict[str, Any]:
    found: dict[str, Any] = {"slug": component.slug}
    if component.name != component.slug:
        found["name"] = component.name
    if component.description:
        found["description"] = component.description
    return found
