"""SLA accounting: first response, resolution and paused time per case, their verdicts and
the owners of their breaches (domain/sla.py)

Revision ID: 0022
Revises: 0018
Create Date: 2026-12-03 16:00:00

The projection fills the columns as it writes a case; rows written before are filled by
`python -m cli sla-backfill`, which measures them from the row and its `case_event` timeline
(the migration itself reads no program calendars).

Self-contained (no model imports), so it can be renumbered.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SECONDS = (
    "sla_first_response_seconds",
    "sla_first_response_business_seconds",
    "sla_resolution_seconds",
    "sla_resolution_business_seconds",
    "sla_paused_seconds",
    "sla_paused_business_seconds",
)
_VERDICTS = ("sla_first_response_met", "sla_resolution_met")
_OWNERS = ("sla_first_response_breach_owner", "sla_resolution_breach_owner")


def upgrade() -> None:
    with op.batch_alter_table("case") as batch:
        for name in _SECONDS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=True))
        for name in _VERDICTS:
            batch.add_column(sa.Column(name, sa.Boolean(), nullable=True))
        for name in _OWNERS:
            batch.add_column(sa.Column(name, sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case") as batch:
        for name in reversed((*_SECONDS, *_VERDICTS, *_OWNERS)):
            batch.drop_column(name)
