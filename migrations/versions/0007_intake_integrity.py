"""case_intake: the workflow's input and start marker; idempotency keys per client, with a hash;
action_key: the Idempotency-Keys of case actions, per client, with a hash

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 18:00:00

Rows from before this revision had their workflow started by the request that wrote them (or
were removed when it failed), so they are marked started at their creation time.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_intake") as batch:
        batch.add_column(
            sa.Column(
                "client_id",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=False,
                server_default="",
            )
        )
        batch.add_column(
            sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch.add_column(sa.Column("case_input", sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column("workflow_started_at", models.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch.drop_constraint("uq_intake_idempotency_key", type_="unique")
        batch.create_unique_constraint("uq_intake_client_key", ["client_id", "idempotency_key"])
        batch.create_index("ix_case_intake_workflow_started_at", ["workflow_started_at"])
    op.execute("UPDATE case_intake SET workflow_started_at = created_at")
    with op.batch_alter_table("case_intake") as batch:
        batch.alter_column("client_id", server_default=None)
    op.create_table(
        "action_key",
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "case_id", "idempotency_key"),
    )


def downgrade() -> None:
    op.drop_table("action_key")
    with op.batch_alter_table("case_intake") as batch:
        batch.drop_index("ix_case_intake_workflow_started_at")
        batch.drop_constraint("uq_intake_client_key", type_="unique")
        batch.create_unique_constraint("uq_intake_idempotency_key", ["idempotency_key"])
        batch.drop_column("workflow_started_at")
        batch.drop_column("case_input")
        batch.drop_column("request_hash")
        batch.drop_column("client_id")
