"""Pages answer errors as pages: a route class that turns Tocsin errors into HTML."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from tocsin.errors import TocsinError
from tocsin.http.errors import describe_validation, status_of
from tocsin.web.auth import BadCsrf, LoginRequired
from tocsin.web.render import page


def error_page(request: Request, status: int, message: str, problems: list[str]) -> Response:
    """Render the error page."""
    return page(
        request,
        "error.html",
        {"status": status, "message": message, "problems": problems},
        status=status,
    )


class PageRoute(APIRoute):
    """An APIRoute whose errors are pages, and whose missing logins go to the login form."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler."""
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                if request.url.path.startswith("/live/"):
                    return Response("log in again", status_code=401)
                target = request.url.path
                if request.url.query and request.method == "GET":
                    target += "?" + request.url.query
                return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
            except BadCsrf as exc:
                return error_page(request, 403, exc.message, [])
            except TocsinError as exc:
                problems = exc.problems if exc.problems != [exc.message] else []
                return error_page(request, status_of(exc), exc.message, problems)
            except RequestValidationError as exc:
                status, _detail, problems = describe_validation(list(exc.errors()))
                return error_page(request, status, "The request was not understood.", problems)

        return answer
