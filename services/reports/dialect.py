"""The parts of the report's SQL that differ between PostgreSQL and SQLite (and nowhere else).

- durations in seconds: `date_part('epoch', b) - date_part('epoch', a)` (float arithmetic) /
  `(julianday(b) - julianday(a)) * 86400`;
- the median: `percentile_cont(0.5) WITHIN GROUP` / a window-function (row_number) query;
- the root causes JSON list: `json_array_elements_text` / `json_each` (and a text pre-match on
  the stored JSON before the exact test when filtering by root cause);
- the trend bucket of a case in the report's time zone: `width_bucket` over the buckets' first
  instants / the local date from a per-row UTC offset chosen among the zone's offsets in the
  window. Both come from zoneinfo here, so days are exact across daylight-saving changes (and
  SQLite has no time-zone database of its own).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Connection,
    Text,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
)

from services.reports.filters import ReportFilters, local_midnight


class Dialect:
    def __init__(self, name: str) -> None:
        self.pg = name == "postgresql"

    def seconds(self, start: Any, end: Any) -> ColumnElement[float]:
        if self.pg:  # float8 arithmetic: much cheaper than extract() on an interval (numeric)
            return func.date_part("epoch", end) - func.date_part("epoch", start)
        return (func.julianday(end) - func.julianday(start)) * 86400.0

    def elements(self, column: Any) -> Any:
        """A JSON list column's items as rows of a table-valued function (`value` column)."""
        if self.pg:
            fn = func.json_array_elements_text(column).table_valued("value")
            return fn.render_derived(name="rc")
        return func.json_each(column).table_valued("value").alias("rc")

    def has_cause(self, column: Any, cause: str) -> ColumnElement[bool]:
        """The JSON list `column` holds `cause`: a cheap text match on the stored JSON first (it
        can only miss nothing: the element's JSON string is in the text), then the exact test."""
        rc = self.elements(column)
        exact = exists(select(literal(1)).select_from(rc).where(rc.c.value == cause))
        text = cast(column, Text)
        forms = dict.fromkeys([json.dumps(cause), json.dumps(cause, ensure_ascii=False)])
        likely = or_(*[text.like(f"%{_like_escape(form)}%", escape="\\") for form in forms])
        return and_(likely, exact)

    def bucket(self, column: Any, f: ReportFilters) -> tuple[Any, Callable[[Any], date]]:
        """The trend bucket of `column` and how to read it back as the bucket's first day.

        PostgreSQL: `width_bucket` over the buckets' first instants (local midnights computed
        here with zoneinfo) — a binary search per row, cheaper than converting every row's time
        zone. SQLite: the local date from a per-row UTC offset (`offset_changes`).
        """
        starts = f.bucket_starts()
        if self.pg:
            # Inlined (not bound): the expression must read the same in SELECT and GROUP BY.
            # The values are timestamps formatted here, never user input.
            edges = ", ".join(
                f"'{local_midnight(max(day, f.date_from), f.zone).isoformat()}'" for day in starts
            )
            array: Any = literal_column(f"ARRAY[{edges}]::timestamptz[]")
            return func.width_bucket(column, array), lambda i: starts[int(i) - 1]
        start, end = f.window()
        changes = offset_changes(f.zone, start, end)
        if len(changes) == 1:
            day = func.date(column, _modifier(changes[0][1]))
        else:
            modifier = case(
                *[(column < until, _modifier(off)) for until, off in changes[:-1]],
                else_=_modifier(changes[-1][1]),
            )
            day = func.date(column, modifier)
        if f.trend_bucket == "week":
            day = func.date(day, "-6 days", "weekday 1")  # the Monday on or before
        return day, _as_date

    def medians(
        self,
        conn: Connection,
        values: Sequence[tuple[str, Any, ColumnElement[bool]]],
        where: Sequence[ColumnElement[bool]],
    ) -> dict[str, float | None]:
        """The median of each (name, value, condition) over the report's cases."""
        if self.pg:
            cols = [
                func.percentile_cont(0.5).within_group(value).filter(cond).label(name)
                for name, value, cond in values
            ]
            row = conn.execute(select(*cols).where(*where)).one()
            return {name: _float(row._mapping[name]) for name, _, _ in values}
        out = {}
        for name, value, cond in values:
            inner = (
                select(
                    value.label("v"),
                    func.row_number().over(order_by=value).label("rn"),
                    func.count().over().label("n"),
                )
                .where(*where, cond, value.is_not(None))
                .subquery()
            )
            stmt = select(func.avg(inner.c.v)).where(
                inner.c.rn.in_([(inner.c.n + 1) // 2, (inner.c.n + 2) // 2])
            )
            out[name] = _float(conn.execute(stmt).scalar())
        return out


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _modifier(offset_seconds: int) -> str:
    return f"{offset_seconds:+d} seconds"


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def offset_changes(tz: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """The zone's UTC offsets over [start, end): [(until, offset)], the last `until` is `end`."""

    def off(at: datetime) -> int:
        delta = at.astimezone(tz).utcoffset()
        return int(delta.total_seconds()) if delta else 0

    out: list[tuple[datetime, int]] = []
    current, at = off(start), start
    step = timedelta(hours=6)  # no zone changes its offset twice within six hours
    while at < end:
        nxt = min(at + step, end)
        if off(nxt) != current:
            lo, hi = int(at.timestamp()), int(nxt.timestamp())
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if off(datetime.fromtimestamp(mid, UTC)) == current:
                    lo = mid
                else:
                    hi = mid
            change = datetime.fromtimestamp(hi, UTC)
            out.append((change, current))
            current = off(change)
        at = nxt
    out.append((end, current))
    return out
