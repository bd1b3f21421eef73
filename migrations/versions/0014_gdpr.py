"""gdpr: the record of erasures, a program's retention after close

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-03 12:30:00

- customer_erasure: one row per erasure (on request, or a retention run's case), without
  personal data: the customer record's id, the case ids, counts, who and when.
- program.retention_months: months after close before a case is anonymised (NULL: never).

Self-contained (no model imports beyond the column types), so it can be renumbered.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_erasure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("case_ids", sa.JSON(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("erased_by", sa.String(length=100), nullable=False),
        sa.Column("erased_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", name="uq_customer_erasure_key"),
    )
    op.create_index("ix_customer_erasure_customer_id", "customer_erasure", ["customer_id"])
    with op.batch_alter_table("program") as batch:
        batch.add_column(sa.Column("retention_months", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("program") as batch:
        batch.drop_column("retention_months")
    op.drop_index("ix_customer_erasure_customer_id", table_name="customer_erasure")
    op.drop_table("customer_erasure")
