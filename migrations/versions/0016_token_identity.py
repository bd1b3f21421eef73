"""token identity: personal tokens, program/unit scopes, expiry, rotation, last use

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 13:30:00

- api_client.user_id: a personal token's user (NULL: a service client).
- api_client.programs, api_client.units: the cases it may read and write (empty: no limit).
- api_client.expires_at, api_client.last_used_at.
- api_client.previous_token_hash, previous_valid_until: the secret before a rotation, accepted
  for an overlap window.

Self-contained (no model imports beyond the column types), so it can be renumbered.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_client") as batch:
        batch.add_column(sa.Column("user_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("programs", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("units", sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column("expires_at", models.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("last_used_at", models.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("previous_token_hash", sa.String(length=128), nullable=True))
        batch.add_column(
            sa.Column(
                "previous_valid_until", models.types.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch.create_index(batch.f("ix_api_client_user_id"), ["user_id"], unique=False)
        batch.create_index(
            batch.f("ix_api_client_previous_token_hash"), ["previous_token_hash"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("api_client") as batch:
        batch.drop_index(batch.f("ix_api_client_previous_token_hash"))
        batch.drop_index(batch.f("ix_api_client_user_id"))
        for column in (
            "previous_valid_until",
            "previous_token_hash",
            "last_used_at",
            "expires_at",
            "units",
            "programs",
            "user_id",
        ):
            batch.drop_column(column)
