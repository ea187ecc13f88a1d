"""Lists answered a page at a time: the next page's cursor in `Link` and `X-Next-Cursor`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response


def headers(what: str) -> dict[str, Any]:
    """Return the OpenAPI description of the paging headers of a list of `what`."""
    return {
        "Link": {
            "description": f'Only when more {what} follow: `<URL of the next page>; rel="next"`, '
            "a reference relative to this request.",
            "schema": {"type": "string"},
        },
        "X-Next-Cursor": {
            "description": f"Only when more {what} follow: the `cursor` of the next page.",
            "schema": {"type": "string"},
        },
    }


def link_next(request: Request, response: Response, cursor: str | None) -> None:
    """Point the answer at the next page (the same query with `cursor`), if there is one."""
    if cursor is None:
        return
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    target = f"{request.url.path}?{urlencode([*query, ('cursor', cursor)])}"
    response.headers["Link"] = f'<{target}>; rel="next"'
    response.headers["X-Next-Cursor"] = cursor
