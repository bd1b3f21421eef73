"""notices: in-app notifications behind the header's badge

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 03:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=20), nullable=False),
        sa.Column("event_key", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("seen_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "case_id", "event_key", name="uq_notice_user_case_event"),
    )
    op.create_index("ix_notice_user_seen", "notice", ["user_id", "seen_at"])
    op.create_index("ix_notice_user_id", "notice", ["user_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_notice_user_id", table_name="notice")
    op.drop_index("ix_notice_user_seen", table_name="notice")
    op.drop_table("notice")
