"""The one place that maps Tocsin errors to HTTP answers.

Every error body is `{"detail": "<one line>", "errors": ["<problem>", ...]}`, listing every
problem found, so a client can fix its request in one go. A database that cannot be reached
(or is busy) answers 503 with Retry-After, since clients retry those; any other unexpected
failure answers 500, in the same shape.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from tocsin.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    NotMigrated,
    PermissionDenied,
    TocsinError,
    Unauthenticated,
)
from tocsin.schemas import ErrorOut

log = logging.getLogger(__name__)

# Seconds a client should wait before retrying while the database is away.
RETRY_AFTER = 5

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


def database_down(exc: BaseException) -> bool:
    """Return whether `exc` means the database cannot be reached or is busy right now.

    OperationalError covers refused and lost connections, SQLite's "database is locked" and
    PostgreSQL's deadlocks and lock timeouts: all pass, so the answer is "retry".
    """
    if isinstance(exc, OperationalError) and "readonly database" in str(exc.orig):
        # SQLite refusing a write slipped into a read session: a bug, not a passing state.
        return False
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def database_reason(exc: BaseException) -> str:
    """Return a short, public reason for a database failure (the log has the full one)."""
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    return type(cause).__name__


def unavailable(exc: BaseException) -> JSONResponse:
    """Return the 503 answer for database failure `exc`, and log it."""
    log.warning("database unavailable: %s", exc)
    reason = database_reason(exc)
    return JSONResponse(
        error_body("the database is unavailable; retry shortly", [f"database: {reason}"]),
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER)},
    )


_WHY = {
    400: "The request is malformed (such as a body that is not JSON) or names a value that "
    "is not allowed",
    401: "No API token, or an unknown or revoked one",
    403: "The token lacks the scope, or its user the role",
    404: "Something the request names does not exist",
    409: "The request clashes with the current state",
    413: "The body is larger than the limit",
    422: "The body or a parameter does not have the documented shape",
    503: "The database is unavailable or busy; retry after Retry-After seconds",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Return OpenAPI `responses` documenting error answers `codes` with the error body."""
    documented: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        documented[code] = {"model": ErrorOut, "description": _WHY[code]}
        if code == 503:
            documented[code]["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before retrying.",
                    "schema": {"type": "integer"},
                }
            }
    return documented


# Every /api/v1 route may answer these; FastAPI's own 422 shape is replaced by ours.
API_RESPONSES = responses(400, 401, 403, 404, 409, 413, 422, 503)


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


def answer_for(exc: Exception) -> JSONResponse:
    """Return the answer the handlers below give to `exc`, for a route called outside the
    framework's handling (the ingestion routes' short way in); log what is unexpected."""
    if isinstance(exc, TocsinError):
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
        return JSONResponse(
            error_body(exc.message, exc.problems), status_code=status_of(exc), headers=headers
        )
    if database_down(exc):
        return unavailable(exc)
    log.error("an ingestion request failed", exc_info=exc)
    message = "internal server error; the server's log has the details"
    return JSONResponse(error_body(message, [message]), status_code=500)


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""

    @app.exception_handler(TocsinError)
    async def tocsin_error(_request: Request, exc: TocsinError) -> JSONResponse:
        return answer_for(exc)

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

    async def database_error(_request: Request, exc: Exception) -> JSONResponse:
        if not database_down(exc):
            raise exc
        return unavailable(exc)

    app.add_exception_handler(DBAPIError, database_error)
    app.add_exception_handler(PoolTimeout, database_error)

    @app.exception_handler(Exception)
    async def server_error(_request: Request, exc: Exception) -> JSONResponse:
        # Starlette logs `exc` with its traceback after this answer.
        if database_down(exc):
            return unavailable(exc)
        message = "internal server error; the server's log has the details"
        return JSONResponse(error_body(message, [message]), status_code=500)
