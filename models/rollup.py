"""The dashboard's rollups (domain/rollup.py says what they hold; migration 0029 makes them).

Core tables on the models' metadata: `case_rollup` (the `cause` grid), `case_rollup_owner`
(the `owner` grid), and `case_rollup_zone`, the zones they are kept in (`ready`: backfilled).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Date, PrimaryKeyConstraint, String, Table
from sqlmodel import SQLModel

from domain.rollup import CAUSE_COUNTERS, CAUSE_KEY, OWNER_COUNTERS, OWNER_KEY

_WIDTH = {"program_id": 64, "unit_id": 64, "owner_id": 64, "channel": 40}


def _grid(name: str, key: tuple[str, ...], counters: tuple[str, ...]) -> Table:
    # The key's order: the zone and the root cause(s) first (every query names them), then the
    # period, so that a report reads only its own rows.
    causes = tuple(k for k in key if k.startswith("cause"))
    columns = ("tz", *causes, "grain", "period", *[k for k in key if k not in causes])
    return Table(
        name,
        SQLModel.metadata,
        Column("tz", String(64), nullable=False),
        Column("grain", String(1), nullable=False),
        Column("period", Date, nullable=False),
        *[Column(k, String(_WIDTH.get(k, 200)), nullable=False) for k in key],
        *[Column(k, BigInteger, nullable=False, server_default="0") for k in counters],
        PrimaryKeyConstraint(*columns, name=f"pk_{name}"),
    )


CASE_ROLLUP = _grid("case_rollup", CAUSE_KEY, CAUSE_COUNTERS)
OWNER_ROLLUP = _grid("case_rollup_owner", OWNER_KEY, OWNER_COUNTERS)
GRIDS = {"cause": CASE_ROLLUP, "owner": OWNER_ROLLUP}
ROLLUP_ZONES = Table(
    "case_rollup_zone",
    SQLModel.metadata,
    Column("tz", String(64), primary_key=True),
    Column("ready", Boolean, nullable=False),
)
