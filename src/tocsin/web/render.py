"""Jinja2 environment and helpers shared by the pages."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from tocsin.core.audit import short_detail
from tocsin.core.comms import format_duration, format_utc
from tocsin.core.printable import printable

# Markdown tables align columns with style attributes, which the Content-Security-Policy
# (style-src 'self', see tocsin.web.headers) does not apply; the stylesheet has these classes.
# Only the renderer can write this attribute: quotes in user text arrive escaped as &quot;.
_ALIGN_STYLE = re.compile(r'style="text-align:(left|right|center)"')


def shown(value: Any) -> Any:
    """Return an expression's value as it may appear in a page or feed.

    Installed as the environment's `finalize`, it sees the value of every `{{ ... }}` before
    autoescaping, so no template can forget it: text loses its control characters (see
    `tocsin.core.printable`), and already-safe HTML (rendered Markdown, the schedule SVG) also
    trades inline alignment styles for classes.
    """
    if hasattr(value, "__html__"):
        html = printable(str(value.__html__()))
        return Markup(_ALIGN_STYLE.sub(r'class="align-\1"', html))
    text = str(value)  # what Jinja would print; objects' own str() may carry user text too
    cleaned = printable(text)
    return value if len(cleaned) == len(text) else cleaned


env = Environment(
    loader=PackageLoader("tocsin", "web/templates"),
    autoescape=select_autoescape(["html", "xml"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
    finalize=shown,
)


def when(value: datetime | None) -> str:
    """Return an instant as 'YYYY-MM-DD HH:MM UTC'."""
    return format_utc(value) if value else ""


def iso(value: datetime | None) -> str:
    """Return an instant in RFC 3339, for <time datetime> and the Atom feed."""
    return value.isoformat().replace("+00:00", "Z") if value else ""


def age(value: datetime | None, now: datetime) -> str:
    """Return how long ago `value` was, like '1h 5m'."""
    if value is None:
        return ""
    return format_duration(max(now - value, timedelta(0)))


def label(value: str | None) -> str:
    """Return a stored enum value as words: 'degraded_performance' -> 'Degraded performance'."""
    return (value or "").replace("_", " ").capitalize()


def badge(value: str) -> Markup:
    """Return a severity or status as a coloured badge."""
    css = value.lower().replace(" ", "-").replace("_", "-")
    text = label(value) if value.islower() else value  # statuses read as words, SEV-1 stays
    return Markup('<span class="badge b-{}">{}</span>').format(css, text)


def audit_value(value: object) -> str:
    """Return a field's value in an audit entry as text: lists and mappings as JSON."""
    if value is None:
        return "—"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return str(value)


env.filters.update(
    when=when,
    iso=iso,
    label=label,
    badge=badge,
    urldecode=unquote,
    audit_value=audit_value,
    short_detail=short_detail,
)
env.globals.update(age=age)


def page(
    request: Request, template: str, context: dict[str, Any], *, status: int = 200
) -> HTMLResponse:
    """Render `template` with the request's login, CSRF token and flash message."""
    login = getattr(request.state, "login", None)
    values = {
        "request": request,
        "login": login,
        "user": login.user if login else None,
        "csrf": login.csrf if login else "",
        "flash": request.cookies.get(FLASH_COOKIE, ""),
        "path": request.url.path,
        **context,
    }
    response = HTMLResponse(env.get_template(template).render(values), status_code=status)
    if values["flash"]:
        response.delete_cookie(FLASH_COOKIE, path="/")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


FLASH_COOKIE = "tocsin_flash"


def redirect(to: str, flash: str = "") -> RedirectResponse:
    """Send the browser on to `to` after a form (303: fetch it, don't post again), with a
    message for the next page (`flash`, shown once), if any."""
    response = RedirectResponse(to, status_code=303)
    if flash:
        response.set_cookie(FLASH_COOKIE, quote(flash), max_age=60, httponly=True, path="/")
    return response
