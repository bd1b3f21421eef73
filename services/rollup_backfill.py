"""Fill the dashboard's rollups from the case rows (`python -m cli rollup-backfill`).

One transaction per run: on PostgreSQL it holds the case table in SHARE mode (writers wait, the
pages keep reading), so no projection moves a row between the scan and the zone's `ready` mark;
SQLite has one writer anyway. The rows are read oldest first, and a day's (a month's) sums are
written once that day (month) is behind the scan in every zone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, delete, func, insert, select

from activities.rollup import ROW_COLUMNS, write_counts
from domain.rollup import Key, counts
from models.case import Case
from models.config import Unit
from models.rollup import GRIDS, ROLLUP_ZONES

_CASES = Case.__table__  # type: ignore[attr-defined]
_UNITS = Unit.__table__  # type: ignore[attr-defined]
FLUSH_EVERY = 20_000


def default_zones(engine: Engine) -> list[str]:
    """UTC (the report of units in several zones) and the zone of every unit."""
    with engine.connect() as conn:
        zones = conn.execute(select(_UNITS.c.timezone).distinct()).scalars()
        return sorted({"UTC", *(z for z in zones if z)})


def backfill_rollups(
    engine: Engine,
    zones: Iterable[str],
    progress: Callable[[int], Any] | None = None,
    total: Callable[[int], Any] | None = None,
) -> int:
    """Rebuild the rollups of `zones` from every case row and mark them ready; the rows read.
    `total(n)` is told how many rows there are, `progress(k)` each k rows read."""
    zones = sorted(set(zones))
    for tz in zones:
        ZoneInfo(tz)  # an unknown zone fails here, before anything is written
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql('LOCK TABLE "case" IN SHARE MODE')
        for table in GRIDS.values():
            conn.execute(delete(table).where(table.c.tz.in_(zones)))
        conn.execute(delete(ROLLUP_ZONES).where(ROLLUP_ZONES.c.tz.in_(zones)))
        conn.execute(insert(ROLLUP_ZONES), [{"tz": tz, "ready": False} for tz in zones])
        if total:
            total(int(conn.execute(select(func.count()).select_from(_CASES)).scalar() or 0))
        read = _scan(conn, zones, progress)
        conn.execute(ROLLUP_ZONES.update().where(ROLLUP_ZONES.c.tz.in_(zones)).values(ready=True))
    return read


def _scan(conn: Connection, zones: list[str], progress: Callable[[int], Any] | None) -> int:
    stmt = (
        select(*[_CASES.c[c] for c in ROW_COLUMNS])
        .order_by(_CASES.c.created_at)
        .execution_options(stream_results=True, yield_per=5000)
    )
    sums: dict[Key, Counter[str]] = {}
    read = 0
    tzs = [ZoneInfo(tz) for tz in zones]
    for r in conn.execute(stmt):
        row: Mapping[str, Any] = r._mapping  # type: ignore[assignment]
        for key, added in counts(row, zones).items():
            sums.setdefault(key, Counter()).update(added)
        read += 1
        if read % FLUSH_EVERY == 0:
            at = row["created_at"]
            at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
            _flush(conn, sums, min(at.astimezone(tz).date() for tz in tzs))
            if progress:
                progress(FLUSH_EVERY)
    _flush(conn, sums, None)
    if progress:
        progress(read % FLUSH_EVERY)
    return read


def _flush(conn: Connection, sums: dict[Key, Counter[str]], before: date | None) -> None:
    """Write the keys no later row can add to (all of them when `before` is None)."""
    done = [
        key
        for key in sums
        if before is None or key[3] < (before if key[2] == "d" else before.replace(day=1))
    ]
    write_counts(conn, {key: dict(sums.pop(key)) for key in done})
