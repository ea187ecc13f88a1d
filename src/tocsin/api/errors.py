"""The one place that maps Tocsin errors to HTTP answers.

Every error body is `{"detail": "<one line>", "errors": ["<problem>", ...]}`, listing every
problem found, so a client can fix its request in one go.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tocsin.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TocsinError,
    Unauthenticated,
)
from tocsin.store.db import NotMigrated

STATUS: list[tuple[type[TocsinError], int]] = [
    (InvalidInput, 400),
    (Unauthenticated, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (NotMigrated, 503),
]


def status_of(exc: TocsinError) -> int:
    """Return the HTTP status for `exc`."""
    return next((code for cls, code in STATUS if isinstance(exc, cls)), 500)


def error_body(detail: str, errors: list[str]) -> dict[str, Any]:
    """Return the JSON body of an error answer."""
    return {"detail": detail, "errors": errors}


def describe_validation(errors: list[Any]) -> tuple[int, str, list[str]]:
    """Return status, summary and problems for FastAPI's request validation errors."""
    problems: list[str] = []
    for err in errors:
        if err.get("type") == "json_invalid":
            reason = err.get("ctx", {}).get("error", "not valid JSON")
            return 400, f"malformed JSON body: {reason}", [f"malformed JSON body: {reason}"]
        where = ".".join(str(part) for part in err.get("loc", ()) if part != "body") or "body"
        message = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            message = "unknown field"
        problems.append(f"{where}: {message}")
    return 422, "; ".join(problems), problems


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""

    @app.exception_handler(TocsinError)
    async def tocsin_error(_request: Request, exc: TocsinError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
        return JSONResponse(
            error_body(exc.message, exc.problems), status_code=status_of(exc), headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        status, detail, problems = describe_validation(list(exc.errors()))
        return JSONResponse(error_body(detail, problems), status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = str(exc.detail)
        return JSONResponse(
            error_body(detail, [detail]), status_code=exc.status_code, headers=exc.headers
        )
