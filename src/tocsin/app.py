"""The composition root: settings, database, adapters, outbox sender and engine, built once.

Every process builds its runtime here: `tocsin serve` (through `tocsin.server`), `tocsin engine`,
the CLI's commands, drills and tests. Nothing else wires these parts together, so a new adapter
or a new kind of due work is added in one place.
"""

from __future__ import annotations

import gc
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine as Database
from sqlalchemy.orm import Session, sessionmaker

from tocsin.clock import Clock, SystemClock
from tocsin.core import chatops
from tocsin.core.timeutil import parse_duration
from tocsin.engine import channels, escalations, messages, reminders, usergroups
from tocsin.engine.loop import Engine, Task
from tocsin.engine.outbox import AdapterFor, Adapters, Sender
from tocsin.engine.subscribers import Lane
from tocsin.errors import InvalidInput
from tocsin.notify.smtp import SmtpAdapter
from tocsin.services import audit as audit_log
from tocsin.services import heartbeats, subscriptions
from tocsin.services import maintenance as public_maintenance
from tocsin.settings import Settings
from tocsin.store import audit
from tocsin.store.db import (
    DatabaseClock,
    make_engine,
    make_read_sessionmaker,
    make_sessionmaker,
)

# The due work every engine does, each kind in its own transaction, in this order.
DUE_WORK: tuple[Task, ...] = (
    escalations,
    reminders,
    heartbeats,
    usergroups,
    channels,
    subscriptions,
)


def due_work(settings: Settings) -> tuple[Task, ...]:
    """Return the kinds of due work an engine of this deployment does."""
    keep = audit_log.retention_days(settings.audit_retention_days)
    # Public maintenance links its notices to the status page, at the configured address.
    notices = public_maintenance.Notices(settings.base_url)
    return (*DUE_WORK, notices, audit_log.Retention(keep)) if keep else (*DUE_WORK, notices)


def channel_rules(settings: Settings) -> chatops.ChannelRules | None:
    """Return the rules of incident channels, or None when the Slack app is not set up."""
    if not settings.slack_bot_token or not settings.slack_channel_severities:
        return None
    if not chatops.valid_prefix(settings.slack_channel_prefix):
        raise InvalidInput(
            f"TOCSIN_SLACK_CHANNEL_PREFIX {settings.slack_channel_prefix!r} cannot start a Slack"
            " channel name: use lower case letters, digits, - and _, at most 20"
        )
    try:
        after = parse_duration(settings.slack_archive_after)
    except InvalidInput as exc:
        raise InvalidInput(f"TOCSIN_SLACK_ARCHIVE_AFTER: {exc.message}") from None
    return chatops.ChannelRules(
        prefix=settings.slack_channel_prefix,
        severities=settings.slack_channel_severities,
        archive_after_seconds=int(after.total_seconds()),
        pin_emoji=settings.slack_pin_emoji,
    )


def session_info(
    template_dir: Path | None, rules: chatops.ChannelRules | None = None
) -> dict[str, Any]:
    """Return what every session of this deployment carries: its message template folder and
    the rules of its incident channels."""
    return {messages.TEMPLATE_DIR: template_dir, channels.RULES: rules}


def claim_clock(database: Database, clock: Clock) -> Clock:
    """Return the clock the outbox stamps and compares claims with.

    On PostgreSQL, with the wall clock, that is the database server's clock, which every node
    shares: nodes whose clocks are skewed still agree on when a claim runs out. A clock a test
    or a drill moves by hand stays in charge.
    """
    if database.dialect.name == "postgresql" and isinstance(clock, SystemClock):
        return DatabaseClock(database)
    return clock


def node_name() -> str:
    """Return this process's name among the nodes (host, process, and a random part)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(eq=False)
class Tocsin:
    """One process's runtime. `close` releases the adapters' connections and the pool."""

    settings: Settings
    clock: Clock
    database: Database
    sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session]
    adapters: Adapters
    sender: Sender
    engine: Engine
    lane: Lane | None = None

    def close(self) -> None:
        """Stop the engine if it runs, close the adapters and the database pool."""
        self.engine.stop()
        self.adapters.close()
        if self.lane is not None:
            self.lane.close()
        self.database.dispose()


def build(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    database: Database | None = None,
    adapter_for: AdapterFor | None = None,
    node: str | None = None,
) -> Tocsin:
    """Return the runtime for `settings` (from the environment by default).

    `adapter_for` replaces the delivery adapters (a drill records its pages instead of sending
    them); `database` shares an engine already made for the same URL.
    """
    settings = settings or Settings.from_env()
    clock = clock or SystemClock()
    database = database or make_engine(
        settings.database_url, sqlite_synchronous=settings.sqlite_synchronous
    )
    info = session_info(settings.template_dir, channel_rules(settings))
    info[audit.CLOCK] = clock.now
    sessions = make_sessionmaker(database, info=info)
    read_sessions = make_read_sessionmaker(database, info=info)
    adapters = Adapters(adapter_for or Adapters.for_settings(settings))
    sender = Sender(
        sessions,
        clock,
        adapters,
        node=node or node_name(),
        base_url=settings.base_url,
        claim_for=timedelta(seconds=settings.claim_seconds),
        secret_key=settings.secret_key,
        claim_clock=claim_clock(database, clock),
        sms_per_hour=settings.sms_per_hour,
        calls_per_minute=settings.calls_per_minute,
    )
    lane = subscriber_lane(settings, sessions, clock, database, node=sender.node)
    return Tocsin(
        settings=settings,
        clock=clock,
        database=database,
        sessions=sessions,
        read_sessions=read_sessions,
        adapters=adapters,
        sender=sender,
        engine=Engine(
            sessions,
            clock,
            due_work(settings),
            sender=sender,
            read_sessions=read_sessions,
            lane=lane,
        ),
        lane=lane,
    )


def subscriber_lane(
    settings: Settings,
    sessions: sessionmaker[Session],
    clock: Clock,
    database: Database,
    *,
    node: str,
) -> Lane:
    """Return the sender of status-page subscribers' mail and webhooks."""

    def mailer(recipient: str) -> SmtpAdapter:
        return SmtpAdapter(
            settings.smtp_host,
            settings.smtp_port,
            sender=settings.smtp_sender,
            recipient=recipient,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password,
        )

    return Lane(
        sessions,
        clock,
        mailer=mailer,
        base_url=settings.base_url,
        page_title=settings.status_page_title,
        node=node,
        claim_clock=claim_clock(database, clock),
    )


def freeze_startup_objects() -> None:
    """Put what starting made (modules, mappings, routes, compiled templates) out of the
    garbage collector's reach, for a process that serves from now on.

    A full collection otherwise walks all of it again: about 100 ms on a started server, a
    pause that every request and page waiting at that moment took on top.
    """
    gc.collect()
    gc.freeze()
