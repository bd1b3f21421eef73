"""case tasks: to-dos on a case with an assignee and a due time (issue 18)

Revision ID: 0025
Revises: 0023
Create Date: 2026-12-03 16:00:00

- case_task: the workflow's tasks of each case, rewritten with the case row by the projection;
  (assignee_id, is_open) answers the inbox's "My tasks".

Self-contained (no model imports beyond the column types), so it can be renumbered.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision: str = "0025"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_task",
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("task_id", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("assignee_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("remind_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "task_id"),
    )
    op.create_index("ix_case_task_assignee_open", "case_task", ["assignee_id", "is_open"])


def downgrade() -> None:
    op.drop_index("ix_case_task_assignee_open", table_name="case_task")
    op.drop_table("case_task")
