"""team and webhook escalation targets: a team's schedule, webhooks, webhook notifications

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tocsin.store.models

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("timeout_seconds", sa.Float(), nullable=True),
        sa.Column("created_at", tocsin.store.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tocsin.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
        sa.UniqueConstraint("name", name=op.f("uq_webhooks_name")),
    )
    with op.batch_alter_table("teams") as batch:
        batch.add_column(sa.Column("schedule_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_teams_schedule_id_schedules"),
            "schedules",
            ["schedule_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("notifications") as batch:
        # A webhook call belongs to no user.
        batch.alter_column("user_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("webhook_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_notifications_webhook_id_webhooks"),
            "webhooks",
            ["webhook_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    # The calls of webhooks have no user to keep them under; the downgraded schema needs one.
    op.execute("DELETE FROM notifications WHERE user_id IS NULL")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_constraint(batch.f("fk_notifications_webhook_id_webhooks"), type_="foreignkey")
        batch.drop_column("webhook_id")
        batch.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("teams") as batch:
        batch.drop_constraint(batch.f("fk_teams_schedule_id_schedules"), type_="foreignkey")
        batch.drop_column("schedule_id")
    op.drop_table("webhooks")
