"""The database schema: SQLAlchemy 2.0 typed models. Times are stored as UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from tocsin.errors import Conflict


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite keeps no zone, so store naive UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            return value.astimezone(UTC)
        return value.replace(tzinfo=UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every model."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class User(Base):
    """A person who can be on call, respond to incidents and use the API."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    handle: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    role: Mapped[str] = mapped_column(String(20), default="responder")
    stakeholder: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    # Set while the user may not sign in nor use a token (they stay on rotas and timelines).
    disabled_at: Mapped[datetime | None]
    # "issuer|subject" of the identity-provider account that signed in as this user first: later
    # sign-ins must be that account's, whatever email it then claims.
    sso_subject: Mapped[str | None] = mapped_column(String(300), unique=True)


class ApiToken(Base):
    """A bearer token for the API; only the SHA-256 of the secret is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(8))
    scopes: Mapped[list[str]]
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # A token scoped to a team acts on that team's objects only; it goes with its team.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))

    user: Mapped[User] = relationship(lazy="joined")
    team: Mapped[Team | None] = relationship(viewonly=True)


class SeverityLevel(Base):
    """One row of the severity table (seeded with the seed's SEV-1..SEV-4)."""

    __tablename__ = "severity_levels"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, unique=True)
    definition: Mapped[str] = mapped_column(Text)
    example: Mapped[str] = mapped_column(Text, default="")
    response_seconds: Mapped[int | None]
    update_cadence_seconds: Mapped[int | None]
    business_hours: Mapped[bool] = mapped_column(Boolean, default=False)
    notify_executives: Mapped[bool] = mapped_column(Boolean, default=False)


class Service(Base):
    """Something that can break; incidents name the services they affect."""

    __tablename__ = "services"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    severity_definitions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    alert_rules: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # Label routes for the alerts of this service's integrations, in order (services/ingest):
    # {"match": [matcher, ...], "service", "severity", "drop", "continue"}.
    routes: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # Alertmanager-style inhibit rules among this service's alerts: {"source", "target", "equal"}.
    inhibit_rules: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # Grouping: alerts with equal values of these labels share an incident (none: one open
    # incident for the service); with a window, only while the group's last alert is that recent.
    group_by: Mapped[list[str] | None] = mapped_column(JSON)
    group_window_seconds: Mapped[int | None]
    # Flap suppression: a group opens an incident only once `count` alerts fired within the
    # time; an alert that resolves and fires again within the flap window counts once.
    open_after_count: Mapped[int | None]
    open_after_seconds: Mapped[int | None]
    flap_window_seconds: Mapped[int | None]
    severity_label: Mapped[str] = mapped_column(
        String(100), default="severity", server_default="severity"
    )
    incident_commander: Mapped[str | None] = mapped_column(String(140))
    escalation_policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("escalation_policies.id", ondelete="SET NULL")
    )
    ack_timeout_seconds: Mapped[int | None]
    # The sender resolving the last open alert of an incident resolves the incident too.
    auto_resolve: Mapped[bool] = mapped_column(default=False, server_default=false())
    runbook: Mapped[str | None] = mapped_column(Text)
    runbook_path: Mapped[str | None] = mapped_column(String(500))
    runbook_rules: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    component_id: Mapped[int | None] = mapped_column(
        ForeignKey("status_components.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]

    owner: Mapped[User | None] = relationship(lazy="joined")
    team: Mapped[Team | None] = relationship(viewonly=True)


class Incident(Base):
    """A coordinated response to something broken."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    title: Mapped[str] = mapped_column(String(300))
    public_title: Mapped[str | None] = mapped_column(String(300))
    severity: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20), index=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    impact: Mapped[str] = mapped_column(Text, default="")
    detection: Mapped[str] = mapped_column(Text, default="")
    root_cause: Mapped[str] = mapped_column(Text, default="")
    resolution: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime]
    detected_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    mitigated_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    skipped: Mapped[list[str]] = mapped_column(default=list)
    is_drill: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    services: Mapped[list[IncidentService]] = relationship(
        order_by="IncidentService.position", cascade="all, delete-orphan", lazy="selectin"
    )
    roles: Mapped[list[IncidentRole]] = relationship(
        order_by="IncidentRole.id", cascade="all, delete-orphan", lazy="selectin"
    )
    events: Mapped[list[TimelineEvent]] = relationship(
        order_by="(TimelineEvent.at, TimelineEvent.id)",
        cascade="all, delete-orphan",
        lazy="select",
    )
    updates: Mapped[list[StatusUpdate]] = relationship(
        order_by="(StatusUpdate.at, StatusUpdate.id)",
        cascade="all, delete-orphan",
        lazy="select",
    )

    @property
    def service_slugs(self) -> list[str]:
        """Return the slugs of the affected services, primary first."""
        return [link.service.slug for link in self.services]


class IncidentService(Base):
    """An affected service of an incident; position 0 is the primary one."""

    __tablename__ = "incident_services"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="RESTRICT"), primary_key=True
    )
    position: Mapped[int] = mapped_column(default=0)
    # The alert group of the service this incident was opened for, like `{cluster="eu"}`.
    group_key: Mapped[str | None] = mapped_column(String(512))

    service: Mapped[Service] = relationship(lazy="joined")


class IncidentRole(Base):
    """A user holding a role in an incident; ended roles keep their history."""

    __tablename__ = "incident_roles"
    __table_args__ = (Index("ix_incident_roles_incident_active", "incident_id", "removed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    role: Mapped[str] = mapped_column(String(20))
    speciality: Mapped[str | None] = mapped_column(String(100))
    assigned_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")


class TimelineEvent(Base):
    """One entry of an incident's append-only timeline."""

    __tablename__ = "timeline_events"
    # Newest first, with the id as tie-breaker: the live timeline's page and its version.
    __table_args__ = (Index("ix_timeline_events_incident_at_id", "incident_id", "at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class StatusUpdate(Base):
    """A message to stakeholders: internal, or public with a status-page status."""

    __tablename__ = "status_updates"
    __table_args__ = (UniqueConstraint("timeline_event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    timeline_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("timeline_events.id", ondelete="SET NULL")
    )
    at: Mapped[datetime]
    author: Mapped[str] = mapped_column(String(100))
    visibility: Mapped[str] = mapped_column(String(10))
    public_status: Mapped[str | None] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text)


@event.listens_for(TimelineEvent, "before_update")
@event.listens_for(TimelineEvent, "before_delete")
def _timeline_is_append_only(mapper: Mapper[Any], connection: Any, target: TimelineEvent) -> None:
    raise Conflict("timeline events are append-only; add a new event instead of changing one")


class Schedule(Base):
    """Who is on call when: ordered layers and overrides, in a home time zone."""

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    time_zone: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # A Slack user group whose members follow who is on call: the members last set there, and
    # when to look again (the next shift boundary).
    slack_user_group: Mapped[str | None] = mapped_column(String(40))
    slack_members: Mapped[list[str] | None] = mapped_column(JSON)
    slack_sync_at: Mapped[datetime | None] = mapped_column(index=True)
    # The team whose administrators manage it (and whose responders add overrides), if any.
    # A team names its schedule too: this key is the one of the pair added after both tables.
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL", use_alter=True)
    )

    team: Mapped[Team | None] = relationship(viewonly=True, foreign_keys=[team_id])
    layers: Mapped[list[ScheduleLayer]] = relationship(
        order_by="ScheduleLayer.position", cascade="all, delete-orphan", lazy="selectin"
    )
    overrides: Mapped[list[ScheduleOverride]] = relationship(
        order_by="ScheduleOverride.start",
        cascade="all, delete-orphan",
        lazy="selectin",
        back_populates="schedule",
    )


class ScheduleLayer(Base):
    """One rotation of a schedule; later positions win over earlier ones.

    `start` is the first handoff as naive local wall-clock text ("2020-03-06T02:30"), since a
    wall-clock time in a zone with DST is not an instant; participants are user handles in
    rotation order; restrictions are [{"days": [...], "from": "09:00", "to": "17:00"}].
    """

    __tablename__ = "schedule_layers"

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(100))
    rotation: Mapped[str] = mapped_column(String(30))
    start: Mapped[str] = mapped_column(String(19))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    participants: Mapped[list[str]]
    restrictions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class ScheduleOverride(Base):
    """One user on call for a window, above every layer. `source` is "config" or "manual"."""

    __tablename__ = "schedule_overrides"
    __table_args__ = (Index("ix_schedule_overrides_schedule_end", "schedule_id", "end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    start: Mapped[datetime]
    end: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(10), default="manual")
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]

    schedule: Mapped[Schedule] = relationship(back_populates="overrides")
    user: Mapped[User] = relationship(lazy="joined")


class Integration(Base):
    """A way in for alerts: a sender's key, bound to one service. Only the key's hash is kept."""

    __tablename__ = "integrations"
    __table_args__ = (UniqueConstraint("service_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_hint: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime]
    heartbeat_interval_seconds: Mapped[int | None]
    heartbeat_last_ping_at: Mapped[datetime | None]
    heartbeat_deadline_at: Mapped[datetime | None] = mapped_column(index=True)

    service: Mapped[Service] = relationship(lazy="joined")


class Alert(Base):
    """One deduplicated signal from a sender. At most one open alert per (integration, key)."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index(
            "uq_alerts_open_key",
            "integration_id",
            "dedup_key",
            unique=True,
            sqlite_where=text("status != 'resolved'"),
            postgresql_where=text("status != 'resolved'"),
        ),
        # Each list reads its first rows straight off an index in its own order, with the id as
        # tie-breaker for cursors, instead of sorting every alert of a service or an incident.
        Index("ix_alerts_service_last_seen", "service_id", "last_seen", "id"),
        Index("ix_alerts_last_seen_id", "last_seen", "id"),
        Index(
            "ix_alerts_open_last_seen",
            "last_seen",
            "id",
            sqlite_where=text("status != 'resolved'"),
            postgresql_where=text("status != 'resolved'"),
        ),
        Index("ix_alerts_incident_first_seen", "incident_id", "first_seen", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    dedup_key: Mapped[str] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(40))
    raw_severity: Mapped[str] = mapped_column(String(100), default="")
    sev: Mapped[str | None] = mapped_column(String(32))
    route: Mapped[str] = mapped_column(String(20))
    group_key: Mapped[str | None] = mapped_column(String(512))
    suppressed: Mapped[bool] = mapped_column(Boolean, default=False)
    summary: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(300), default="")
    runbook: Mapped[str | None] = mapped_column(String(300))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    links: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    count: Mapped[int] = mapped_column(default=1)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]

    integration: Mapped[Integration] = relationship(lazy="joined")
    service: Mapped[Service] = relationship(lazy="joined")


class InboundMessage(Base):
    """A message a provider delivered to us (an SMS reply), by its id: acted on once only.

    A provider's signature proves who sent a request but not that it is new; a replayed reply
    finds its id here and changes nothing.
    """

    __tablename__ = "inbound_messages"

    provider: Mapped[str] = mapped_column(String(20), primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime]


class ChatLink(Base):
    """A chat account (a Telegram user) that acts as a Tocsin user when it presses a button."""

    __tablename__ = "chat_links"

    provider: Mapped[str] = mapped_column(String(20), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    linked_at: Mapped[datetime]


class IncidentChannel(Base):
    """An incident's own chat channel (Slack): what it is called, its id once created, and how
    far the incident's timeline has been told there.

    `sync_at` is set when the incident changes (the engine's due work then posts what is new);
    `last_event_id` is the newest timeline entry already handed to the channel.
    """

    __tablename__ = "incident_channels"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(80))
    channel_id: Mapped[str | None] = mapped_column(String(32), index=True)
    requested: Mapped[bool] = mapped_column(Boolean, default=False)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    last_event_id: Mapped[int] = mapped_column(default=0)
    sync_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime]


class LinkCode(Base):
    """A one-time code a user takes from their profile page to a chat, to link their account
    there; only its SHA-256 is kept, and it runs out."""

    __tablename__ = "link_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    expires_at: Mapped[datetime]


class AlertInhibitKey(Base):
    """An alert that matches the source of one of its service's inhibit rules, filed under the
    rule and the alert's values of the rule's `equal` labels (hashed into `key`).

    An arriving alert that matches the rule's target works out the same key from its own labels
    and finds the firing alerts that inhibit it with one indexed look-up, however many fire.
    """

    __tablename__ = "alert_inhibit_keys"
    __table_args__ = (Index("ix_alert_inhibit_keys_service_key", "service_id", "key"),)

    alert_id: Mapped[int] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    # It matches the rule's target too: it cannot inhibit an alert that matches both sides.
    matches_target: Mapped[bool]


class MaintenanceWindow(Base):
    """While it lasts, a service's alerts are recorded and shown but page nobody."""

    __tablename__ = "maintenance_windows"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    start: Mapped[datetime]
    end: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    # The public maintenance this window silences paging for, if it came from one.
    public_id: Mapped[int | None] = mapped_column(
        ForeignKey("public_maintenances.id", ondelete="CASCADE"), index=True
    )

    service: Mapped[Service] = relationship(lazy="joined")


class ServiceEvent(Base):
    """An entry of a service's own timeline: change events (deploys), maintenance, heartbeats."""

    __tablename__ = "service_events"
    __table_args__ = (Index("ix_service_events_service_at", "service_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(300), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ContactMethod(Base):
    """A way to reach a user: email, Slack incoming webhook, signed webhook, SMS, Teams, console."""

    __tablename__ = "contact_methods"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(Text, default="")
    secret: Mapped[str | None] = mapped_column(String(200))
    throttle_seconds: Mapped[int | None]
    created_at: Mapped[datetime]


class NotificationRule(Base):
    """Use `contact_method` this long after a page reaches the user, unless acknowledged."""

    __tablename__ = "notification_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    contact_method_id: Mapped[int] = mapped_column(
        ForeignKey("contact_methods.id", ondelete="CASCADE")
    )
    after_seconds: Mapped[int] = mapped_column(default=0)


class EscalationPolicy(Base):
    """Ordered levels of targets with delays; `levels` is the config file's shape."""

    __tablename__ = "escalation_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    repeat: Mapped[int] = mapped_column(default=0)
    levels: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # The team whose administrators manage it, if any.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    team: Mapped[Team | None] = relationship(viewonly=True)


class Escalation(Base):
    """Where one incident's escalation stands; `next_at` is the durable timer the engine claims."""

    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), unique=True
    )
    policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("escalation_policies.id", ondelete="SET NULL")
    )
    level: Mapped[int] = mapped_column(default=-1)
    loop: Mapped[int] = mapped_column(default=0)
    next_at: Mapped[datetime | None] = mapped_column(index=True)
    acknowledged: Mapped[bool] = mapped_column(Boolean, default=False)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    ack_expires_at: Mapped[datetime | None] = mapped_column(index=True)
    paged: Mapped[list[str]] = mapped_column(default=list)
    updated_at: Mapped[datetime]


class Notification(Base):
    """One message to one contact method of a user, or one call of a webhook an escalation level
    names (then `user_id` and `contact_method_id` are empty): an outbox row, written with the
    decision to notify.

    pending -> sending (claimed until `claimed_until`) -> sent | failed; a temporary failure
    goes back to pending with a later `due_at`. `idempotency_key` stays the same for every
    attempt, so a receiver can drop a repeat after a node died mid-send.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_status_due", "status", "due_at"),
        # An incident's unfinished pages: a later step waits for them (waits_for_earlier_page),
        # and resolve notices go to the users they reached.
        Index("ix_notifications_incident_kind_status", "incident_id", "kind", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    contact_method_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_methods.id", ondelete="SET NULL")
    )
    webhook_id: Mapped[int | None] = mapped_column(ForeignKey("webhooks.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str] = mapped_column(Text, default="")
    message: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # A text or call is delivered after the provider took it: its id there (MessageSid,
    # CallSid), which its status callbacks name, and the last status it reported.
    provider_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    provider_status: Mapped[str | None] = mapped_column(String(20))


class Reminder(Base):
    """A nudge due at `due_at`: `commander` (a SEV-1/2 with no IC) or `update` (cadence)."""

    __tablename__ = "reminders"
    __table_args__ = (Index("ix_reminders_due", "done", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime]
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class InstanceSecret(Base):
    """A secret of this Tocsin installation (like the key that signs one-click ack links)."""

    __tablename__ = "instance_secrets"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class Postmortem(Base):
    """The blameless review of one incident: a Markdown body people edit, and its status."""

    __tablename__ = "postmortems"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[str] = mapped_column(String(20), default="draft")
    body: Mapped[str] = mapped_column(Text)
    runbook_updated: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    published_at: Mapped[datetime | None]


class ActionItem(Base):
    """Something to do so it does not happen again: owner, priority P0-P3, due date, status."""

    __tablename__ = "action_items"
    __table_args__ = (Index("ix_action_items_status_due", "status", "due_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), index=True
    )
    action: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    priority: Mapped[str] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(20), default="open")
    due_date: Mapped[date | None]
    kind: Mapped[str] = mapped_column(String(20), default="manual")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]

    owner: Mapped[User | None] = relationship(lazy="joined")


class Team(Base):
    """A group of people who own services together."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Who a `team:SLUG` escalation target pages: this schedule's on-call, or every member.
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]

    schedule: Mapped[Schedule | None] = relationship(lazy="joined", foreign_keys=[schedule_id])
    members: Mapped[list[TeamMember]] = relationship(
        order_by="TeamMember.position", cascade="all, delete-orphan", lazy="selectin"
    )


class TeamMember(Base):
    """A user in a team, in the order the config file lists them."""

    __tablename__ = "team_members"
    __table_args__ = (CheckConstraint("role IN ('responder', 'admin')", name="team_role"),)

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(default=0)
    # "responder": acts on the team's incidents; "admin": also manages what the team owns.
    role: Mapped[str] = mapped_column(String(20), default="responder", server_default="responder")

    user: Mapped[User] = relationship(lazy="joined")


class Webhook(Base):
    """An outgoing signed webhook that an escalation level calls as one of its targets."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(200))
    timeout_seconds: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class StatusComponent(Base):
    """A part of the product as customers see it on the public status page.

    Its state is derived, never stored: from the open incidents of the services that belong to
    it and from their maintenance windows.
    """

    __tablename__ = "status_components"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]


class WebSession(Base):
    """A browser login: only the SHA-256 of the cookie's secret is kept."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]

    user: Mapped[User] = relationship(lazy="joined")


class AuditEntry(Base):
    """One change to configuration or people, or one sign-in: who, when, what, before/after.

    Written in the transaction of the change it records (`store.audit`), never changed: a
    database trigger refuses every UPDATE, and only the retention setting deletes old rows.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_at_id", "at", "id"),
        Index("ix_audit_entries_object", "object_type", "object_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    who: Mapped[str] = mapped_column(String(200), index=True)
    via: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(String(300), default="")
    action: Mapped[str] = mapped_column(String(20))
    object_type: Mapped[str] = mapped_column(String(40))
    object_key: Mapped[str] = mapped_column(String(300))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class StatusSubscriber(Base):
    """Someone outside who asked to hear of the status page: an email address or a webhook.

    Email subscriptions count only once confirmed (double opt-in: `confirmed_at`); `token`, a
    random secret, is in the confirmation link and in every message's unsubscribe link.
    `components` names the status components of interest (empty: all of them). Webhook bodies
    are signed with `secret`. Unsubscribing deletes the row: nothing of the address is kept.
    """

    __tablename__ = "status_subscribers"
    __table_args__ = (
        UniqueConstraint("kind", "address_key"),
        CheckConstraint("kind IN ('email', 'webhook')", name="status_subscriber_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(2000))
    address_key: Mapped[str] = mapped_column(String(64))  # SHA-256 of the normalised address
    components: Mapped[list[str]] = mapped_column(default=list)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    secret: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    confirm_sent_at: Mapped[datetime | None]
    confirm_expires_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]


class SubscriptionAttempt(Base):
    """One use of the subscribe form, kept a day for its rate limits: by address and by client.

    Both are kept only as keyed hashes, so the table says nothing of who asked.
    """

    __tablename__ = "subscription_attempts"
    __table_args__ = (
        Index("ix_subscription_attempts_address_at", "address_key", "at"),
        Index("ix_subscription_attempts_client_at", "client_key", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    address_key: Mapped[str] = mapped_column(String(64))
    client_key: Mapped[str] = mapped_column(String(64))


class SubscriberMessage(Base):
    """One message to one status-page subscriber: the outbox of the subscribers' lane.

    Like `Notification`, pending -> sending (claimed until `claimed_until`) -> sent | failed,
    retried with backoff, the same `idempotency_key` on every attempt; but a lane of its own,
    sent only when no page waits, so a long list of subscribers never delays a responder.
    """

    __tablename__ = "subscriber_messages"
    __table_args__ = (Index("ix_subscriber_messages_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("status_subscribers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))  # confirm | update | maintenance
    status: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str] = mapped_column(Text, default="")
    message: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    subscriber: Mapped[StatusSubscriber] = relationship(lazy="joined")


class PublicMaintenance(Base):
    """Maintenance announced on the status page: its components, times and what customers read.

    Scheduled before `start`, in progress until `end`, then completed (or cancelled). While it
    runs, the services of its components page nobody (their `MaintenanceWindow` rows name it).
    `notified` is the last stage subscribers were told of: announced, started or completed, or
    cancelled (`tocsin.core.statuspage.Notified`).
    """

    __tablename__ = "public_maintenances"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text, default="")
    components: Mapped[list[str]] = mapped_column(default=list)
    start: Mapped[datetime] = mapped_column(index=True)
    end: Mapped[datetime] = mapped_column(index=True)
    notified: Mapped[str] = mapped_column(String(20), default="")
    cancelled_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class ShiftSwap(Base):
    """A responder's request that someone cover part of their shift.

    open -> accepted (the taker's override made: `override_id`) | cancelled by the requester |
    expired (its start passed with nobody taking it).
    """

    __tablename__ = "shift_swaps"
    __table_args__ = (
        Index("ix_shift_swaps_schedule_start", "schedule_id", "start"),
        CheckConstraint(
            "status IN ('open', 'accepted', 'cancelled', 'expired')", name="shift_swap_status"
        ),
        CheckConstraint('"end" > start', name="shift_swap_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    start: Mapped[datetime]
    end: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="open")
    taker_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    override_id: Mapped[int | None] = mapped_column(
        ForeignKey("schedule_overrides.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]

    schedule: Mapped[Schedule] = relationship(lazy="joined")
    requester: Mapped[User] = relationship(foreign_keys=[requester_id], lazy="joined")
    taker: Mapped[User | None] = relationship(foreign_keys=[taker_id], lazy="joined")
