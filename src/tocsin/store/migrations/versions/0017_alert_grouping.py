"""alert grouping, flap suppression, and which alerts can inhibit others

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("services") as batch:
        batch.add_column(sa.Column("group_by", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("group_window_seconds", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("open_after_count", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("open_after_seconds", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("flap_window_seconds", sa.Integer(), nullable=True))
    with op.batch_alter_table("incident_services") as batch:
        batch.add_column(sa.Column("group_key", sa.String(length=512), nullable=True))
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("group_key", sa.String(length=512), nullable=True))
    op.create_table(
        "alert_inhibit_keys",
        sa.Column(
            "alert_id",
            sa.Integer(),
            sa.ForeignKey("alerts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key", sa.String(length=64), primary_key=True),
        sa.Column(
            "service_id",
            sa.Integer(),
            sa.ForeignKey("services.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("matches_target", sa.Boolean(), nullable=False),
    )
    op.create_index(
        "ix_alert_inhibit_keys_service_key", "alert_inhibit_keys", ["service_id", "key"]
    )
    _file_firing_sources()


def _file_firing_sources() -> None:
    """File the alerts firing now under their services' inhibit rules (those of 0016).

    Without this, an alert that was quieting others before the upgrade would stop quieting
    them until it fired again. The keys are worked out by the core's rules, as ingest does.
    """
    from tocsin.core.matchers import stored_labels
    from tocsin.core.routing import inhibit_rule_of, source_keys

    bind = op.get_bind()
    services = bind.execute(
        sa.text("SELECT id, inhibit_rules FROM services WHERE inhibit_rules IS NOT NULL")
    ).all()
    keys = sa.table(
        "alert_inhibit_keys",
        sa.column("alert_id", sa.Integer()),
        sa.column("key", sa.String()),
        sa.column("service_id", sa.Integer()),
        sa.column("matches_target", sa.Boolean()),
    )
    alerts = sa.table(
        "alerts",
        sa.column("id", sa.Integer()),
        sa.column("service_id", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("dedup_key", sa.String()),
        sa.column("summary", sa.Text()),
        sa.column("severity", sa.String()),
        sa.column("raw_severity", sa.String()),
        sa.column("source", sa.String()),
        sa.column("details", sa.JSON()),
    )
    for service_id, stored in services:
        specs = json.loads(stored) if isinstance(stored, str) else stored
        rules = [inhibit_rule_of(spec) for spec in specs or []]
        if not rules:
            continue
        rows = bind.execute(
            sa.select(alerts).where(
                alerts.c.service_id == service_id, alerts.c.status != "resolved"
            )
        ).all()
        filed = []
        for row in rows:
            labels = stored_labels(row)
            filed += [
                {"alert_id": row.id, "key": key, "service_id": service_id, "matches_target": both}
                for key, both in source_keys(rules, labels)
            ]
        if filed:
            bind.execute(keys.insert(), filed)


def downgrade() -> None:
    op.drop_table("alert_inhibit_keys")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("group_key")
    with op.batch_alter_table("incident_services") as batch:
        batch.drop_column("group_key")
    with op.batch_alter_table("services") as batch:
        batch.drop_column("flap_window_seconds")
        batch.drop_column("open_after_seconds")
        batch.drop_column("open_after_count")
        batch.drop_column("group_window_seconds")
        batch.drop_column("group_by")
