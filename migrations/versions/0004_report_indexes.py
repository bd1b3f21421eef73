"""report indexes: the dashboard's date range, alone and per unit / owner; FYIs by date

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 03:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_case_created_at": ("case", ["created_at"]),
    "ix_case_unit_created": ("case", ["unit_id", "created_at"]),
    "ix_case_owner_created": ("case", ["owner_id", "created_at"]),
    "ix_fyi_created_at": ("fyi", ["created_at"]),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
