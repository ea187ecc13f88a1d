"""Postmortems: drafted from the incident, edited by people, reviewed, published."""

from __future__ import annotations

import functools
from datetime import datetime
from importlib import resources
from pathlib import Path

import jinja2
from markdown_it import MarkdownIt
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.core import blameless, comms
from tocsin.core.incident import IncidentStatus, incident_ref
from tocsin.core.postmortem import ActionLine, PostmortemStatus, draft_context, move
from tocsin.engine import messages
from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.services import actions, incidents
from tocsin.store.models import Incident, Postmortem

TEMPLATE = "postmortem.md.j2"


def template_source(template_dir: Path | None = None) -> tuple[str, str]:
    """Return (file, Jinja2 source) of the draft: the deployment's copy, else the shipped one.

    The deployment's copy is `postmortem.md.j2` in `template_dir` (`Settings.template_dir`), the
    same folder the notification templates are read from.
    """
    if template_dir is not None and (template_dir / TEMPLATE).is_file():
        own = template_dir / TEMPLATE
        return str(own), own.read_text(encoding="utf-8")
    shipped = resources.files("tocsin") / "templates" / TEMPLATE
    return TEMPLATE, shipped.read_text(encoding="utf-8")


def find(session: Session, incident: Incident) -> Postmortem | None:
    """Return the incident's postmortem, if it has one."""
    return session.scalar(select(Postmortem).where(Postmortem.incident_id == incident.id))


def get(session: Session, ref: str | int) -> tuple[Incident, Postmortem]:
    """Return incident `ref` and its postmortem, or raise NotFound."""
    incident = incidents.get(session, ref)
    postmortem = find(session, incident)
    if postmortem is None:
        raise NotFound(
            f"{incident_ref(incident.number)} has no postmortem yet; "
            f"draft one with `tocsin postmortem draft {incident_ref(incident.number)}`"
        )
    return incident, postmortem


def render_draft(session: Session, incident: Incident, *, template_dir: Path | None = None) -> str:
    """Return the postmortem template (the seed's unless overridden) filled in from the incident."""
    lines = [
        ActionLine(item.action, item.owner.handle if item.owner else "", item.priority)
        for item in actions.list_(session, incident=incident)
    ]
    where, source = template_source(template_dir or messages.bound_template_dir(session))
    try:
        return comms.render(source, draft_context(incidents.view(incident), lines))
    except jinja2.TemplateError as exc:
        # A deployment's own template is hand-written; say which file is wrong and why.
        line = getattr(exc, "lineno", None)
        raise InvalidInput(
            f"{where}{f':{line}' if line else ''}: cannot render the postmortem template: "
            f"{exc.message or exc}"
        ) from exc


def draft(
    session: Session,
    ref: str | int,
    *,
    actor: str,
    now: datetime,
    template_dir: Path | None = None,
) -> Postmortem:
    """Create the postmortem of a resolved incident, drafted from what it recorded."""
    incident = incidents.get(session, ref)
    name = incident_ref(incident.number)
    if IncidentStatus(incident.status).is_open:
        raise Conflict(f"{name} is {incident.status}; draft its postmortem once it is resolved")
    if find(session, incident) is not None:
        raise Conflict(f"{name} already has a postmortem; edit it instead")
    postmortem = Postmortem(
        incident_id=incident.id,
        status=PostmortemStatus.DRAFT.value,
        body=render_draft(session, incident, template_dir=template_dir),
        runbook_updated=False,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(postmortem)
    session.flush()
    return postmortem


def edit(session: Session, ref: str | int, body: str, *, now: datetime) -> Postmortem:
    """Replace the postmortem's text (not once it is published)."""
    incident, postmortem = get(session, ref)
    if postmortem.status == PostmortemStatus.PUBLISHED.value:
        raise Conflict(f"the postmortem of {incident_ref(incident.number)} is published")
    if not body.strip():
        raise InvalidInput("a postmortem must not be empty")
    postmortem.body = body
    postmortem.updated_at = now
    session.flush()
    return postmortem


def set_status(
    session: Session, ref: str | int, status: str, *, now: datetime
) -> tuple[Postmortem, list[str]]:
    """Move the postmortem on; publishing runs the blameless check and returns its warnings."""
    incident, postmortem = get(session, ref)
    try:
        target = PostmortemStatus(status.strip().lower().replace(" ", "_").replace("-", "_"))
    except ValueError:
        raise InvalidInput(
            f"unknown postmortem status {status!r}; valid: draft, in_review, published"
        ) from None
    move(incident_ref(incident.number), PostmortemStatus(postmortem.status), target)
    warnings: list[str] = []
    if target is PostmortemStatus.PUBLISHED:
        warnings = blameless_warnings(session, postmortem)
        postmortem.published_at = now
    postmortem.status = target.value
    postmortem.updated_at = now
    session.flush()
    return postmortem, warnings


@functools.cache
def blameless_lexicon() -> blameless.Lexicon:
    """Return the word lists shipped in `tocsin/data/blameless.yaml`."""
    source = resources.files("tocsin") / "data" / "blameless.yaml"
    return blameless.parse_lexicon(source.read_text(encoding="utf-8"))


def blameless_warnings(session: Session, postmortem: Postmortem) -> list[str]:
    """Return "line N: ..." for every sentence that blames a person."""
    from tocsin.store import users

    people = [name for u in users.list_(session) for name in (u.handle, u.name)]
    return [
        f"line {f.line}: {f.text.strip()!r} puts the blame on people ({f.phrase}); {f.suggestion}"
        for f in blameless.check(postmortem.body, people=people, lexicon=blameless_lexicon())
    ]


def runbook_updated(session: Session, ref: str | int, *, now: datetime) -> Postmortem:
    """Record that the service's runbook now has the resolution steps (closes that item)."""
    incident, postmortem = get(session, ref)
    postmortem.runbook_updated = True
    postmortem.updated_at = now
    actions.close_runbook_item(session, incident, now=now)
    session.flush()
    return postmortem


def to_html(body: str) -> str:
    """Return the postmortem's Markdown as an HTML fragment (raw HTML in it is escaped)."""
    return str(MarkdownIt("commonmark", {"html": False}).enable("table").render(body))
