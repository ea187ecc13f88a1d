"""Ingestion routes: existing senders point here by changing one URL.

Every route answers 2xx only after the event is committed. A body with any problem stores
nothing and gets 4xx naming every problem (Alertmanager does not retry 4xx); overload gets
503 with Retry-After (it does retry 5xx).

Bodies are read last and bounded: a key in the URL or a header is checked first (401 without
reading the body), a declared Content-Length over `Settings.ingest_max_body` gets 413 at once,
and a chunked body is read only up to that limit (413 past it). Each answer keeps its sender's
shape.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from tocsin.api.writer import Overloaded, Writer
from tocsin.core.alerts import AlertAction
from tocsin.errors import InvalidInput, NotFound, TocsinError, Unauthenticated
from tocsin.http.answers import JSONAnswer
from tocsin.ingest import alertmanager, decode, generic, opsgenie, pagerduty
from tocsin.services import alerts, heartbeats
from tocsin.store import integrations
from tocsin.store.integrations import IntegrationType
from tocsin.store.models import Alert, Integration

router = APIRouter(tags=["ingestion"])


@dataclass
class Gate:
    """Bounds the ingest requests in flight, so overload answers 503 at once instead of queueing."""

    limit: int
    in_flight: int = 0

    def enter(self) -> None:
        if self.in_flight >= self.limit:
            raise Overloaded
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1


def overloaded(retry_after: int = 1) -> JSONAnswer:
    """Return the 503 answer a sender retries."""
    return JSONAnswer(
        {"detail": "Tocsin is busy; retry shortly", "errors": ["overloaded"]},
        status_code=503,
        headers={"Retry-After": str(retry_after)},
    )


class TooLarge(Exception):
    """The body is over the ingestion limit: answered 413, the rest of it left unread."""

    def __init__(self, limit: int, size: int | None = None) -> None:
        self.limit = limit
        said = f"the body is {size} bytes" if size is not None else "the body is longer"
        super().__init__(f"{said}; at most {limit} bytes are accepted")


# Answers given before the body was read in full close the connection: the rest of the body
# is never read, so the connection cannot carry another request.
CLOSE = {"Connection": "close"}


def _limit(request: Request) -> int:
    limit: int = request.app.state.settings.ingest_max_body
    return limit


def _refuse_declared_size(request: Request, limit: int | None = None) -> None:
    """Raise TooLarge if the declared Content-Length is over the limit (the ingestion limit
    unless another is given); nothing is read."""
    limit = _limit(request) if limit is None else limit
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise TooLarge(limit, int(declared))


async def read_body(request: Request, limit: int | None = None) -> bytes:
    """Return the body, reading no more than the limit (the ingestion limit unless another is
    given): raise TooLarge past it."""
    limit = _limit(request) if limit is None else limit
    _refuse_declared_size(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def _body(request: Request) -> tuple[Any, list[str]]:
    """Return the decoded JSON body, or the problems that keep it from being read.

    Raises TooLarge for a body over the limit.
    """
    content_type = request.headers.get("content-type", "")
    raw = await read_body(request)
    problems = []
    if "json" not in content_type.lower():
        problems.append(f"Content-Type must be application/json (got {content_type or 'none'!r})")
    try:
        return decode(raw), problems
    except InvalidInput as exc:
        return None, problems + exc.problems


async def _check_key(request: Request, key: str | None, expect: IntegrationType) -> None:
    """Raise Unauthenticated or InvalidInput for a key that cannot send here, before the body.

    Keys the writer saw valid lately are known without the database (the writer checks them
    again in its transaction anyway).
    """
    writer = _writer(request)
    if not writer.check_key(key, expect):
        await run_unit(
            request, lambda session: writer.authenticate(session, key, expect), read_only=True
        )


Work = Callable[[Session], Any]


async def run_unit(request: Request, work: Work, *, read_only: bool = False) -> Any:
    """Run `work` in a session on a worker thread and commit; raise Overloaded when busy.

    `read_only` work runs in a read session, which on SQLite waits for no writer.
    """
    gate: Gate = request.app.state.ingest_gate
    gate.enter()
    sessions = request.app.state.read_sessions if read_only else request.app.state.sessions
    try:

        def unit() -> Any:
            with sessions() as session:
                result = work(session)
                session.commit()
                return result

        try:
            return await run_in_threadpool(unit)
        except OperationalError as exc:
            # "database is locked" and lost connections are passing states: ask for a retry.
            raise Overloaded from exc
        except (DataError, UnicodeError) as exc:
            # The parsers refuse what the database cannot store; this is the net below them.
            raise InvalidInput(f"the database cannot store this request's data: {exc}") from exc
    finally:
        gate.leave()


def _now(request: Request) -> Any:
    return request.app.state.clock.now()


# --- Alertmanager -------------------------------------------------------------------------------


async def _alertmanager(request: Request, key: str | None) -> JSONAnswer:
    try:
        await _check_key(request, key, IntegrationType.ALERTMANAGER)
        body, problems = await _body(request)
        if problems:
            raise InvalidInput.of(problems)
        events = alertmanager.parse(body)
        results = await _writer(request).submit(key, IntegrationType.ALERTMANAGER, events)
    except TooLarge as exc:
        return _plain_too_large(exc)
    except Overloaded:
        return overloaded()
    except TocsinError as exc:
        return _plain_error(exc)
    return JSONAnswer(
        {
            "status": "ok",
            "alerts": len(results),
            "results": [
                {"fingerprint": r.dedup_key, "outcome": r.outcome.value, "incident": r.incident}
                for r in results
            ],
        }
    )


def _writer(request: Request) -> Writer:
    writer: Writer = request.app.state.ingest_writer
    return writer


@router.post("/hooks/alertmanager/{key}")
async def alertmanager_with_key(key: str, request: Request) -> JSONAnswer:
    """Alertmanager `webhook_configs` with the integration key in the URL."""
    return await _alertmanager(request, key)


@router.post("/hooks/alertmanager")
async def alertmanager_with_bearer(request: Request) -> JSONAnswer:
    """Alertmanager `webhook_configs` with `http_config.authorization` (Bearer key)."""
    header = request.headers.get("authorization", "")
    key = header[7:].strip() if header.lower().startswith("bearer ") else None
    return await _alertmanager(request, key)


def _plain_error(exc: TocsinError) -> JSONAnswer:
    status = 401 if isinstance(exc, Unauthenticated) else 404 if isinstance(exc, NotFound) else 400
    return JSONAnswer(
        {"detail": exc.message, "errors": exc.problems},
        status_code=status,
        headers=CLOSE if status == 401 else None,
    )


def _plain_too_large(exc: TooLarge) -> JSONAnswer:
    return JSONAnswer({"detail": str(exc), "errors": [str(exc)]}, status_code=413, headers=CLOSE)


# --- PagerDuty Events API v2 ---------------------------------------------------------------------


def _pd_invalid(problems: list[str]) -> JSONAnswer:
    return JSONAnswer(
        {"status": "invalid event", "message": "Event object is invalid", "errors": problems},
        status_code=400,
    )


@router.post("/v2/enqueue", status_code=202)
async def pagerduty_enqueue(request: Request) -> JSONAnswer:
    """PagerDuty Events API v2: `routing_key` is a Tocsin integration key."""
    try:
        body, problems = await _body(request)
    except TooLarge as exc:
        return _pd_too_large(exc)
    envelope = None
    try:
        envelope = pagerduty.parse_event(body) if not problems else None
    except InvalidInput as exc:
        problems = problems + exc.problems
    if problems or envelope is None:
        # PagerDuty lists every problem at once, the routing key's too.
        key = pagerduty.routing_key_of(body)
        if key and not await run_in_threadpool(_key_exists, request, key):
            problems.append("Invalid routing key: no integration has this key")
        return _pd_invalid(problems)
    try:
        await _writer(request).submit(envelope.routing_key, None, [envelope.event])
    except Overloaded:
        return overloaded()
    except TocsinError as exc:
        message = (
            "Invalid routing key: no integration has this key"
            if isinstance(exc, Unauthenticated)
            else exc.message
        )
        return _pd_invalid([message])
    return JSONAnswer(
        {"status": "success", "message": "Event processed", "dedup_key": envelope.event.dedup_key},
        status_code=202,
    )


def _pd_too_large(exc: TooLarge) -> JSONAnswer:
    return JSONAnswer(
        {"status": "invalid event", "message": "Request body is too large", "errors": [str(exc)]},
        status_code=413,
        headers=CLOSE,
    )


def _key_exists(request: Request, key: str) -> bool:
    with request.app.state.read_sessions() as session:
        try:
            integrations.authenticate(session, key)
        except Unauthenticated:
            return False
    return True


@router.post("/v2/change/enqueue", status_code=202)
async def pagerduty_change(request: Request) -> JSONAnswer:
    """PagerDuty Change Events: deploys and config changes go on the service's timeline."""
    try:
        body, problems = await _body(request)
    except TooLarge as exc:
        return _pd_too_large(exc)

    def work(session: Session) -> None:
        now = _now(request)  # read inside the transaction, after any lock wait
        found = list(problems)
        change = None
        try:
            change = pagerduty.parse_change(body)
        except InvalidInput as exc:
            found += exc.problems
        key = pagerduty.routing_key_of(body)
        integration = None
        if key:
            try:
                integration = integrations.authenticate(session, key)
            except Unauthenticated:
                found.append("Invalid routing key: no integration has this key")
        if found or change is None or integration is None:
            raise InvalidInput.of(found or ["Event object is invalid"])
        alerts.record_change(
            session,
            integration,
            summary=change.summary,
            source=change.source,
            at=change.timestamp or now,
            details=change.details,
        )

    try:
        await run_unit(request, work)
    except Overloaded:
        return overloaded()
    except TocsinError as exc:
        return _pd_invalid(exc.problems)
    return JSONAnswer({"status": "success", "message": "Change event processed"}, status_code=202)


# --- Opsgenie Alert API ------------------------------------------------------------------------


def _genie_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("geniekey "):
        return header[9:].strip()
    return request.query_params.get("apiKey")


def _og_answer(
    started: float, status: int = 202, result: str = "Request will be processed"
) -> JSONAnswer:
    return JSONAnswer(
        {
            "result": result,
            "took": round(time.monotonic() - started, 3),
            "requestId": str(uuid.uuid4()),
        },
        status_code=status,
    )


def _og_error(exc: TocsinError | TooLarge, started: float) -> JSONAnswer:
    if isinstance(exc, TooLarge):
        status, message, problems = 413, str(exc), [str(exc)]
    else:
        status = (
            401 if isinstance(exc, Unauthenticated) else 404 if isinstance(exc, NotFound) else 422
        )
        message, problems = exc.message, exc.problems
    return JSONAnswer(
        {
            "message": message,
            "errors": problems,
            "took": round(time.monotonic() - started, 3),
            "requestId": str(uuid.uuid4()),
        },
        status_code=status,
        headers=CLOSE if status in (401, 413) else None,
    )


@router.post("/v2/alerts", status_code=202)
async def opsgenie_create(request: Request) -> JSONAnswer:
    """Opsgenie: create an alert (`alias` is the dedup key), `Authorization: GenieKey <key>`."""
    started = time.monotonic()
    key = _genie_key(request)
    try:
        await _check_key(request, key, IntegrationType.OPSGENIE)
        body, problems = await _body(request)
        if problems:
            raise InvalidInput.of(problems)
        event = opsgenie.parse_create(body)
        await _writer(request).submit(key, IntegrationType.OPSGENIE, [event])
    except Overloaded:
        return overloaded()
    except (TocsinError, TooLarge) as exc:
        return _og_error(exc, started)
    return _og_answer(started)


async def _opsgenie_action(request: Request, identifier: str, action: AlertAction) -> JSONAnswer:
    started = time.monotonic()
    key = _genie_key(request)
    try:
        await _check_key(request, key, IntegrationType.OPSGENIE)
        await read_body(request)  # the note and user it may carry are not kept
        kind = opsgenie.parse_identifier_type(request.query_params.get("identifierType"))
        dedup_key: str | None = identifier
        if kind == "id":

            def find(session: Session) -> str | None:
                integration = integrations.authenticate(
                    session, key, expect=IntegrationType.OPSGENIE
                )
                alert = _alert_by_id(session, integration, identifier)
                return alert.dedup_key if alert else None

            dedup_key = await run_unit(request, find, read_only=True)
        if dedup_key is not None:  # unknown alerts are accepted and ignored, as Opsgenie does
            event = opsgenie.close_or_ack(action, dedup_key)
            await _writer(request).submit(key, IntegrationType.OPSGENIE, [event])
    except Overloaded:
        return overloaded()
    except (TocsinError, TooLarge) as exc:
        return _og_error(exc, started)
    return _og_answer(started)


def _alert_by_id(session: Session, integration: Integration, identifier: str) -> Alert | None:
    # Ids are 32-bit on PostgreSQL: a larger number names no alert (and must not be queried).
    if not (identifier.isascii() and identifier.isdigit()) or int(identifier) >= 2**31:
        return None
    alert = session.get(Alert, int(identifier))
    return alert if alert is not None and alert.integration_id == integration.id else None


@router.post("/v2/alerts/{identifier}/close", status_code=202)
async def opsgenie_close(identifier: str, request: Request) -> JSONAnswer:
    """Opsgenie: close an alert (`?identifierType=alias` or `id`)."""
    return await _opsgenie_action(request, identifier, AlertAction.RESOLVE)


@router.post("/v2/alerts/{identifier}/acknowledge", status_code=202)
async def opsgenie_acknowledge(identifier: str, request: Request) -> JSONAnswer:
    """Opsgenie: acknowledge an alert (`?identifierType=alias` or `id`)."""
    return await _opsgenie_action(request, identifier, AlertAction.ACKNOWLEDGE)


@router.get("/v2/heartbeats/{name}/ping", status_code=202)
@router.post("/v2/heartbeats/{name}/ping", status_code=202)
async def opsgenie_heartbeat(name: str, request: Request) -> JSONAnswer:
    """Opsgenie heartbeat ping: the GenieKey is the heartbeat integration's key."""
    started = time.monotonic()
    key = _genie_key(request)
    try:
        _refuse_declared_size(request)  # a ping's body is never read
    except TooLarge as exc:
        return _og_error(exc, started)

    def work(session: Session) -> None:
        now = _now(request)  # read inside the transaction, after any lock wait
        integration = integrations.authenticate(session, key, expect=IntegrationType.HEARTBEAT)
        if integration.name != name:
            raise NotFound(f"this key's heartbeat is {integration.name!r}, not {name!r}")
        heartbeats.ping(session, integration, now=now)

    try:
        await run_unit(request, work)
    except Overloaded:
        return overloaded()
    except TocsinError as exc:
        return _og_error(exc, started)
    request.app.state.wake_engine()
    return _og_answer(started, result="PONG - Heartbeat received")


# --- generic JSON and heartbeats -----------------------------------------------------------------


@router.post("/hooks/generic/{key}", status_code=202)
async def generic_webhook(key: str, request: Request) -> JSONAnswer:
    """Tocsin's generic JSON webhook (see `tocsin.ingest.generic` for the schema)."""
    try:
        await _check_key(request, key, IntegrationType.GENERIC)
        body, problems = await _body(request)
        if problems:
            raise InvalidInput.of(problems)
        event = generic.parse(body)
        [result] = await _writer(request).submit(key, IntegrationType.GENERIC, [event])
    except TooLarge as exc:
        return _plain_too_large(exc)
    except Overloaded:
        return overloaded()
    except TocsinError as exc:
        return _plain_error(exc)
    return JSONAnswer(
        {
            "status": "accepted",
            "dedup_key": result.dedup_key,
            "outcome": result.outcome.value,
            "alert": result.alert_id,
            "incident": result.incident,
        },
        status_code=202,
    )


@router.get("/hooks/heartbeat/{key}")
@router.post("/hooks/heartbeat/{key}")
async def heartbeat_ping(key: str, request: Request) -> JSONAnswer:
    """A heartbeat ping: anything that can fetch a URL (cron, curl) keeps the alert away."""
    try:
        _refuse_declared_size(request)  # a ping's body is never read
    except TooLarge as exc:
        return _plain_too_large(exc)

    def work(session: Session) -> dict[str, Any]:
        now = _now(request)  # read inside the transaction, after any lock wait
        integration = integrations.authenticate(session, key, expect=IntegrationType.HEARTBEAT)
        heartbeats.ping(session, integration, now=now)
        deadline = integration.heartbeat_deadline_at
        return {
            "status": "ok",
            "heartbeat": integration.name,
            "next_ping_before": deadline.isoformat().replace("+00:00", "Z") if deadline else None,
        }

    try:
        answer = await run_unit(request, work)
    except Overloaded:
        return overloaded()
    except TocsinError as exc:
        return _plain_error(exc)
    request.app.state.wake_engine()
    return JSONAnswer(answer)
