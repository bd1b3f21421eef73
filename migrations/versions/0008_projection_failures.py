"""case_failure: workflow steps that failed for good (a poisoned projection or notification)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 18:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_failure",
        sa.Column("case_id", sa.String(length=20), nullable=False),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("error_type", sa.String(length=100), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("failed_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "step"),
    )
    op.create_index("ix_case_failure_failed_at", "case_failure", ["failed_at"])


def downgrade() -> None:
    op.drop_index("ix_case_failure_failed_at", table_name="case_failure")
    op.drop_table("case_failure")
