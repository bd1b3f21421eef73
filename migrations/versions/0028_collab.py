"""case_link state: a merge or unmerge is recorded before its workflow updates and marked done
after them, so an interrupted one is finished later (issue 18)

Revision ID: 0028
Revises: 0025
Create Date: 2026-12-03 17:00:00

- case_link.state: "done", or "merging" / "unmerging" while the updates are under way.
- case_link.acted_by: who asked for the merge or unmerge under way (the retry acts for them).

Self-contained (no model imports), so it can be renumbered.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_link") as batch:
        batch.add_column(
            sa.Column("state", sa.String(length=12), nullable=False, server_default="done")
        )
        batch.add_column(sa.Column("acted_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_link") as batch:
        batch.drop_column("acted_by")
        batch.drop_column("state")
