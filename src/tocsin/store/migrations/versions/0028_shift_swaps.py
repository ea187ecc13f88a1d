"""shift swaps: a responder's request for cover, and the override that answered it

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tocsin.store.models

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

When = tocsin.store.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "shift_swaps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("start", When(), nullable=False),
        sa.Column("end", When(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("taker_id", sa.Integer(), nullable=True),
        sa.Column("override_id", sa.Integer(), nullable=True),
        sa.Column("created_at", When(), nullable=False),
        sa.Column("decided_at", When(), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'accepted', 'cancelled', 'expired')", name="shift_swap_status"
        ),
        sa.CheckConstraint('"end" > start', name="shift_swap_range"),
        sa.ForeignKeyConstraint(["schedule_id"], ["schedules.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["requester_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["taker_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["override_id"], ["schedule_overrides.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_shift_swaps_schedule_start", "shift_swaps", ["schedule_id", "start"])


def downgrade() -> None:
    op.drop_table("shift_swaps")
