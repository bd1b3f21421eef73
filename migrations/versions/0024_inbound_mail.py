"""inbound mail: customers answer by email, open cases by email and the web form

Revision ID: 0024
Revises: 0022
Create Date: 2026-12-03 15:40:00

- outbox.message_id: the Message-ID a message goes out with (a reply is threaded by it).
- inbound_message: one row per received message (unique Message-ID), its kind and outcome.
- program.intake: the program's intake mailbox and public web form.

Self-contained (no model imports beyond the column types), so it can be renumbered.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0024"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("message_id", sa.String(length=255), nullable=True))
        batch.create_index("ix_outbox_message_id", ["message_id"])
    with op.batch_alter_table("program") as batch:
        batch.add_column(sa.Column("intake", sa.JSON(), nullable=True))
    op.create_table(
        "inbound_message",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("message_id", sa.String(length=255), nullable=False, unique=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("case_id", sa.String(length=20), nullable=True),
        sa.Column("from_addr", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("document_ids", sa.JSON(), nullable=True),
        sa.Column("received_at", models.types.UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_inbound_message_case_id", "inbound_message", ["case_id"])


def downgrade() -> None:
    op.drop_table("inbound_message")
    with op.batch_alter_table("program") as batch:
        batch.drop_column("intake")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_message_id")
        batch.drop_column("message_id")
