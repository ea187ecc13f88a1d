"""Plain, JSON-ready shapes of stored objects, shared by the REST API and `--json` output."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from tocsin.core.incident import incident_ref
from tocsin.core.timeutil import duration_text
from tocsin.services import alerts, maintenance
from tocsin.store.incidents import active_roles
from tocsin.store.models import (
    ActionItem,
    Alert,
    ApiToken,
    AuditEntry,
    ContactMethod,
    Incident,
    Integration,
    MaintenanceWindow,
    Postmortem,
    PublicMaintenance,
    ScheduleOverride,
    Service,
    StatusUpdate,
    TimelineEvent,
    User,
)


class Out(BaseModel):
    """Base of every output shape."""

    model_config = ConfigDict(from_attributes=True)


class ErrorOut(BaseModel):
    """The body of every error answer of the API."""

    detail: str = Field(description="What went wrong, in one line.")
    errors: list[str] = Field(
        description="Every problem found, so a client can fix its request in one go."
    )


class HealthOut(BaseModel):
    """The answer of /healthz while every dependency answers."""

    status: str = Field(description="ok")
    version: str
    checks: dict[str, str] = Field(description='Each dependency: "ok".')


class HealthDown(ErrorOut):
    """The answer of /healthz (503) while a dependency is down."""

    status: str = Field(description="unavailable")
    version: str
    checks: dict[str, str] = Field(description='Each dependency: "ok" or "down: <why>".')


class UserOut(Out):
    handle: str
    name: str
    email: str | None
    time_zone: str
    role: str
    disabled: bool = Field(
        False, description="A disabled user can neither sign in nor use their tokens."
    )

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            handle=user.handle,
            name=user.name,
            email=user.email,
            time_zone=user.time_zone,
            role=user.role,
            disabled=user.disabled_at is not None,
        )


class ContactMethodOut(Out):
    name: str
    type: str
    target: str = Field(description="The address, number, chat id or URL (never a secret).")
    after: list[str] = Field(description="When its notification rules send a page: 0m, 5m.")
    last_test: str | None = Field(None, description="How its latest test message went.")

    @classmethod
    def of(cls, method: ContactMethod, after: list[int], last_test: str | None) -> ContactMethodOut:
        # A webhook URL may carry a token in its path or query, and whoever knows an ntfy topic
        # can read it: such URLs are shown by host only.
        target = method.target
        if method.type in ("webhook", "slack", "teams", "ntfy", "webpush") and "://" in target:
            parts = urlsplit(target)
            try:
                port = f":{parts.port}" if parts.port else ""
            except ValueError:
                port = ""
            target = f"{parts.scheme}://{parts.hostname or '?'}{port}/…"
        return cls(
            name=method.name,
            type=method.type,
            target=target,
            after=[duration_text(a) for a in after],
            last_test=last_test,
        )


class TokenOut(Out):
    id: int
    name: str
    user: str
    scopes: list[str]
    team: str | None = Field(None, description="The team it is scoped to: it acts there only.")
    hint: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls(
            id=token.id,
            name=token.name,
            user=token.user.handle,
            scopes=list(token.scopes),
            team=token.team.slug if token.team is not None else None,
            hint=token.hint,
            created_at=token.created_at,
            revoked_at=token.revoked_at,
        )


class TokenCreated(TokenOut):
    token: str


class RouteOut(Out):
    """One label route of a service's integrations (set with `tocsin apply`)."""

    match: list[str] = Field(
        description='Alertmanager matchers, all of which must pass: team="db".'
    )
    service: str | None = Field(description="The service the alert goes to; null: this one.")
    severity: str | None = Field(description="The severity it opens or attaches at.")
    policy: str | None = Field(None, description="The escalation policy of incidents it opens.")
    drop: bool = Field(description="Recorded, never paged.")
    continue_: bool = Field(alias="continue", description="Later routes may match too.")


class InhibitRuleOut(Out):
    """While an alert matching `source` fires, the service's alerts matching `target` with the
    same `equal` labels page nobody."""

    source: list[str]
    target: list[str]
    equal: list[str]


class OpenAfterOut(Out):
    """Flap suppression: a group opens an incident once `count` alerts fired `within` a time."""

    count: int
    within: str = Field(description="A duration as the config file writes it: 5m.")


class ServiceOut(Out):
    slug: str
    name: str
    description: str
    owner: str | None
    team: str | None = Field(description="The team that owns the service.")
    severity_definitions: dict[str, dict[str, str]]
    auto_resolve: bool = Field(description="The sender resolving the last alert resolves it.")
    routes: list[RouteOut] = Field(description="Label routes, tried in order; first match wins.")
    inhibit_rules: list[InhibitRuleOut]
    group_by: list[str] = Field(
        description="Alerts with equal values of these labels share an incident; empty: the"
        " service's open incident takes every alert."
    )
    group_window: str | None = Field(
        description="An alert joins its group's open incident only while the group's newest"
        " alert is at most this old: 10m. Null: as long as the incident is open."
    )
    open_after: OpenAfterOut | None
    flap_window: str | None = Field(
        description="An alert firing again this soon after it resolved counts once for open_after."
    )

    @classmethod
    def of(cls, service: Service) -> ServiceOut:
        return cls(
            slug=service.slug,
            name=service.name,
            description=service.description,
            owner=service.owner.handle if service.owner else None,
            team=service.team.slug if service.team else None,
            severity_definitions=service.severity_definitions,
            auto_resolve=service.auto_resolve,
            routes=[RouteOut.model_validate(route) for route in service.routes or []],
            inhibit_rules=[InhibitRuleOut.model_validate(r) for r in service.inhibit_rules or []],
            group_by=list(service.group_by or []),
            group_window=_duration(service.group_window_seconds),
            open_after=OpenAfterOut(
                count=service.open_after_count, within=duration_text(service.open_after_seconds)
            )
            if service.open_after_count is not None and service.open_after_seconds is not None
            else None,
            flap_window=_duration(service.flap_window_seconds),
        )


def _duration(seconds: int | None) -> str | None:
    return duration_text(seconds) if seconds is not None else None


class RoleOut(Out):
    user: str
    name: str
    role: str
    speciality: str | None
    assigned_at: datetime


class MilestonesOut(Out):
    started_at: datetime
    detected_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    skipped: list[str]


class IncidentOut(Out):
    ref: str
    number: int
    title: str
    public_title: str | None
    severity: str
    status: str
    services: list[str]
    channel: str
    summary: str
    impact: str
    detection: str
    root_cause: str
    resolution: str
    commander: str | None
    roles: list[RoleOut]
    milestones: MilestonesOut
    is_drill: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
    warnings: list[str] = []

    @classmethod
    def of(cls, incident: Incident, warnings: list[str] | None = None) -> IncidentOut:
        roles = active_roles(incident)
        commander = next((r.user.handle for r in roles if r.role == "commander"), None)
        return cls(
            ref=incident_ref(incident.number),
            number=incident.number,
            title=incident.title,
            public_title=incident.public_title,
            severity=incident.severity,
            status=incident.status,
            services=incident.service_slugs,
            channel=incident.channel,
            summary=incident.summary,
            impact=incident.impact,
            detection=incident.detection,
            root_cause=incident.root_cause,
            resolution=incident.resolution,
            commander=commander,
            roles=[
                RoleOut(
                    user=r.user.handle,
                    name=r.user.name,
                    role=r.role,
                    speciality=r.speciality,
                    assigned_at=r.assigned_at,
                )
                for r in roles
            ],
            milestones=MilestonesOut(
                started_at=incident.started_at,
                detected_at=incident.detected_at,
                acknowledged_at=incident.acknowledged_at,
                mitigated_at=incident.mitigated_at,
                resolved_at=incident.resolved_at,
                closed_at=incident.closed_at,
                skipped=list(incident.skipped),
            ),
            is_drill=incident.is_drill,
            created_by=incident.created_by,
            created_at=incident.created_at,
            updated_at=incident.updated_at,
            warnings=warnings or [],
        )


class TimelineEventOut(Out):
    id: int
    at: datetime
    actor: str
    kind: str
    message: str
    data: dict[str, object]

    @classmethod
    def of(cls, event: TimelineEvent) -> TimelineEventOut:
        return cls.model_validate(event)


class StatusUpdateOut(Out):
    id: int
    at: datetime
    author: str
    visibility: str
    public_status: str | None
    message: str

    @classmethod
    def of(cls, update: StatusUpdate) -> StatusUpdateOut:
        return cls.model_validate(update)


class IntegrationOut(Out):
    id: int
    service: str
    type: str
    name: str
    key_hint: str
    created_at: datetime
    heartbeat_interval_seconds: int | None = None
    heartbeat_last_ping_at: datetime | None = None
    heartbeat_deadline_at: datetime | None = None

    @classmethod
    def of(cls, integration: Integration) -> IntegrationOut:
        return cls(
            id=integration.id,
            service=integration.service.slug,
            type=integration.type,
            name=integration.name,
            key_hint=integration.key_hint,
            created_at=integration.created_at,
            heartbeat_interval_seconds=integration.heartbeat_interval_seconds,
            heartbeat_last_ping_at=integration.heartbeat_last_ping_at,
            heartbeat_deadline_at=integration.heartbeat_deadline_at,
        )


class IntegrationCreated(Out):
    id: int
    service: str
    type: str
    name: str
    key: str


class AlertOut(Out):
    id: int
    service: str
    integration: str
    dedup_key: str
    status: str
    count: int
    severity: str
    raw_severity: str
    sev: str | None
    route: str
    suppressed: bool
    summary: str
    source: str
    links: list[dict[str, Any]]
    first_seen: datetime
    last_seen: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    incident: str | None

    @classmethod
    def of(cls, alert: Alert, incident_number: int | None = None) -> AlertOut:
        return cls(
            id=alert.id,
            service=alert.service.slug,
            integration=alert.integration.name,
            dedup_key=alert.dedup_key,
            status=alert.status,
            count=alert.count,
            severity=alert.severity,
            raw_severity=alert.raw_severity,
            sev=alert.sev,
            route=alert.route,
            suppressed=alert.suppressed,
            summary=alert.summary,
            source=alert.source,
            links=alert.links,
            first_seen=alert.first_seen,
            last_seen=alert.last_seen,
            acknowledged_at=alert.acknowledged_at,
            resolved_at=alert.resolved_at,
            incident=incident_ref(incident_number) if incident_number is not None else None,
        )


class MaintenanceOut(Out):
    id: int
    service: str
    start: datetime
    end: datetime
    reason: str
    created_by: str

    @classmethod
    def of(cls, window: MaintenanceWindow) -> MaintenanceOut:
        return cls(
            id=window.id,
            service=window.service.slug,
            start=window.start,
            end=window.end,
            reason=window.reason,
            created_by=window.created_by,
        )


class PublicMaintenanceOut(Out):
    """Public maintenance as announced, its stage now, and the services it keeps from paging."""

    id: int
    title: str
    message: str
    components: list[str]
    start: datetime
    end: datetime
    stage: str = Field(description="scheduled, in_progress, completed or cancelled")
    cancelled_at: datetime | None
    silenced: list[str] = Field(description="The services paging nobody meanwhile.")
    notified: str = Field(description="The last stage subscribers were told of.")
    created_by: str
    created_at: datetime
    page: str = Field(description="Its public page, under the status page.")

    @classmethod
    def of(cls, session: Session, row: PublicMaintenance, *, now: datetime) -> PublicMaintenanceOut:
        return cls(
            id=row.id,
            title=row.title,
            message=row.message,
            components=list(row.components),
            start=row.start,
            end=row.end,
            stage=maintenance.stage_of(row, now=now).value,
            cancelled_at=row.cancelled_at,
            silenced=sorted(
                {w.service.slug for w in maintenance.silencing_windows(session, row.id)}
            ),
            notified=row.notified,
            created_by=row.created_by,
            created_at=row.created_at,
            page=f"/status/maintenance/{row.id}",
        )


class ServiceEventOut(Out):
    id: int
    at: datetime
    kind: str
    summary: str
    source: str
    details: dict[str, Any]


def iso(at: datetime) -> str:
    """Return an instant as UTC ISO-8601 with seconds and a Z."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def alert_views(session: Session, found: list[Alert]) -> list[AlertOut]:
    """Return alerts with their incident references, looked up in one query."""
    numbers = alerts.incident_numbers(session, found)
    return [AlertOut.of(a, numbers.get(a.incident_id) if a.incident_id else None) for a in found]


def override_json(override: ScheduleOverride) -> dict[str, Any]:
    """Return a schedule override."""
    return {
        "id": override.id,
        "user": override.user.handle,
        "start": iso(override.start),
        "end": iso(override.end),
        "source": override.source,
        "note": override.note,
        "created_by": override.created_by,
    }


def postmortem_json(
    ref: str, postmortem: Postmortem, warnings: list[str] | None = None
) -> dict[str, Any]:
    """Return a postmortem, with the blameless check's warnings when it was just published."""
    return {
        "incident": ref,
        "status": postmortem.status,
        "runbook_updated": postmortem.runbook_updated,
        "body": postmortem.body,
        "created_by": postmortem.created_by,
        "created_at": postmortem.created_at,
        "updated_at": postmortem.updated_at,
        "published_at": postmortem.published_at,
        "warnings": warnings or [],
    }


def action_json(item: ActionItem, number: int | None) -> dict[str, Any]:
    """Return an action item; `number` is its incident's."""
    return {
        "id": item.id,
        "incident": incident_ref(number) if number is not None else None,
        "action": item.action,
        "owner": item.owner.handle if item.owner else None,
        "priority": item.priority,
        "status": item.status,
        "due": item.due_date.isoformat() if item.due_date else None,
        "kind": item.kind,
    }


class AuditEntryOut(Out):
    """One audit entry: `changes` maps each changed field to `[before, after]`."""

    id: int
    at: datetime
    who: str
    via: str
    detail: str
    action: str
    object_type: str
    object_key: str
    changes: dict[str, list[Any]]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(
            id=entry.id,
            at=entry.at,
            who=entry.who,
            via=entry.via,
            detail=entry.detail,
            action=entry.action,
            object_type=entry.object_type,
            object_key=entry.object_key,
            changes=dict(entry.changes),
        )
