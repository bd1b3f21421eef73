"""sla pause: a case waiting on the customer

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-03 13:30:00

- case.paused_since: when the running pause began (NULL: not waiting on the customer).
- case.pause_resumes_at: when that pause ends by itself (the program's max_pause; NULL: never).
- case.paused_seconds: business seconds of the case's finished pauses (its deadlines moved by
  as much).

Self-contained (no model imports beyond the column types), so it can be renumbered.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case") as batch:
        batch.add_column(
            sa.Column("paused_since", models.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("pause_resumes_at", models.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("paused_seconds", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("case") as batch:
        batch.drop_column("paused_seconds")
        batch.drop_column("pause_resumes_at")
        batch.drop_column("paused_since")
