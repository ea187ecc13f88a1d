"""inbound messages: provider message ids already acted on, so a replayed reply does nothing

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tocsin.store.models

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("provider", sa.String(length=20), primary_key=True),
        sa.Column("sid", sa.String(length=64), primary_key=True),
        sa.Column("received_at", tocsin.store.models.UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("inbound_messages")
