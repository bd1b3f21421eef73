"""case_change: the change log behind live pages (event ids, Last-Event-ID replay)

Self-contained (one new table): renumber freely when merging next to other migrations.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_change",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("case_id", sa.String(length=20), nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        # SQLite: never hand out a seq again after the newest rows were pruned.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_case_change_at", "case_change", ["at"])


def downgrade() -> None:
    op.drop_index("ix_case_change_at", table_name="case_change")
    op.drop_table("case_change")
