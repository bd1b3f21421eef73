"""The dashboard's daily and monthly rollups, kept by the projection (issue 19)

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-03 19:10:00

- case_rollup: per rollup zone, grain (day / month) and period, program, channel and root cause
  (or pair of root causes): every figure of the summary, durations' exact sums and histograms.
- case_rollup_owner: the same by program, unit, owner and root cause, for the owner and unit
  tables (no durations).
- case_rollup_zone: the zones kept; `ready` once `python -m cli rollup-backfill` filled one.

Self-contained: the counters are those of domain/rollup.py at this revision, spelled here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("new", "in_progress", "overdue", "closed")
OWNER_COUNTERS = (
    "n", *STATUSES, "resolved", "unresolved", "went_overdue", "sla_met", "answered", "expired",
    "pending", "score_sum", "recovered", "failed",
)  # fmt: skip
CAUSE_COUNTERS = (
    *OWNER_COUNTERS, "escalated", "reopened", "close_n", "close_us", "first_n", "first_us",
    "biz_close_n", "biz_close_sum", "biz_first_n", "biz_first_sum",
    *[f"h_{m}_{i}" for m in ("close", "first", "biz_close", "biz_first") for i in range(72)],
)  # fmt: skip
CAUSE_KEY = ("program_id", "channel", "cause", "cause2")
OWNER_KEY = ("program_id", "unit_id", "owner_id", "cause")
_WIDTH = {"program_id": 64, "unit_id": 64, "owner_id": 64, "channel": 40}


def _grid(name: str, key: tuple[str, ...], counters: tuple[str, ...]) -> None:
    op.create_table(
        name,
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("grain", sa.String(1), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        *[sa.Column(k, sa.String(_WIDTH.get(k, 200)), nullable=False) for k in key],
        *[sa.Column(k, sa.BigInteger(), nullable=False, server_default="0") for k in counters],
        sa.PrimaryKeyConstraint(*_pk(key), name=f"pk_{name}"),
    )


def _pk(key: tuple[str, ...]) -> tuple[str, ...]:
    """The zone and the root cause(s) first, then the period: a report reads its own rows."""
    causes = tuple(k for k in key if k.startswith("cause"))
    return ("tz", *causes, "grain", "period", *[k for k in key if k not in causes])


def upgrade() -> None:
    _grid("case_rollup", CAUSE_KEY, CAUSE_COUNTERS)
    _grid("case_rollup_owner", OWNER_KEY, OWNER_COUNTERS)
    op.create_table(
        "case_rollup_zone",
        sa.Column("tz", sa.String(64), primary_key=True),
        sa.Column("ready", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("case_rollup_zone")
    op.drop_table("case_rollup_owner")
    op.drop_table("case_rollup")
