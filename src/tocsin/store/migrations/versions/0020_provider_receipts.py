"""provider receipts: the provider's id of each sent notification and what it last reported

A text or a call is handed to the provider first and delivered (or not) later: the provider's
status callbacks name its id (MessageSid, CallSid), which finds the notification again.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("provider_sid", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("provider_status", sa.String(length=20), nullable=True))
        batch.create_index("ix_notifications_provider_sid", ["provider_sid"])


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_index("ix_notifications_provider_sid")
        batch.drop_column("provider_status")
        batch.drop_column("provider_sid")
