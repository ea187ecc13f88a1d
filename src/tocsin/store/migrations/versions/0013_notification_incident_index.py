"""an index for an incident's unfinished pages, which every claim of a later step looks up

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_notifications_incident_kind_status",
        "notifications",
        ["incident_id", "kind", "status"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_incident_kind_status", table_name="notifications")
