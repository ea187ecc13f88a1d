"""audit entries: every change to configuration and people, and sign-ins; rows never change

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tocsin.store.models

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

REFUSAL = "audit entries cannot be changed"


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", tocsin.store.models.UTCDateTime(), nullable=False),
        sa.Column("who", sa.String(length=200), nullable=False),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("object_type", sa.String(length=40), nullable=False),
        sa.Column("object_key", sa.String(length=300), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_entries_at_id", "audit_entries", ["at", "id"])
    op.create_index("ix_audit_entries_object", "audit_entries", ["object_type", "object_key"])
    op.create_index("ix_audit_entries_who", "audit_entries", ["who"])
    # The record of who changed what must not be rewritten after the fact, by Tocsin or by
    # anyone with SQL access short of dropping the trigger.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_entries_refuse_update() RETURNS trigger AS $$ BEGIN "
            f"RAISE EXCEPTION '{REFUSAL}'; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries "
            "FOR EACH ROW EXECUTE FUNCTION audit_entries_refuse_update()"
        )
    else:
        op.execute(
            "CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_entries_no_update ON audit_entries")
        op.execute("DROP FUNCTION audit_entries_refuse_update()")
    else:
        op.execute("DROP TRIGGER audit_entries_no_update")
    op.drop_index("ix_audit_entries_who", table_name="audit_entries")
    op.drop_index("ix_audit_entries_object", table_name="audit_entries")
    op.drop_index("ix_audit_entries_at_id", table_name="audit_entries")
    op.drop_table("audit_entries")
