"""alert grouping, flap suppression, and which alerts can inhibit others

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30
"""

from __future__ import annotations

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
