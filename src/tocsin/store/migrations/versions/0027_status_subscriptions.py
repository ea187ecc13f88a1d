"""status-page subscribers and their lane of the outbox, public maintenance

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tocsin.store.models

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

When = tocsin.store.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "status_subscribers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=2000), nullable=False),
        sa.Column("address_key", sa.String(length=64), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", When(), nullable=False),
        sa.Column("confirm_sent_at", When(), nullable=True),
        sa.Column("confirm_expires_at", When(), nullable=True),
        sa.Column("confirmed_at", When(), nullable=True),
        sa.CheckConstraint("kind IN ('email', 'webhook')", name="status_subscriber_kind"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "address_key"),
        sa.UniqueConstraint("token"),
    )
    op.create_table(
        "subscription_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", When(), nullable=False),
        sa.Column("address_key", sa.String(length=64), nullable=False),
        sa.Column("client_key", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_subscription_attempts_address_at", "subscription_attempts", ["address_key", "at"]
    )
    op.create_index(
        "ix_subscription_attempts_client_at", "subscription_attempts", ["client_key", "at"]
    )
    op.create_table(
        "subscriber_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("due_at", When(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_until", When(), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("message", sa.JSON(), nullable=False),
        sa.Column("created_at", When(), nullable=False),
        sa.Column("sent_at", When(), nullable=True),
        sa.ForeignKeyConstraint(["subscriber_id"], ["status_subscribers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index(
        "ix_subscriber_messages_status_due", "subscriber_messages", ["status", "due_at"]
    )
    op.create_index(
        "ix_subscriber_messages_subscriber_id", "subscriber_messages", ["subscriber_id"]
    )
    op.create_table(
        "public_maintenances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("start", When(), nullable=False),
        sa.Column("end", When(), nullable=False),
        sa.Column("notified", sa.String(length=20), nullable=False),
        sa.Column("cancelled_at", When(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", When(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_public_maintenances_start", "public_maintenances", ["start"])
    op.create_index("ix_public_maintenances_end", "public_maintenances", ["end"])
    with op.batch_alter_table("maintenance_windows") as batch:
        batch.add_column(sa.Column("public_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_maintenance_windows_public_id_public_maintenances",
            "public_maintenances",
            ["public_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index("ix_maintenance_windows_public_id", ["public_id"])


def downgrade() -> None:
    with op.batch_alter_table("maintenance_windows") as batch:
        batch.drop_index("ix_maintenance_windows_public_id")
        batch.drop_constraint(
            "fk_maintenance_windows_public_id_public_maintenances", type_="foreignkey"
        )
        batch.drop_column("public_id")
    op.drop_table("public_maintenances")
    op.drop_table("subscriber_messages")
    op.drop_table("subscription_attempts")
    op.drop_table("status_subscribers")
