"""one-time account links: invitations and password resets

Revision ID: 0020
Revises: 0024
Create Date: 2026-12-03 15:30:00

- account_link: the SHA-256 of a mailed link's token, what it does (invite | reset), whose
  account it is for, when it expires and when it was used (once).

Self-contained (no model imports), so it can be renumbered.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_link",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_account_link_user_id", "account_link", ["user_id"])


def downgrade() -> None:
    op.drop_table("account_link")
