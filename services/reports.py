"""The customer resolution dashboard: every figure computed by SQL aggregates on the read model.

Nothing here loads cases into Python: each figure is a `count(*) FILTER (WHERE ...)`, a sum, a
median or a `GROUP BY` over the `case` table (and `fyi`), restricted by the report's filters and
the viewer's scope; Python only divides the counts into percentages and averages. Four queries
make the whole summary: the overview, the trend buckets and the owner / unit / channel tables
(one pass with GROUPING SETS on PostgreSQL), the root causes, the medians, and the FYIs. On
PostgreSQL they run side by side on a few connections that share one exported snapshot, so the
figures add up with each other. The things that differ between PostgreSQL and SQLite live in the
`_Dialect` helpers and nowhere else:

- durations in seconds: `date_part('epoch', b) - date_part('epoch', a)` (float arithmetic) /
  `(julianday(b) - julianday(a)) * 86400`;
- the median: `percentile_cont(0.5) WITHIN GROUP` / a window-function (row_number) query;
- the root causes JSON list: `json_array_elements_text` / `json_each` (and a text pre-match on
  the stored JSON before the exact test when filtering by root cause);
- the trend bucket of a case in the report's time zone: `width_bucket` over the buckets' first
  instants / the local date from a per-row UTC offset chosen among the zone's offsets in the
  window. Both come from zoneinfo here, so days are exact across daylight-saving changes (and
  SQLite has no time-zone database of its own).

The CSV export of a case list streams: PostgreSQL writes the CSV itself (`COPY (SELECT ...) TO
STDOUT`); SQLite's rows come through a server-side cursor in batches.

Definitions (shared by the figures and the drill-down lists, so a number and the list it links to
always agree — see `Segment`):

- a case belongs to the report when it was *created* within the local dates [from, to] of the
  report's time zone, matches the filters, and lies in a unit the viewer may see;
- time to close: created -> closed, closed cases; time to first action: created -> first owner
  action (closing counts as one), cases with an action;
- went overdue: any deadline was missed (open or resolve); escalated: escalation level > 0;
- SLA met: a closed case that never went overdue; the % is of closed cases;
- root-cause frequencies and closing status by root cause count *closed* cases (a case citing two
  causes counts once for each); remeasurement by root cause counts every surveyed case, including
  one reopened after a failed recovery (it keeps the root causes of its failed close);
- remeasurement: surveyed = answered + expired + pending; response rate = answered / surveyed;
  average satisfaction over answered surveys; *recovered* = answered, the customer says the issue
  is resolved and the score is above the program's low-score threshold (exactly the workflow's
  `recovery_failed` flag, false); recovery rate = recovered / answered. The figures describe each
  case's latest survey round;
- by owner means the current owner (after escalation, the designee who holds the case);
- FYIs follow the date, program and unit filters and the scope (they have no owner, channel or
  root cause).

Business hours come from the projection's `business_minutes_to_close` and
`business_minutes_to_first_action` columns, computed on each case's own calendar (opening hours,
holidays, time zone) by `activities.calendar.business_minutes`.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Float,
    Numeric,
    Select,
    Table,
    Text,
    and_,
    case,
    cast,
    exists,
    extract,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    tuple_,
)

from domain.permissions import Viewer
from domain.vocabulary import Role
from models.case import Case
from models.config import Unit, User
from models.intake import Fyi
from models.reports import (
    CaseCounts,
    ClosingStats,
    CountRow,
    DeadlineStats,
    DurationStats,
    FiltersOut,
    FyiRow,
    FyiStats,
    RemeasureRow,
    RemeasureStats,
    ReportSummary,
    RootCauseRow,
    SlaRow,
    SlaStats,
    Trend,
    TrendPoint,
)

CASES: Table = Case.__table__  # type: ignore[attr-defined]
FYIS: Table = Fyi.__table__  # type: ignore[attr-defined]

STATUSES = ("new", "in_progress", "overdue", "closed")
# A day-by-day trend up to this many days; a longer range is shown per week.
AUTO_DAY_LIMIT = 92
MAX_RANGE_DAYS = 5 * 366
DEFAULT_RANGE_DAYS = 30
_ZONE_NAME = re.compile(r"^[A-Za-z0-9_+\-/]{1,64}$")


class ReportForbidden(Exception):
    """The viewer may not see these figures (shown as 403)."""


class ReportInvalid(ValueError):
    """A filter value that cannot be used (shown next to the filter / as a 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# ---------------------------------------------------------------- who sees what


@dataclass(frozen=True)
class Scope:
    """The units whose cases the viewer may count; None means every unit."""

    units: tuple[str, ...] | None = None

    def allows_unit(self, unit_id: str) -> bool:
        return self.units is None or unit_id in self.units


EVERYTHING = Scope(None)


def scope_for(viewer: Viewer) -> Scope:
    """Admins see every unit, managers the units they manage (unit or field manager)."""
    if viewer.is_admin:
        return EVERYTHING
    if viewer.role == Role.MANAGER:
        return Scope(tuple(viewer.managed_units))
    raise ReportForbidden("The dashboard is for managers and admins.")


# ---------------------------------------------------------------- filters


def zone(name: str) -> ZoneInfo:
    if not _ZONE_NAME.match(name or ""):
        raise ReportInvalid("tz", f"Unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ReportInvalid("tz", f"Unknown time zone {name!r}") from exc


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which `day` starts in `tz` (a midnight lost to DST moves forward)."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class ReportFilters:
    """Dates are local dates in `tz`, both inclusive; `bucket` is day, week or auto."""

    date_from: date
    date_to: date
    tz: str = "UTC"
    program_id: str | None = None
    unit_id: str | None = None
    channel: str | None = None
    owner_id: str | None = None
    root_causes: tuple[str, ...] = ()
    bucket: str = "auto"

    def __post_init__(self) -> None:
        zone(self.tz)
        if self.date_to < self.date_from:
            raise ReportInvalid("to", "The end date is before the start date")
        if (self.date_to - self.date_from).days >= MAX_RANGE_DAYS:
            raise ReportInvalid("from", f"The range is limited to {MAX_RANGE_DAYS} days")
        if self.bucket not in ("auto", "day", "week"):
            raise ReportInvalid("bucket", "Choose day, week or auto")

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.tz)

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    @property
    def trend_bucket(self) -> str:
        if self.bucket != "auto":
            return self.bucket
        return "day" if self.days <= AUTO_DAY_LIMIT else "week"

    def window(self) -> tuple[datetime, datetime]:
        """[start, end) in UTC: local midnight of `date_from` to local midnight after `date_to`."""
        tz = self.zone
        return local_midnight(self.date_from, tz), local_midnight(
            self.date_to + timedelta(days=1), tz
        )


def default_filters(tz: str = "UTC", *, today: date | None = None, **kw: Any) -> ReportFilters:
    """The last 30 local days, today included."""
    today = today or datetime.now(zone(tz)).date()
    return ReportFilters(
        date_from=today - timedelta(days=DEFAULT_RANGE_DAYS - 1), date_to=today, tz=tz, **kw
    )


@dataclass(frozen=True)
class Segment:
    """The part of the report a figure counts: what a drill-down link adds to the filters."""

    status: str | None = None  # new | in_progress | overdue | closed | open
    closing: str | None = None  # resolved | unresolved (closed cases)
    overdue: bool | None = None  # went overdue
    escalated: bool | None = None
    sla: str | None = None  # met | missed (closed cases)
    remeasure: str | None = None  # surveyed | answered | expired | pending
    recovery: str | None = None  # recovered | failed (answered surveys)
    reopened: bool | None = None
    acted: bool | None = None  # has a first action

    CHOICES = {
        "status": ("new", "in_progress", "overdue", "closed", "open"),
        "closing": ("resolved", "unresolved"),
        "sla": ("met", "missed"),
        "remeasure": ("surveyed", "answered", "expired", "pending"),
        "recovery": ("recovered", "failed"),
    }

    def __post_init__(self) -> None:
        for name, allowed in self.CHOICES.items():
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise ReportInvalid(name, f"{name} must be one of {', '.join(allowed)}")


# ---------------------------------------------------------------- predicates (figures = lists)

c = CASES.c


def is_closed() -> ColumnElement[bool]:
    return c.status == "closed"


def is_resolved() -> ColumnElement[bool]:
    return and_(is_closed(), c.closing_status == "resolved")


def is_unresolved() -> ColumnElement[bool]:
    return and_(is_closed(), c.closing_status == "unresolved")


def went_overdue() -> ColumnElement[bool]:
    return c.went_overdue.is_(True)


def is_escalated() -> ColumnElement[bool]:
    return c.escalation_level > 0


def sla_met() -> ColumnElement[bool]:
    return and_(is_closed(), c.went_overdue.is_(False))


def sla_missed() -> ColumnElement[bool]:
    return and_(is_closed(), went_overdue())


def surveyed() -> ColumnElement[bool]:
    return c.remeasure_status.in_(("answered", "expired", "pending"))


def answered() -> ColumnElement[bool]:
    return c.remeasure_status == "answered"


def recovered() -> ColumnElement[bool]:
    return and_(answered(), c.recovery_failed.is_(False))


def recovery_failed() -> ColumnElement[bool]:
    return and_(answered(), c.recovery_failed.is_(True))


def has_first_action() -> ColumnElement[bool]:
    return c.first_action_at.is_not(None)


def segment_conditions(seg: Segment) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if seg.status == "open":
        conds.append(c.is_open.is_(True))
    elif seg.status:
        conds.append(c.status == seg.status)
    if seg.closing:
        conds.append(is_resolved() if seg.closing == "resolved" else is_unresolved())
    if seg.overdue is not None:
        conds.append(went_overdue() if seg.overdue else c.went_overdue.is_(False))
    if seg.escalated is not None:
        conds.append(is_escalated() if seg.escalated else c.escalation_level == 0)
    if seg.sla:
        conds.append(sla_met() if seg.sla == "met" else sla_missed())
    if seg.remeasure:
        conds.append(
            surveyed() if seg.remeasure == "surveyed" else c.remeasure_status == seg.remeasure
        )
    if seg.recovery:
        conds.append(recovered() if seg.recovery == "recovered" else recovery_failed())
    if seg.reopened is not None:
        conds.append(c.reopened_count > 0 if seg.reopened else c.reopened_count == 0)
    if seg.acted is not None:
        conds.append(has_first_action() if seg.acted else c.first_action_at.is_(None))
    return conds


# ---------------------------------------------------------------- the dialect-specific parts


class _Dialect:
    def __init__(self, name: str) -> None:
        self.pg = name == "postgresql"

    def seconds(self, start: Any, end: Any) -> ColumnElement[float]:
        if self.pg:  # float8 arithmetic: much cheaper than extract() on an interval (numeric)
            return func.date_part("epoch", end) - func.date_part("epoch", start)
        return (func.julianday(end) - func.julianday(start)) * 86400.0

    def causes(self) -> Any:
        """The case's root causes as rows of a table-valued function with a `value` column."""
        if self.pg:
            fn = func.json_array_elements_text(c.root_causes).table_valued("value")
            return fn.render_derived(name="rc")
        return func.json_each(c.root_causes).table_valued("value").alias("rc")

    def has_cause(self, cause: str) -> ColumnElement[bool]:
        """The case cites `cause`: a cheap text match on the stored JSON first (it can only
        miss nothing: the element's JSON string is in the text), then the exact test."""
        rc = self.causes()
        exact = exists(select(literal(1)).select_from(rc).where(rc.c.value == cause))
        text = cast(c.root_causes, Text)
        forms = dict.fromkeys([json.dumps(cause), json.dumps(cause, ensure_ascii=False)])
        likely = or_(*[text.like(f"%{_like_escape(form)}%", escape="\\") for form in forms])
        return and_(likely, exact)

    def bucket(self, column: Any, f: ReportFilters) -> tuple[Any, Callable[[Any], date]]:
        """The trend bucket of `column` and how to read it back as the bucket's first day.

        PostgreSQL: `width_bucket` over the buckets' first instants (local midnights computed
        here with zoneinfo) — a binary search per row, cheaper than converting every row's time
        zone. SQLite: the local date from a per-row UTC offset (`offset_changes`).
        """
        starts = bucket_starts(f)
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


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


# ---------------------------------------------------------------- the report's WHERE clause


def base_conditions(
    dialect: _Dialect, f: ReportFilters, scope: Scope, seg: Segment | None = None
) -> list[ColumnElement[bool]]:
    start, end = f.window()
    conds: list[ColumnElement[bool]] = [c.created_at >= start, c.created_at < end]
    if scope.units is not None:
        conds.append(c.unit_id.in_(scope.units))
    for column, value in (
        (c.program_id, f.program_id),
        (c.unit_id, f.unit_id),
        (c.channel, f.channel),
        (c.owner_id, f.owner_id),
    ):
        if value:
            conds.append(column == value)
    conds += [dialect.has_cause(cause) for cause in f.root_causes]
    if seg is not None:
        conds += segment_conditions(seg)
    return conds


def check_scope(f: ReportFilters, scope: Scope) -> None:
    if f.unit_id and not scope.allows_unit(f.unit_id):
        raise ReportForbidden(f"You do not manage unit {f.unit_id}.")


# ---------------------------------------------------------------- helpers for the aggregates


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600.0, 2)


def _business_hours(minutes: float | None) -> float | None:
    return None if minutes is None else round(minutes / 60.0, 2)


@dataclass
class Tally:
    """The figures of a group of cases: one row of `_figure_columns`."""

    n: int = 0
    status: dict[str, int] = field(default_factory=dict)
    resolved: int = 0
    unresolved: int = 0
    went_overdue: int = 0
    sla_met: int = 0
    answered: int = 0
    expired: int = 0
    pending: int = 0
    score_sum: float = 0.0
    recovered: int = 0
    failed: int = 0
    escalated: int = 0
    reopened: int = 0
    close_n: int = 0
    close_sum: float = 0.0
    first_n: int = 0
    first_sum: float = 0.0
    biz_close_n: int = 0
    biz_close_sum: float = 0.0
    biz_first_n: int = 0
    biz_first_sum: float = 0.0

    @property
    def closed(self) -> int:
        return self.status.get("closed", 0)

    @property
    def surveyed(self) -> int:
        return self.answered + self.expired + self.pending

    @classmethod
    def of(cls, r: Any) -> Tally:
        m = r._mapping
        values: dict[str, Any] = {name: int(m.get(name) or 0) for name in _INT_FIGURES}
        values |= {name: float(m.get(name) or 0) for name in _FLOAT_FIGURES}
        values["status"] = {s: int(m.get(s) or 0) for s in STATUSES}
        return cls(**values)

    def remeasure(self) -> dict[str, Any]:
        return {
            "surveyed": self.surveyed,
            "answered": self.answered,
            "expired": self.expired,
            "pending": self.pending,
            "response_rate": _pct(self.answered, self.surveyed),
            "avg_satisfaction": round(self.score_sum / self.answered, 2) if self.answered else None,
            "recovered": self.recovered,
            "failed": self.failed,
            "recovery_rate": _pct(self.recovered, self.answered),
        }

    def sla(self) -> dict[str, Any]:
        return {
            "closed": self.closed,
            "met": self.sla_met,
            "missed": self.closed - self.sla_met,
            "met_pct": _pct(self.sla_met, self.closed),
        }


_INT_FIGURES = (
    "n",
    "resolved",
    "unresolved",
    "went_overdue",
    "sla_met",
    "answered",
    "expired",
    "pending",
    "recovered",
    "failed",
    "escalated",
    "reopened",
    "close_n",
    "first_n",
    "biz_close_n",
    "biz_first_n",
)
_FLOAT_FIGURES = ("score_sum", "close_sum", "first_sum", "biz_close_sum", "biz_first_sum")


def _figure_columns(d: _Dialect, *, durations: bool) -> list[Any]:
    """Every countable figure of a group of cases, as `count(*) FILTER (WHERE ...)` and sums.

    The same predicates define the drill-down lists (`segment_conditions`), so a number and the
    list behind it always agree.
    """

    def n(cond: ColumnElement[bool]) -> Any:
        return func.count().filter(cond)

    cols = [
        func.count().label("n"),
        *[n(c.status == s).label(s) for s in STATUSES],
        n(is_resolved()).label("resolved"),
        n(is_unresolved()).label("unresolved"),
        n(went_overdue()).label("went_overdue"),
        n(sla_met()).label("sla_met"),
        n(answered()).label("answered"),
        n(c.remeasure_status == "expired").label("expired"),
        n(c.remeasure_status == "pending").label("pending"),
        func.sum(c.remeasure_score).filter(answered()).label("score_sum"),
        n(recovered()).label("recovered"),
        n(recovery_failed()).label("failed"),
    ]
    if not durations:
        return cols
    closed_with_time = and_(is_closed(), c.closed_at.is_not(None))
    cols += [
        n(is_escalated()).label("escalated"),
        n(c.reopened_count > 0).label("reopened"),
        n(closed_with_time).label("close_n"),
        func.sum(d.seconds(c.created_at, c.closed_at)).filter(closed_with_time).label("close_sum"),
        n(has_first_action()).label("first_n"),
        func.sum(d.seconds(c.created_at, c.first_action_at)).label("first_sum"),
    ]
    biz_close, biz_first = c.business_minutes_to_close, c.business_minutes_to_first_action
    cols += [
        func.count(biz_close).filter(closed_with_time).label("biz_close_n"),
        func.sum(biz_close).filter(closed_with_time).label("biz_close_sum"),
        func.count(biz_first).label("biz_first_n"),
        func.sum(biz_first).label("biz_first_sum"),
    ]
    return cols


def _names(conn: Connection, model: Any, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    table = model.__table__
    rows = conn.execute(select(table.c.id, table.c.name).where(table.c.id.in_(sorted(ids))))
    return {r.id: r.name for r in rows}


# ---------------------------------------------------------------- the summary

# On PostgreSQL the summary's queries run side by side on this many connections, all reading
# one exported snapshot, so the figures still add up with each other.
PARALLEL_QUERIES = 3
_PARALLEL_SLOTS = threading.BoundedSemaphore(4)
_SNAPSHOT_ID = re.compile(r"^[0-9A-Fa-f-]{1,64}$")
# Session settings for the report's transactions. The plans are simple: compiling them (the JIT
# kicks in on the cost estimates of a million rows) costs more than it saves — over a second
# before the first row of an export. And the grouping estimates are pessimistic: with the
# default 4 MB of work memory the planner sorts on disk where a small hash table would do.
PG_SETTINGS = ("SET LOCAL jit = off", "SET LOCAL work_mem = '64MB'")


def _pg_settings(conn: Any) -> None:
    for statement in PG_SETTINGS:
        if isinstance(conn, Connection):
            conn.exec_driver_sql(statement)
        else:
            conn.execute(statement)


Job = Callable[[Connection], Any]


def _run(engine: Engine, jobs: dict[str, Job]) -> dict[str, Any]:
    """Run the jobs on one consistent snapshot (PostgreSQL: in parallel when a slot is free)."""
    with engine.connect() as main:
        if main.dialect.name != "postgresql":
            try:
                return {name: job(main) for name, job in jobs.items()}
            finally:
                main.rollback()
        main = main.execution_options(isolation_level="REPEATABLE READ")
        main.exec_driver_sql("SET TRANSACTION READ ONLY")
        _pg_settings(main)
        try:
            # A few summaries at a time fan out; the others run their queries one after the
            # other, so that a crowd of dashboards cannot drain the connection pool.
            if PARALLEL_QUERIES <= 1 or not _PARALLEL_SLOTS.acquire(blocking=False):
                return {name: job(main) for name, job in jobs.items()}
            try:
                return _parallel(engine, main, jobs)
            finally:
                _PARALLEL_SLOTS.release()
        finally:
            main.rollback()


def _parallel(engine: Engine, main: Connection, jobs: dict[str, Job]) -> dict[str, Any]:
    snapshot = str(main.exec_driver_sql("SELECT pg_export_snapshot()").scalar())
    assert _SNAPSHOT_ID.match(snapshot), snapshot

    def run(job: Job) -> Any:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            _pg_settings(conn)
            try:
                return job(conn)
            finally:
                conn.rollback()

    with ThreadPoolExecutor(PARALLEL_QUERIES, thread_name_prefix="report") as pool:
        futures = {name: pool.submit(run, job) for name, job in jobs.items()}
        return {name: fut.result() for name, fut in futures.items()}


def summary(engine: Engine, f: ReportFilters, scope: Scope) -> ReportSummary:
    """Every figure of the dashboard for these filters and this viewer's scope."""
    check_scope(f, scope)
    d = _Dialect(engine.dialect.name)
    where = base_conditions(d, f, scope)
    closed_with_time = and_(is_closed(), c.closed_at.is_not(None))
    secs_close = d.seconds(c.created_at, c.closed_at)
    secs_first = d.seconds(c.created_at, c.first_action_at)
    bucket, bucket_day = d.bucket(c.created_at, f)
    keys = {"owner": c.owner_id, "unit": c.unit_id, "channel": c.channel}

    def groups(conn: Connection) -> dict[str, list[Any]]:
        """The overview, the trend buckets, and the owner, unit and channel tables.

        PostgreSQL: one pass over the cases (GROUPING SETS); SQLite: one query per grouping.
        """
        figures = _figure_columns(d, durations=True)
        if d.pg:
            labelled = [bucket.label("bucket"), *[k.label(name) for name, k in keys.items()]]
            stmt = (
                select(*labelled, *figures)
                .where(*where)
                .group_by(
                    func.grouping_sets(
                        tuple_(), tuple_(bucket), *[tuple_(k) for k in keys.values()]
                    )
                )
            )
            out: dict[str, list[Any]] = {"all": [], "bucket": [], **{k: [] for k in keys}}
            for r in conn.execute(stmt):
                # Each row has its own set's key; the others are NULL (the columns never are).
                m = r._mapping
                name = next((k for k in ("bucket", *keys) if m[k] is not None), "all")
                out[name].append(r)
            return out
        return {
            "all": list(conn.execute(select(*figures).where(*where)).all()),
            "bucket": list(
                conn.execute(
                    select(bucket.label("bucket"), *figures).where(*where).group_by(bucket)
                ).all()
            ),
            **{
                name: list(
                    conn.execute(
                        select(k.label(name), *_figure_columns(d, durations=False))
                        .where(*where)
                        .group_by(k)
                    ).all()
                )
                for name, k in keys.items()
            },
        }

    rc = d.causes()

    def causes(conn: Connection) -> list[Any]:
        stmt = (
            select(rc.c.value.label("key"), *_figure_columns(d, durations=False))
            .select_from(CASES.join(rc, true()))
            # Only closed (or reopened) cases carry root causes; skip the rest before unnesting.
            .where(*where, or_(is_closed(), c.reopened_count > 0))
            .group_by(rc.c.value)
        )
        return list(conn.execute(stmt).all())

    medians: list[tuple[str, Any, ColumnElement[bool]]] = [
        ("close", secs_close, closed_with_time),
        ("first", secs_first, has_first_action()),
        ("biz_close", cast(c.business_minutes_to_close, Float), closed_with_time),
        ("biz_first", cast(c.business_minutes_to_first_action, Float), has_first_action()),
    ]

    # Longest first: they start first on the parallel connections.
    jobs: dict[str, Job] = {
        "groups": groups,
        "causes": causes,
        "medians": lambda conn: d.medians(conn, medians, where),
        "fyi": lambda conn: _fyis(conn, f, scope),
    }
    got = _run(engine, jobs)

    g = got["groups"]
    o = Tally.of(g["all"][0])
    buckets = {bucket_day(r.bucket): Tally.of(r) for r in g["bucket"]}
    owners = {r.owner: Tally.of(r) for r in g["owner"]}
    units = {r.unit: Tally.of(r) for r in g["unit"]}
    by_channel = sorted(g["channel"], key=lambda r: (-r.n, r.channel))
    cause_tallies = {r.key: Tally.of(r) for r in got["causes"]}
    fyi: FyiStats = got["fyi"]
    med: dict[str, float | None] = got["medians"]
    with engine.connect() as conn:
        owner_names = _names(conn, User, set(owners))
        unit_names = _names(conn, Unit, set(units) | {r.unit_id for r in fyi.by_unit})
    for fy in fyi.by_unit:
        fy.label = unit_names.get(fy.unit_id, fy.unit_id)
    fyi.by_unit.sort(key=lambda r: (-r.total, r.label))

    time_to_close = DurationStats(
        cases=o.close_n,
        avg_hours=_hours(o.close_sum / o.close_n) if o.close_n else None,
        median_hours=_hours(med.get("close")),
        avg_business_hours=(
            _business_hours(o.biz_close_sum / o.biz_close_n) if o.biz_close_n else None
        ),
        median_business_hours=_business_hours(med.get("biz_close")),
    )
    time_to_first = DurationStats(
        cases=o.first_n,
        avg_hours=_hours(o.first_sum / o.first_n) if o.first_n else None,
        median_hours=_hours(med.get("first")),
        avg_business_hours=(
            _business_hours(o.biz_first_sum / o.biz_first_n) if o.biz_first_n else None
        ),
        median_business_hours=_business_hours(med.get("biz_first")),
    )

    closed = o.closed
    return ReportSummary(
        filters=FiltersOut(
            date_from=f.date_from,
            date_to=f.date_to,
            tz=f.tz,
            program_id=f.program_id,
            unit_id=f.unit_id,
            channel=f.channel,
            owner_id=f.owner_id,
            root_causes=list(f.root_causes),
            bucket=f.trend_bucket,  # type: ignore[arg-type]
            units_in_scope=None if scope.units is None else list(scope.units),
        ),
        generated_at=datetime.now(UTC),
        cases=CaseCounts(
            total=o.n,
            open=o.n - closed,
            new=o.status.get("new", 0),
            in_progress=o.status.get("in_progress", 0),
            overdue=o.status.get("overdue", 0),
            closed=closed,
        ),
        by_channel=[
            CountRow(key=r.channel, label=channel_label(r.channel), count=r.n, pct=_pct(r.n, o.n))
            for r in by_channel
        ],
        closing=ClosingStats(
            closed=closed,
            resolved=o.resolved,
            unresolved=o.unresolved,
            resolved_pct=_pct(o.resolved, closed),
            unresolved_pct=_pct(o.unresolved, closed),
        ),
        deadlines=DeadlineStats(
            went_overdue=o.went_overdue,
            went_overdue_pct=_pct(o.went_overdue, o.n),
            escalated=o.escalated,
            escalated_pct=_pct(o.escalated, o.n),
            reopened=o.reopened,
        ),
        time_to_close=time_to_close,
        time_to_first_action=time_to_first,
        root_causes=sorted(
            (
                RootCauseRow(
                    root_cause=key,
                    closed=t.closed,
                    pct_of_closed=_pct(t.closed, closed),
                    resolved=t.resolved,
                    unresolved=t.unresolved,
                    resolved_pct=_pct(t.resolved, t.closed),
                )
                for key, t in cause_tallies.items()
                if t.closed
            ),
            key=lambda r: (-r.closed, r.root_cause),
        ),
        remeasure=RemeasureStats(**o.remeasure()),
        remeasure_by_root_cause=_remeasure_rows(cause_tallies, {}),
        remeasure_by_owner=_remeasure_rows(owners, owner_names),
        remeasure_by_unit=_remeasure_rows(units, unit_names),
        sla=SlaStats(**o.sla()),
        sla_by_owner=_sla_rows(owners, owner_names),
        sla_by_unit=_sla_rows(units, unit_names),
        trend=_trend(f, buckets),
        fyi=fyi,
    )


def _remeasure_rows(tallies: dict[str, Tally], names: dict[str, str]) -> list[RemeasureRow]:
    out = [
        RemeasureRow(key=key, label=names.get(key, key), **t.remeasure())
        for key, t in tallies.items()
        if t.surveyed
    ]
    return sorted(out, key=lambda r: (-r.surveyed, r.label))


def _sla_rows(tallies: dict[str, Tally], names: dict[str, str]) -> list[SlaRow]:
    out = [
        SlaRow(key=key, label=names.get(key, key), **t.sla())
        for key, t in tallies.items()
        if t.closed
    ]
    return sorted(out, key=lambda r: (-r.closed, r.label))


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def bucket_of(day: date, bucket: str) -> date:
    return day if bucket == "day" else day - timedelta(days=day.weekday())


def bucket_starts(f: ReportFilters) -> list[date]:
    """The first day of every trend bucket that overlaps the range (weeks start on Monday)."""
    step = timedelta(days=1 if f.trend_bucket == "day" else 7)
    at, out = bucket_of(f.date_from, f.trend_bucket), []
    while at <= f.date_to:
        out.append(at)
        at += step
    return out


def _trend(f: ReportFilters, buckets: dict[date, Tally]) -> Trend:
    """Every bucket of the range (empty ones too), from the overview's per-bucket tallies."""
    step = timedelta(days=1 if f.trend_bucket == "day" else 7)
    points = []
    for at in bucket_starts(f):
        t = buckets.get(at, Tally())
        points.append(
            TrendPoint(
                start=max(at, f.date_from),
                end=min(at + step - timedelta(days=1), f.date_to),
                opened=t.n,
                closed=t.closed,
                resolved=t.resolved,
                went_overdue=t.went_overdue,
            )
        )
    return Trend(bucket=f.trend_bucket, points=points)  # type: ignore[arg-type]


def _fyis(conn: Connection, f: ReportFilters, scope: Scope) -> FyiStats:
    fc = FYIS.c
    start, end = f.window()
    conds: list[ColumnElement[bool]] = [fc.created_at >= start, fc.created_at < end]
    if scope.units is not None:
        conds.append(fc.unit_id.in_(scope.units))
    if f.program_id:
        conds.append(fc.program_id == f.program_id)
    if f.unit_id:
        conds.append(fc.unit_id == f.unit_id)
    rows = conn.execute(
        select(
            fc.unit_id,
            func.count().filter(fc.fyi_type == "compliment").label("compliments"),
            func.count().filter(fc.fyi_type == "suggestion").label("suggestions"),
            func.count().label("total"),
        )
        .where(*conds)
        .group_by(fc.unit_id)
    ).all()
    by_unit = [
        FyiRow(
            unit_id=r.unit_id,
            label=r.unit_id,
            compliments=r.compliments,
            suggestions=r.suggestions,
            total=r.total,
        )
        for r in rows
    ]
    return FyiStats(total=sum(r.total for r in by_unit), by_unit=by_unit)


# ---------------------------------------------------------------- labels

CHANNEL_LABELS = {
    "contact_center": "Contact center",
    "location_survey": "Location survey",
    "digital_contact_card": "Contact card",
    "social_media": "Social media",
    "email": "Email",
    "web_form": "Web form",
    "chat": "Chat",
    "phone": "Phone",
}
STATUS_LABELS = {
    "new": "New",
    "in_progress": "In progress",
    "overdue": "Overdue",
    "closed": "Closed",
}


def channel_label(key: str) -> str:
    return CHANNEL_LABELS.get(key, key.replace("_", " ").capitalize())


# ---------------------------------------------------------------- the drill-down case list

LIST_COLUMNS = (
    "id",
    "created_at",
    "program_id",
    "unit_id",
    "channel",
    "owner_id",
    "status",
    "closing_status",
    "priority",
    "category",
    "escalation_level",
    "went_overdue",
    "first_action_at",
    "closed_at",
    "root_causes",
    "resolution_methods",
    "reopened_count",
    "remeasure_status",
    "remeasure_score",
    "remeasure_resolved",
    "recovery_failed",
    "reason",
)


def case_list_query(
    dialect_name: str,
    f: ReportFilters,
    scope: Scope,
    seg: Segment,
    *,
    after: tuple[datetime, str] | None = None,
) -> Select[Any]:
    """The cases behind a figure, newest first (keyset on created_at, id)."""
    check_scope(f, scope)
    d = _Dialect(dialect_name)
    stmt = select(*[c[name] for name in LIST_COLUMNS]).where(*base_conditions(d, f, scope, seg))
    if after is not None:
        at, case_id = after
        stmt = stmt.where(or_(c.created_at < at, and_(c.created_at == at, c.id < case_id)))
    return stmt.order_by(c.created_at.desc(), c.id.desc())


def count_cases(engine: Engine, f: ReportFilters, scope: Scope, seg: Segment) -> int:
    check_scope(f, scope)
    with engine.connect() as conn:
        d = _Dialect(conn.dialect.name)
        stmt = select(func.count()).select_from(CASES).where(*base_conditions(d, f, scope, seg))
        return int(conn.execute(stmt).scalar() or 0)


def list_cases(
    engine: Engine,
    f: ReportFilters,
    scope: Scope,
    seg: Segment,
    *,
    limit: int = 50,
    after: tuple[datetime, str] | None = None,
) -> list[Any]:
    with engine.connect() as conn:
        stmt = case_list_query(conn.dialect.name, f, scope, seg, after=after).limit(limit)
        return list(conn.execute(stmt).all())


# ---------------------------------------------------------------- CSV (streamed)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A spreadsheet must never run a cell as a formula (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, (list, tuple)):
        value = "; ".join(str(v) for v in value)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_lines(rows: Iterator[Sequence[Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


CASE_CSV_HEADER = (
    "case_id",
    "created_at",
    "program",
    "unit",
    "channel",
    "owner",
    "status",
    "closing_status",
    "priority",
    "category",
    "escalation_level",
    "went_overdue",
    "sla_met",
    "hours_to_first_action",
    "hours_to_close",
    "root_causes",
    "resolution_methods",
    "reopened_count",
    "remeasure_status",
    "remeasure_score",
    "remeasure_resolved",
    "recovery_failed",
    "reason",
)


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _case_csv_row(r: Any) -> list[Any]:
    def hours(end: datetime | None) -> str | None:
        if end is None:
            return None
        return f"{(_utc(end) - _utc(r.created_at)).total_seconds() / 3600.0:.2f}"

    closed = r.status == "closed"
    return [
        r.id,
        _stamp(r.created_at),
        r.program_id,
        r.unit_id,
        r.channel,
        r.owner_id,
        r.status,
        r.closing_status,
        r.priority,
        r.category,
        r.escalation_level,
        bool(r.went_overdue),
        (not r.went_overdue) if closed else None,
        hours(r.first_action_at),
        hours(r.closed_at) if closed else None,
        list(r.root_causes or []),
        list(r.resolution_methods or []),
        r.reopened_count,
        r.remeasure_status,
        r.remeasure_score,
        r.remeasure_resolved,
        bool(r.recovery_failed),
        r.reason,
    ]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _pg_case_csv_query(f: ReportFilters, scope: Scope, seg: Segment) -> Select[Any]:
    """The case list formatted as CSV cells by PostgreSQL itself (same cells as `_case_csv_row`)."""
    d = _Dialect("postgresql")

    def safe(column: Any) -> Any:
        return case((func.left(column, 1).in_(_FORMULA_START), literal("'") + column), else_=column)

    def yes_no(cond: Any) -> Any:
        return case((cond, "yes"), else_="no")

    def hours(end: Any) -> Any:
        seconds = extract("epoch", end - c.created_at) / 3600.0
        return func.to_char(cast(seconds, Numeric), "FM999999990.00")

    def joined(column: Any) -> Any:
        items = func.json_array_elements_text(column).table_valued("value").render_derived()
        return safe(select(func.string_agg(items.c.value, "; ")).scalar_subquery())

    closed = is_closed()
    cells = [
        c.id,
        func.to_char(func.timezone("UTC", c.created_at), 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        safe(c.program_id),
        safe(c.unit_id),
        c.channel,
        safe(c.owner_id),
        c.status,
        c.closing_status,
        c.priority,
        safe(c.category),
        c.escalation_level,
        yes_no(went_overdue()),
        case((closed, yes_no(c.went_overdue.is_(False))), else_=None),
        hours(c.first_action_at),
        case((closed, hours(c.closed_at)), else_=None),
        joined(c.root_causes),
        joined(c.resolution_methods),
        c.reopened_count,
        c.remeasure_status,
        c.remeasure_score,
        case((c.remeasure_resolved.is_(None), None), else_=yes_no(c.remeasure_resolved)),
        yes_no(c.recovery_failed.is_(True)),
        safe(c.reason),
    ]
    stmt = select(*[cell.label(name) for cell, name in zip(cells, CASE_CSV_HEADER, strict=True)])
    return stmt.where(*base_conditions(d, f, scope, seg)).order_by(c.created_at.desc(), c.id.desc())


def _pg_copy_csv(engine: Engine, stmt: Select[Any], chunk: int) -> Iterator[bytes]:
    """`COPY (query) TO STDOUT (FORMAT csv, HEADER)`: PostgreSQL writes the CSV, streamed."""
    compiled = stmt.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
    sql = f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv, HEADER true)"
    raw = engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        with driver.cursor() as cur:
            _pg_settings(cur)
        with driver.cursor() as cur, cur.copy(sql, compiled.params) as copy:
            buffer = bytearray()
            for data in copy:
                buffer += data
                if len(buffer) >= chunk:
                    yield bytes(buffer)
                    buffer.clear()
            if buffer:
                yield bytes(buffer)
    finally:
        raw.close()  # back to the pool, rolled back


def stream_case_csv(
    engine: Engine, f: ReportFilters, scope: Scope, seg: Segment, *, batch: int = 2000
) -> Iterator[bytes]:
    """The whole filtered case list as CSV, streamed: nothing but one batch is held in memory.

    PostgreSQL writes the CSV itself (`COPY (SELECT ...) TO STDOUT`, rows flow as the index scan
    finds them); elsewhere rows are read through a server-side cursor in batches of `batch` and
    written by Python, the header first so that a download starts at once.
    """
    check_scope(f, scope)
    if engine.dialect.name == "postgresql":
        yield from _pg_copy_csv(engine, _pg_case_csv_query(f, scope, seg), 64 * 1024)
        return
    yield "".join(csv_lines(iter([CASE_CSV_HEADER]))).encode()
    with engine.connect() as conn:
        stmt = case_list_query(conn.dialect.name, f, scope, seg)
        result = conn.execution_options(stream_results=True, yield_per=batch).execute(stmt)
        for part in result.partitions():
            yield "".join(csv_lines(_case_csv_row(r) for r in part)).encode()


@dataclass(frozen=True)
class TableSpec:
    title: str
    header: tuple[str, ...]
    rows: Callable[[ReportSummary], Iterator[Sequence[Any]]]
    note: str = field(default="")


def _remeasure_cells(r: RemeasureStats) -> list[Any]:
    return [
        r.surveyed,
        r.answered,
        r.expired,
        r.pending,
        r.response_rate,
        r.avg_satisfaction,
        r.recovered,
        r.failed,
        r.recovery_rate,
    ]


_REMEASURE_HEADER = (
    "surveyed",
    "answered",
    "expired",
    "pending",
    "response_rate_pct",
    "avg_satisfaction",
    "recovered",
    "failed",
    "recovery_rate_pct",
)


def _overview_rows(s: ReportSummary) -> Iterator[Sequence[Any]]:
    yield ("cases", s.cases.total, None)
    for key in ("open", *STATUSES):
        yield (f"status {key}", getattr(s.cases, key), _pct(getattr(s.cases, key), s.cases.total))
    yield ("closed resolved", s.closing.resolved, s.closing.resolved_pct)
    yield ("closed unresolved", s.closing.unresolved, s.closing.unresolved_pct)
    yield ("went overdue", s.deadlines.went_overdue, s.deadlines.went_overdue_pct)
    yield ("escalated", s.deadlines.escalated, s.deadlines.escalated_pct)
    yield ("reopened", s.deadlines.reopened, None)
    yield ("sla met (of closed)", s.sla.met, s.sla.met_pct)
    yield ("avg hours to close", s.time_to_close.avg_hours, None)
    yield ("median hours to close", s.time_to_close.median_hours, None)
    yield ("avg business hours to close", s.time_to_close.avg_business_hours, None)
    yield ("median business hours to close", s.time_to_close.median_business_hours, None)
    yield ("avg hours to first action", s.time_to_first_action.avg_hours, None)
    yield ("median hours to first action", s.time_to_first_action.median_hours, None)
    yield ("surveys answered", s.remeasure.answered, s.remeasure.response_rate)
    yield ("avg satisfaction", s.remeasure.avg_satisfaction, None)
    yield ("recovered", s.remeasure.recovered, s.remeasure.recovery_rate)
    yield ("fyi alerts", s.fyi.total, None)


TABLES: dict[str, TableSpec] = {
    "overview": TableSpec("Overview", ("figure", "value", "pct"), _overview_rows),
    "status": TableSpec(
        "Cases by status",
        ("status", "cases", "pct"),
        lambda s: (
            (k, getattr(s.cases, k), _pct(getattr(s.cases, k), s.cases.total)) for k in STATUSES
        ),
    ),
    "channel": TableSpec(
        "Cases by channel",
        ("channel", "label", "cases", "pct"),
        lambda s: ((r.key, r.label, r.count, r.pct) for r in s.by_channel),
    ),
    "root_causes": TableSpec(
        "Root causes and closing status",
        ("root_cause", "closed", "pct_of_closed", "resolved", "unresolved", "resolved_pct"),
        lambda s: (
            (r.root_cause, r.closed, r.pct_of_closed, r.resolved, r.unresolved, r.resolved_pct)
            for r in s.root_causes
        ),
    ),
    "remeasure_root_cause": TableSpec(
        "Remeasurement by root cause",
        ("root_cause", *_REMEASURE_HEADER),
        lambda s: ((r.key, *_remeasure_cells(r)) for r in s.remeasure_by_root_cause),
    ),
    "remeasure_owner": TableSpec(
        "Remeasurement by owner",
        ("owner", "name", *_REMEASURE_HEADER),
        lambda s: ((r.key, r.label, *_remeasure_cells(r)) for r in s.remeasure_by_owner),
    ),
    "remeasure_unit": TableSpec(
        "Remeasurement by unit",
        ("unit", "name", *_REMEASURE_HEADER),
        lambda s: ((r.key, r.label, *_remeasure_cells(r)) for r in s.remeasure_by_unit),
    ),
    "sla_owner": TableSpec(
        "SLA met by owner",
        ("owner", "name", "closed", "met", "missed", "met_pct"),
        lambda s: ((r.key, r.label, r.closed, r.met, r.missed, r.met_pct) for r in s.sla_by_owner),
    ),
    "sla_unit": TableSpec(
        "SLA met by unit",
        ("unit", "name", "closed", "met", "missed", "met_pct"),
        lambda s: ((r.key, r.label, r.closed, r.met, r.missed, r.met_pct) for r in s.sla_by_unit),
    ),
    "trend": TableSpec(
        "Trend",
        ("start", "end", "opened", "closed", "resolved", "went_overdue"),
        lambda s: (
            (p.start.isoformat(), p.end.isoformat(), p.opened, p.closed, p.resolved, p.went_overdue)
            for p in s.trend.points
        ),
    ),
    "fyi": TableSpec(
        "FYI alerts by unit",
        ("unit", "name", "compliments", "suggestions", "total"),
        lambda s: (
            (r.unit_id, r.label, r.compliments, r.suggestions, r.total) for r in s.fyi.by_unit
        ),
    ),
}


def stream_table_csv(summary_: ReportSummary, name: str) -> Iterator[str]:
    spec = TABLES[name]
    yield from csv_lines(iter([spec.header]))
    yield from csv_lines(iter(spec.rows(summary_)))
