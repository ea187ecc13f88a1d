"""What notifications say: the seed's message templates, filled in from the incident.

A deployment may replace any template with its own copy in the template folder
(`Settings.template_dir`). The composition root puts that folder in every session's `info`
(`TEMPLATE_DIR`), so the engine and the services render with the deployment's templates
without reading the environment.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from tocsin.core import comms
from tocsin.core.incident import incident_ref
from tocsin.errors import InvalidInput
from tocsin.store import incidents, severities
from tocsin.store.models import Incident, User

TEMPLATES = ("notification", "resolution", "page")
# The key of the deployment's template folder in `Session.info`.
TEMPLATE_DIR = "tocsin.template_dir"


def bound_template_dir(session: Session) -> Path | None:
    """Return the deployment's template folder, as the composition root bound it."""
    found = session.info.get(TEMPLATE_DIR)
    return Path(found) if found else None


def template_source(name: str, template_dir: Path | None = None) -> str:
    """Return the Jinja2 source of template `name`: the deployment's copy, else the shipped one."""
    if name not in TEMPLATES:
        raise InvalidInput(f"unknown template {name!r}; valid templates: {', '.join(TEMPLATES)}")
    filename = f"{name}.txt.j2"
    if template_dir is not None and (template_dir / filename).is_file():
        return (template_dir / filename).read_text(encoding="utf-8")
    return _shipped(filename)


@functools.cache
def _shipped(filename: str) -> str:
    # Read once per process: every page renders one, and the package does not change under us
    # (a deployment's own copies, above, are read each time, so edits apply at once).
    return (resources.files("tocsin") / "templates" / "comms" / filename).read_text(
        encoding="utf-8"
    )


def render_message(
    session: Session,
    incident: Incident | str | int,
    kind: str = "notification",
    *,
    template_dir: Path | None = None,
) -> str:
    """Return the INCIDENT NOTIFICATION or RESOLUTION summary of the incident."""
    incident = incidents.resolve_ref(session, incident)
    source = template_source(kind, template_dir or bound_template_dir(session))
    snapshot = incidents.view(incident, with_timeline=False)  # no message shows the timeline
    if kind in ("notification", "page"):
        scale = severities.scale(session)
        context = comms.notification_context(snapshot, scale.get(incident.severity))
    else:
        context = comms.resolution_context(snapshot)
    return comms.render(source, context)


def message_for(
    session: Session,
    incident: Incident,
    user: User | None,
    kind: str,
    *,
    subject: str | None = None,
    text: str | None = None,
) -> dict[str, Any]:
    """Return what the notification says, from the incident as it is now.

    Links (the incident page, the signed ack link) are added by the sender, which knows the
    address people reach Tocsin at. `user` is None for the call of a webhook.
    """
    ref = incident_ref(incident.number)
    service = incident.service_slugs[0] if incident.services else None
    if subject is not None and text is not None:
        pass  # a reminder or a notice that says its own words
    elif kind == "resolved":
        subject = f"[RESOLVED] {ref} {service or ''}: {incident.title}".replace("  ", " ")
        text = f"{ref} is resolved. {incident.resolution or ''}".strip()
    else:
        subject = f"[{incident.severity}] {ref} {service or ''}: {incident.title}".replace(
            "  ", " "
        )
        text = render_message(session, incident, "page")
    return {
        "subject": subject,
        "text": text,
        "severity": incident.severity,
        "incident": ref,
        "service": service,
        **({"user": user.handle} if user is not None else {}),
    }
