"""The OpenAPI document, made to say what the server really answers.

FastAPI documents each route's success and its own 422 shape; two things it cannot know are
added here: error answers are JSON even on routes whose success is text, HTML or iCalendar,
and the ingestion routes, which read their bodies themselves, answer in the shapes of the
senders they stand in for (Alertmanager, PagerDuty, Opsgenie) and Tocsin's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

JSON = "application/json"
ERROR = {"$ref": "#/components/schemas/ErrorOut"}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    }
}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


_STRING = {"type": "string"}
_NULLABLE_STRING = {"anyOf": [{"type": "string"}, {"type": "null"}]}

# Answer shapes of the ingestion routes, as tocsin.api.routes.ingest builds them.
SCHEMAS: dict[str, dict[str, Any]] = {
    "AlertmanagerAccepted": _object(
        {
            "status": _STRING,
            "alerts": {"type": "integer"},
            "results": {
                "type": "array",
                "items": _object(
                    {"fingerprint": _STRING, "outcome": _STRING, "incident": _NULLABLE_STRING}
                ),
            },
        }
    ),
    "GenericAccepted": _object(
        {
            "status": _STRING,
            "dedup_key": _STRING,
            "outcome": _STRING,
            "alert": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "incident": _NULLABLE_STRING,
        }
    ),
    "HeartbeatPinged": _object(
        {"status": _STRING, "heartbeat": _STRING, "next_ping_before": _NULLABLE_STRING}
    ),
    "PagerDutyAccepted": _object(
        {"status": _STRING, "message": _STRING, "dedup_key": _STRING},
        required=["status", "message"],
    ),
    "PagerDutyInvalid": _object(
        {"status": _STRING, "message": _STRING, "errors": {"type": "array", "items": _STRING}}
    ),
    "OpsgenieAccepted": _object(
        {"result": _STRING, "took": {"type": "number"}, "requestId": _STRING}
    ),
    "OpsgenieError": _object(
        {
            "message": _STRING,
            "errors": {"type": "array", "items": _STRING},
            "took": {"type": "number"},
            "requestId": _STRING,
        }
    ),
}

_WHY = {
    200: "Recorded",
    202: "Accepted and recorded",
    400: "The body is not an event this sender may send; every problem is listed",
    401: "No integration key, or an unknown one",
    404: "The key belongs to no integration of this kind, or the alert is unknown",
    413: "The body is larger than TOCSIN_INGEST_MAX_BODY",
    422: "The body is not an alert request; every problem is listed",
    503: "Busy or the database is unavailable; senders retry after Retry-After seconds",
}


def _answers(ok: int, ok_schema: str, shapes: dict[int, str]) -> dict[str, Any]:
    """Return the responses of an ingestion route: success, errors in their shapes, 413, 503."""
    answers: dict[str, Any] = {
        str(ok): {
            "description": _WHY[ok],
            "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{ok_schema}"}}},
        }
    }
    for status, shape in {**shapes, 413: "ErrorOut", 503: "ErrorOut"}.items():
        answers[str(status)] = {
            "description": _WHY[status],
            "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{shape}"}}},
        }
    answers["503"]["headers"] = RETRY_AFTER
    return answers


_PLAIN = {400: "ErrorOut", 401: "ErrorOut", 404: "ErrorOut"}
_OPSGENIE = {401: "OpsgenieError", 404: "OpsgenieError", 422: "OpsgenieError"}
_BODY = {
    "required": True,
    "content": {JSON: {"schema": {"type": "object"}}},
}

# (path, methods, responses, whether the route reads a JSON body)
INGESTION: list[tuple[str, tuple[str, ...], dict[str, Any], bool]] = [
    (
        "/hooks/alertmanager/{key}",
        ("post",),
        _answers(200, "AlertmanagerAccepted", _PLAIN),
        True,
    ),
    ("/hooks/alertmanager", ("post",), _answers(200, "AlertmanagerAccepted", _PLAIN), True),
    ("/hooks/generic/{key}", ("post",), _answers(202, "GenericAccepted", _PLAIN), True),
    ("/hooks/heartbeat/{key}", ("get", "post"), _answers(200, "HeartbeatPinged", _PLAIN), False),
    (
        "/v2/enqueue",
        ("post",),
        _answers(202, "PagerDutyAccepted", {400: "PagerDutyInvalid"}),
        True,
    ),
    (
        "/v2/change/enqueue",
        ("post",),
        _answers(202, "PagerDutyAccepted", {400: "PagerDutyInvalid"}),
        True,
    ),
    ("/v2/alerts", ("post",), _answers(202, "OpsgenieAccepted", _OPSGENIE), True),
    (
        "/v2/alerts/{identifier}/close",
        ("post",),
        _answers(202, "OpsgenieAccepted", _OPSGENIE),
        True,
    ),
    (
        "/v2/alerts/{identifier}/acknowledge",
        ("post",),
        _answers(202, "OpsgenieAccepted", _OPSGENIE),
        True,
    ),
    (
        "/v2/heartbeats/{name}/ping",
        ("get", "post"),
        _answers(202, "OpsgenieAccepted", _OPSGENIE),
        False,
    ),
]


def _errors_are_json(document: dict[str, Any]) -> None:
    """Document error answers as JSON in the shared shape, whatever the route's success is."""
    for item in document.get("paths", {}).values():
        for operation in item.values():
            for status, answer in operation.get("responses", {}).items():
                if not status.startswith(("4", "5")):
                    continue
                content: dict[str, dict[str, Any]] = answer.get("content", {})
                media: dict[str, Any] = next(iter(content.values()), {})
                schema = media.get("schema", ERROR)
                if "HTTPValidationError" in str(schema):
                    schema = ERROR
                answer["content"] = {JSON: {"schema": schema}}
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused not in str(document["paths"]):
            schemas.pop(unused, None)


def _document_ingestion(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(SCHEMAS)
    for path, methods, answers, has_body in INGESTION:
        item = document["paths"].get(path)
        if item is None:
            continue
        for method in methods:
            operation = item.get(method)
            if operation is None:
                continue
            operation["responses"] = answers
            if has_body:
                operation["requestBody"] = _BODY


def install(app: FastAPI) -> None:
    """Make `app.openapi()` return the corrected document (built once, like FastAPI's own)."""
    generate: Callable[[], dict[str, Any]] = app.openapi
    done: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        document = generate()
        if not done or done[0] is not document:
            _document_ingestion(document)
            _errors_are_json(document)
            done[:] = [document]
        return document

    app.openapi = openapi  # type: ignore[method-assign]
