"""team roles: team_members.role, the owner team of schedules and escalation policies, tokens
scoped to a team

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("team_members") as batch:
        batch.add_column(
            sa.Column("role", sa.String(length=20), nullable=False, server_default="responder")
        )
        batch.create_check_constraint("team_role", "role IN ('responder', 'admin')")
    for table in ("schedules", "escalation_policies"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("team_id", sa.Integer(), nullable=True))
            batch.create_foreign_key(
                f"fk_{table}_team_id_teams", "teams", ["team_id"], ["id"], ondelete="SET NULL"
            )
    # A team token must never outlive its team: with the team gone it would act unscoped.
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("team_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_api_tokens_team_id_teams", "teams", ["team_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_constraint("fk_api_tokens_team_id_teams", type_="foreignkey")
        batch.drop_column("team_id")
    for table in ("escalation_policies", "schedules"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_team_id_teams", type_="foreignkey")
            batch.drop_column("team_id")
    with op.batch_alter_table("team_members") as batch:
        batch.drop_constraint("team_role", type_="check")
        batch.drop_column("role")
