"""Keeping the dashboard's rollups (domain/rollup.py) in the case row's own transaction.

`move_rollups(conn, old, new)`: the case row went from `old` to `new` (None: no row), so its
contribution moves: new minus old, added to each key's counters by one upsert per grid. The
callers call it only when the row really changed (the projection's version guard), so a retried
projection moves nothing. Keys are written in one order, so two writers never deadlock.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select

from domain.rollup import CAUSE_COUNTERS, CAUSE_KEY, OWNER_COUNTERS, OWNER_KEY, delta
from models.case import Case
from models.rollup import GRIDS, ROLLUP_ZONES

# The case row's columns a contribution depends on.
ROW_COLUMNS = (
    "created_at", "program_id", "unit_id", "channel", "owner_id", "status", "closing_status",
    "went_overdue", "escalation_level", "reopened_count", "remeasure_status", "remeasure_score",
    "recovery_failed", "first_action_at", "closed_at", "business_minutes_to_close",
    "business_minutes_to_first_action", "root_causes",
)  # fmt: skip
_SHAPE = {"cause": (CAUSE_KEY, CAUSE_COUNTERS), "owner": (OWNER_KEY, OWNER_COUNTERS)}
_CASES = Case.__table__  # type: ignore[attr-defined]
_ZEROS = {grid: [0] * len(counters) for grid, (_, counters) in _SHAPE.items()}
_INDEX = {grid: {k: i for i, k in enumerate(counters)} for grid, (_, counters) in _SHAPE.items()}


def rollup_zones(conn: Connection) -> list[str]:
    """The zones the rollups are kept in (read after the case row is locked: a backfill that
    added one has committed by then)."""
    return list(conn.execute(select(ROLLUP_ZONES.c.tz).order_by(ROLLUP_ZONES.c.tz)).scalars())


@functools.cache
def _upsert(dialect_name: str, grid: str) -> str:
    """The grid's upsert as the driver's own SQL with positional parameters (the rows are
    wide: SQLAlchemy's per-parameter work cost more than the statement)."""
    table = GRIDS[grid]
    names, counters = _SHAPE[grid]
    columns = ("tz", "grain", "period", *names, *counters)
    mark = "%s" if dialect_name == "postgresql" else "?"
    quoted = ", ".join(f'"{c}"' for c in columns)
    key = ", ".join(f'"{c}"' for c in ("tz", "grain", "period", *names))
    moves = ", ".join(f'"{c}" = "{table.name}"."{c}" + excluded."{c}"' for c in counters)
    return (
        f'INSERT INTO "{table.name}" ({quoted}) VALUES ({", ".join([mark] * len(columns))}) '
        f"ON CONFLICT ({key}) DO UPDATE SET {moves}"
    )


def move_rollups(
    conn: Connection, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> None:
    zones = rollup_zones(conn)
    if not zones:
        return
    write_counts(conn, delta(old, new, zones))


def write_counts(conn: Connection, moved: dict[tuple[Any, ...], dict[str, int]]) -> None:
    """Add each key's counters to its row (made if missing), one statement per grid."""
    rows: dict[str, list[tuple[Any, ...]]] = {"cause": [], "owner": []}
    for (grid, *key), counters in moved.items():
        values, at = _ZEROS[grid].copy(), _INDEX[grid]
        for name, n in counters.items():
            values[at[name]] = n
        rows[grid].append((*key, *values))
    for grid, params in rows.items():
        if params:
            conn.exec_driver_sql(_upsert(conn.dialect.name, grid), params)
