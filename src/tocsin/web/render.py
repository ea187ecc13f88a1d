"""Jinja2 environment and helpers shared by the pages."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from tocsin.core.comms import format_duration, format_utc

env = Environment(
    loader=PackageLoader("tocsin", "web/templates"),
    autoescape=select_autoescape(["html", "xml"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
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


env.filters.update(when=when, iso=iso, label=label, badge=badge, urldecode=unquote)
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
