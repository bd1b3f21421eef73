"""The summary from the daily and monthly rollups (domain/rollup.py), where they answer.

They answer an admin's report (every unit) in a zone they are kept in, without a unit or owner
filter, with at most one root cause; a channel filter leaves the owner and unit tables to the
exact query (their grid has no channel). A range is read as its whole months (grain `m`) and
the days at either end (grain `d`); the trend reads days. Counts and sums are exact (the
projection keeps the rollups in the case row's transaction); medians come from the histograms,
within a bucket (19 %) of the exact ones, and are labelled approximate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, select

from domain.rollup import BASE_COUNTERS, BUCKETS, CAUSE_COUNTERS, METRICS, median
from models.rollup import CASE_ROLLUP, OWNER_ROLLUP, ROLLUP_ZONES
from services.reports.filters import ReportFilters
from services.reports.where import Scope


class Row:
    """A summed group, read like a result row (`Tally.of`, `r.channel`, `r.n`)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._mapping = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self._mapping[name]
        except KeyError:
            raise AttributeError(name) from None


def answers(conn: Connection, f: ReportFilters, scope: Scope) -> bool:
    """The rollups can give this report's figures (the zone is kept and backfilled)."""
    if scope.units is not None or scope.owner is not None or f.unit_id or f.owner_id:
        return False
    if len(f.root_causes) > 1:
        return False
    ready = select(ROLLUP_ZONES.c.ready).where(ROLLUP_ZONES.c.tz == f.tz)
    return bool(conn.execute(ready).scalar())


def owners_answered(f: ReportFilters) -> bool:
    return f.channel is None


def periods(t: Any, f: ReportFilters) -> list[ColumnElement[bool]]:
    """The range as its whole months and the days at either end: one range of the key each,
    read by its own query (an OR of them would not use the key on SQLite)."""
    start, end = f.date_from, f.date_to
    first = start if start.day == 1 else _next_month(start)
    months = []
    at = first
    while _next_month(at) - timedelta(days=1) <= end:
        months.append(at)
        at = _next_month(at)
    if not months:
        return [and_(t.c.grain == "d", t.c.period.between(start, end))]
    tail_from = _next_month(months[-1])
    parts = [and_(t.c.grain == "m", t.c.period.between(months[0], months[-1]))]
    if start < months[0]:
        parts.append(and_(t.c.grain == "d", t.c.period.between(start, months[0] - timedelta(1))))
    if tail_from <= end:
        parts.append(and_(t.c.grain == "d", t.c.period.between(tail_from, end)))
    return parts


def _grouped(
    conn: Connection,
    t: Any,
    f: ReportFilters,
    keys: list[Any],
    names: tuple[str, ...],
    conds: list[ColumnElement[bool]],
) -> dict[tuple[Any, ...], Counter[str]]:
    """The counters `names` summed by `keys` over the range's parts (groups of cases only)."""
    out: dict[tuple[Any, ...], Counter[str]] = {}
    for part in periods(t, f):
        stmt = select(*keys, *_sums(t, names)).where(*conds, part).group_by(*keys)
        for r in conn.execute(stmt):
            m = r._mapping
            key = tuple(r[: len(keys)])
            out.setdefault(key, Counter()).update({k: int(m[k] or 0) for k in names})
    return {k: v for k, v in out.items() if v["n"] > 0}


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _where(t: Any, f: ReportFilters, cause_column: str = "cause") -> list[ColumnElement[bool]]:
    conds = [t.c.tz == f.tz]
    if f.program_id:
        conds.append(t.c.program_id == f.program_id)
    if f.channel and "channel" in t.c:
        conds.append(t.c.channel == f.channel)
    conds.append(t.c[cause_column] == (f.root_causes[0] if f.root_causes else ""))
    return conds


def _sums(t: Any, names: Iterable[str]) -> list[Any]:
    return [func.sum(t.c[k]).label(k) for k in names]


def _figures(values: dict[str, Any]) -> dict[str, Any]:
    """Summed counters as the exact query's labels (durations in seconds)."""
    out: dict[str, Any] = {k: int(v or 0) for k, v in values.items()}
    if "close_us" in out:
        out["close_sum"] = out.pop("close_us") / 1e6
        out["first_sum"] = out.pop("first_us") / 1e6
    return out


def groups(conn: Connection, f: ReportFilters) -> dict[str, list[Any]]:
    """The overview and the channel table (and the histograms), the trend buckets, and when
    they answer, the owner and unit tables."""
    t = CASE_ROLLUP
    conds = [*_where(t, f), t.c.cause2 == ""]
    channels = {
        k[0]: v for k, v in _grouped(conn, t, f, [t.c.channel], CAUSE_COUNTERS, conds).items()
    }
    total: Counter[str] = Counter()
    for values in channels.values():
        total.update(values)
    out: dict[str, list[Any]] = {
        "all": [Row(_figures(dict(total)) | {"hist": total})],
        "channel": [Row(_figures(dict(v)) | {"channel": k}) for k, v in channels.items()],
        "bucket": _trend(conn, f),
    }
    if owners_answered(f):
        out |= _owners(conn, f)
    return out


def _trend(conn: Connection, f: ReportFilters) -> list[Any]:
    t = CASE_ROLLUP
    names = ("n", "closed", "resolved", "went_overdue")
    stmt = (
        select(t.c.period, *_sums(t, names))
        .where(*_where(t, f), t.c.cause2 == "", t.c.grain == "d")
        .where(t.c.period.between(f.date_from, f.date_to))
        .group_by(t.c.period)
    )
    weekly = f.trend_bucket == "week"
    buckets: dict[date, Counter[str]] = {}
    for r in conn.execute(stmt):
        day = r.period - timedelta(days=r.period.weekday()) if weekly else r.period
        buckets.setdefault(day, Counter()).update({k: int(r._mapping[k] or 0) for k in names})
    return [Row(dict(v) | {"bucket": day}) for day, v in sorted(buckets.items())]


def _owners(conn: Connection, f: ReportFilters) -> dict[str, list[Any]]:
    t = OWNER_ROLLUP
    keys = [t.c.unit_id, t.c.owner_id]
    owners: dict[str, Counter[str]] = {}
    units: dict[str, Counter[str]] = {}
    for (unit, owner), values in _grouped(conn, t, f, keys, BASE_COUNTERS, _where(t, f)).items():
        owners.setdefault(owner, Counter()).update(values)
        units.setdefault(unit, Counter()).update(values)
    return {
        "owner": [Row(dict(v) | {"owner": k}) for k, v in owners.items()],
        "unit": [Row(dict(v) | {"unit": k}) for k, v in units.items()],
    }


def causes(conn: Connection, f: ReportFilters) -> list[Any]:
    """The root-cause table: cases citing each cause (under a cause filter: citing both)."""
    t = CASE_ROLLUP
    if f.root_causes:
        key: Any = case((t.c.cause2 == "", t.c.cause), else_=t.c.cause2)
        conds = _where(t, f)
    else:
        key = t.c.cause
        # Every cause's own rows: the filter's last condition (cause == "") left out.
        conds = [*_where(t, f)[:-1], t.c.cause != "", t.c.cause2 == ""]
    got = _grouped(conn, t, f, [key.label("key")], BASE_COUNTERS, conds)
    return [Row(dict(v) | {"key": k[0]}) for k, v in got.items()]


def medians(hist: Counter[str]) -> dict[str, float | None]:
    """The approximate medians of the overview's histograms (seconds; business: minutes)."""
    out: dict[str, float | None] = {}
    for m in METRICS:
        got = median({i: hist.get(f"h_{m}_{i}", 0) for i in range(BUCKETS)})
        out[m] = got / 60.0 if got is not None and m.startswith("biz_") else got
    return out
