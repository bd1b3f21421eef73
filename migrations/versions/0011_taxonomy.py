"""program taxonomy (categories with sub-categories, what closing requires); case sub-category

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 09:00:00

Programs keep their taxonomy in one JSON column (empty: any category text, root causes
required, resolution methods optional: the rules before taxonomies existed).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("program") as batch:
        batch.add_column(sa.Column("taxonomy", sa.JSON(), nullable=True))
    with op.batch_alter_table("case") as batch:
        batch.add_column(
            sa.Column("subcategory", sa.String(length=200), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("case") as batch:
        batch.drop_column("subcategory")
    with op.batch_alter_table("program") as batch:
        batch.drop_column("taxonomy")
