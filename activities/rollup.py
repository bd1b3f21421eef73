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
from sqlalchemy.dialects import postgresql, sqlite

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


def rollup_zones(conn: Connection) -> list[str]:
    """The zones the rollups are kept in (read after the case row is locked: a backfill that
    added one has committed by then)."""
    return list(conn.execute(select(ROLLUP_ZONES.c.tz).order_by(ROLLUP_ZONES.c.tz)).scalars())


def contribution_row(conn: Connection, case_id: str) -> dict[str, Any] | None:
    """The columns of the case row that its contribution depends on (None: no row)."""
    cols = [_CASES.c[name] for name in ROW_COLUMNS]
    found = conn.execute(select(*cols).where(_CASES.c.id == case_id)).first()
    return None if found is None else dict(found._mapping)


@functools.cache
def _upsert(dialect_name: str, grid: str) -> Any:
    table = GRIDS[grid]
    stmt = (postgresql if dialect_name == "postgresql" else sqlite).insert(table)
    _, counters = _SHAPE[grid]
    return stmt.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key.columns],
        set_={k: table.c[k] + stmt.excluded[k] for k in counters},
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
    rows: dict[str, list[dict[str, Any]]] = {"cause": [], "owner": []}
    for (grid, tz, grain, period, *key), counters in moved.items():
        names, all_counters = _SHAPE[grid]
        row: dict[str, Any] = {"tz": tz, "grain": grain, "period": period}
        row |= dict(zip(names, key, strict=True))
        row |= {k: counters.get(k, 0) for k in all_counters}
        rows[grid].append(row)
    for grid, params in rows.items():
        if params:
            conn.execute(_upsert(conn.dialect.name, grid), params)
