"""indexes in the order the alert lists, the incident page and the live timeline read

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

OPEN = sa.text("status != 'resolved'")


def upgrade() -> None:
    op.drop_index("ix_alerts_service_status", table_name="alerts")
    op.drop_index("ix_alerts_last_seen", table_name="alerts")
    op.drop_index("ix_alerts_incident_id", table_name="alerts")
    op.create_index(
        "ix_alerts_service_last_seen", "alerts", ["service_id", "last_seen", "id"], unique=False
    )
    op.create_index("ix_alerts_last_seen_id", "alerts", ["last_seen", "id"], unique=False)
    op.create_index(
        "ix_alerts_open_last_seen",
        "alerts",
        ["last_seen", "id"],
        unique=False,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.create_index(
        "ix_alerts_incident_first_seen",
        "alerts",
        ["incident_id", "first_seen", "id"],
        unique=False,
    )
    op.drop_index("ix_timeline_events_incident_at", table_name="timeline_events")
    op.create_index(
        "ix_timeline_events_incident_at_id",
        "timeline_events",
        ["incident_id", "at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_timeline_events_incident_at_id", table_name="timeline_events")
    op.create_index(
        "ix_timeline_events_incident_at", "timeline_events", ["incident_id", "at"], unique=False
    )
    op.drop_index("ix_alerts_incident_first_seen", table_name="alerts")
    op.drop_index("ix_alerts_open_last_seen", table_name="alerts")
    op.drop_index("ix_alerts_last_seen_id", table_name="alerts")
    op.drop_index("ix_alerts_service_last_seen", table_name="alerts")
    op.create_index("ix_alerts_incident_id", "alerts", ["incident_id"], unique=False)
    op.create_index("ix_alerts_last_seen", "alerts", ["last_seen"], unique=False)
    op.create_index("ix_alerts_service_status", "alerts", ["service_id", "status"], unique=False)
