"""slack user groups: a schedule may name a Slack user group whose members follow its on-call

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tocsin.store.models

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("schedules") as batch:
        batch.add_column(sa.Column("slack_user_group", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("slack_members", sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column("slack_sync_at", tocsin.store.models.UTCDateTime(), nullable=True)
        )
        batch.create_index("ix_schedules_slack_sync_at", ["slack_sync_at"])


def downgrade() -> None:
    with op.batch_alter_table("schedules") as batch:
        batch.drop_index("ix_schedules_slack_sync_at")
        batch.drop_column("slack_sync_at")
        batch.drop_column("slack_members")
        batch.drop_column("slack_user_group")
