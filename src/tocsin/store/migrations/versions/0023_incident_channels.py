"""incident channels: the Slack channel of each incident, and how far it was told

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tocsin.store.models

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident_channels",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("requested", sa.Boolean(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("sync_at", tocsin.store.models.UTCDateTime(), nullable=True),
        sa.Column("created_at", tocsin.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("incident_id"),
    )
    op.create_index("ix_incident_channels_channel_id", "incident_channels", ["channel_id"])
    op.create_index("ix_incident_channels_sync_at", "incident_channels", ["sync_at"])


def downgrade() -> None:
    op.drop_index("ix_incident_channels_sync_at", table_name="incident_channels")
    op.drop_index("ix_incident_channels_channel_id", table_name="incident_channels")
    op.drop_table("incident_channels")
