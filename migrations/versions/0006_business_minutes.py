"""case: business minutes to first action and to close, for the dashboard's business hours

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 10:00:00

Existing closed cases keep NULL until their workflow projects them again: the business-hour
figures count only the cases that have the value (their `cases` count says how many).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case") as batch:
        batch.add_column(sa.Column("business_minutes_to_first_action", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("business_minutes_to_close", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case") as batch:
        batch.drop_column("business_minutes_to_close")
        batch.drop_column("business_minutes_to_first_action")
