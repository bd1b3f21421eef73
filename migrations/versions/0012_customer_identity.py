"""customer identity: a case keeps its own contact; customer records are merged explicitly

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 09:00:00

- case.contact_email, case.contact_phone: the contact given at intake (with customer_name),
  where the case's mail goes. Existing cases get their customer record's email and phone: the
  address they were mailing until now.
- case_intake.contact: the same two, kept with the intake row (a retry answers with them, the
  reconciler restores a lost case row's). NULL for earlier rows.
- customer.external_source: the channel an external reference came from (NULL for the
  references stored before; those match a reference from any source).
- customer.merged_into and the customer_merge table: an admin's merge of two records.

Self-contained (no model imports beyond the column types), so it can be renumbered.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case") as batch:
        batch.add_column(sa.Column("contact_email", sa.String(length=320), nullable=True))
        batch.add_column(sa.Column("contact_phone", sa.String(length=40), nullable=True))
    with op.batch_alter_table("case_intake") as batch:
        batch.add_column(sa.Column("contact", sa.JSON(), nullable=True))
    with op.batch_alter_table("customer") as batch:
        batch.add_column(sa.Column("external_source", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("merged_into", sa.Integer(), nullable=True))
        batch.create_index("ix_customer_merged_into", ["merged_into"])
    op.create_table(
        "customer_merge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("merged_id", sa.Integer(), nullable=False),
        sa.Column("case_ids", sa.JSON(), nullable=True),
        sa.Column("filled", sa.JSON(), nullable=True),
        sa.Column("merged_by", sa.String(length=100), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("merged_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("merged_id", name="uq_customer_merge_merged_id"),
    )
    op.create_index("ix_customer_merge_customer_id", "customer_merge", ["customer_id"])
    # What existing cases were mailing: their customer record's address and phone.
    case = sa.table(
        "case",
        sa.column("customer_id", sa.Integer()),
        sa.column("contact_email", sa.String()),
        sa.column("contact_phone", sa.String()),
    )
    customer = sa.table(
        "customer",
        sa.column("id", sa.Integer()),
        sa.column("email", sa.String()),
        sa.column("phone", sa.String()),
    )

    def of_customer(column: str) -> sa.ScalarSelect[str]:
        return (
            sa.select(customer.c[column])
            .where(customer.c.id == case.c.customer_id)
            .scalar_subquery()
        )

    op.execute(
        case.update()
        .where(case.c.customer_id.is_not(None))
        .values(contact_email=of_customer("email"), contact_phone=of_customer("phone"))
    )


def downgrade() -> None:
    op.drop_index("ix_customer_merge_customer_id", table_name="customer_merge")
    op.drop_table("customer_merge")
    with op.batch_alter_table("customer") as batch:
        batch.drop_index("ix_customer_merged_into")
        batch.drop_column("merged_into")
        batch.drop_column("external_source")
    with op.batch_alter_table("case_intake") as batch:
        batch.drop_column("contact")
    with op.batch_alter_table("case") as batch:
        batch.drop_column("contact_phone")
        batch.drop_column("contact_email")
