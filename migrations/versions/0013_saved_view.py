"""saved_view: a person's named inbox filters and order, optionally shared with a unit

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saved_view",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=True),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner_id", "name", name="uq_saved_view_owner_name"),
    )
    op.create_index("ix_saved_view_owner_id", "saved_view", ["owner_id"])
    op.create_index("ix_saved_view_unit_id", "saved_view", ["unit_id"])


def downgrade() -> None:
    op.drop_index("ix_saved_view_unit_id", table_name="saved_view")
    op.drop_index("ix_saved_view_owner_id", table_name="saved_view")
    op.drop_table("saved_view")
