"""chat links: chat accounts linked to users by a one-time code from the profile page

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tocsin.store.models

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_links",
        sa.Column("provider", sa.String(length=20), primary_key=True),
        sa.Column("external_id", sa.String(length=64), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", name="fk_chat_links_user_id_users", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("linked_at", tocsin.store.models.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_chat_links_user_id", "chat_links", ["user_id"])
    op.create_table(
        "link_codes",
        sa.Column("code_hash", sa.String(length=64), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", name="fk_link_codes_user_id_users", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("expires_at", tocsin.store.models.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_link_codes_user_id", "link_codes", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_link_codes_user_id", table_name="link_codes")
    op.drop_table("link_codes")
    op.drop_index("ix_chat_links_user_id", table_name="chat_links")
    op.drop_table("chat_links")
