"""deadline follow: whom a program's new calendar or SLA applies to

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 15:40:00

- audit_entry.apply_to: for a program change of its calendar, holidays or SLA, the admin's
  choice: "new" (cases opened from now on) or "open" (the open cases' deadlines move too);
  NULL for every other change.

Self-contained (no model imports), so it can be renumbered.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_entry") as batch:
        batch.add_column(sa.Column("apply_to", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_entry") as batch:
        batch.drop_column("apply_to")
