"""The report as CSV: the case list behind any figure (streamed) and each of the report's tables.

The case list streams: PostgreSQL writes the CSV itself (`COPY (SELECT ...) TO STDOUT`);
SQLite's rows come through a server-side cursor in batches. No cell ever starts a formula in a
spreadsheet (CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, Numeric, Select, case, cast, extract, func, literal, select

from domain.vocabulary import CaseStatus
from models.reports import AgeRow, RemeasureStats, ReportSummary, RootCauseRow, SlaStats, TrendPoint
from services.reports.dialect import Dialect
from services.reports.figures import pct
from services.reports.filters import ReportFilters, Segment
from services.reports.queries import case_list_query, pg_settings
from services.reports.where import (
    Scope,
    base_conditions,
    c,
    check_scope,
    is_closed,
    went_overdue,
)

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
    # SLA accounting (domain/sla.py): hours with the paused business time excluded from the
    # business figures of the metrics that pause; the owners on whose watch a deadline passed.
    "first_response_hours",
    "first_response_business_hours",
    "resolution_hours",
    "resolution_business_hours",
    "paused_business_hours",
    "first_response_met",
    "resolution_met",
    "first_response_breach_owner",
    "resolution_breach_owner",
)
# The seconds columns the CSV writes as hours.
SLA_SECONDS = (
    "sla_first_response_seconds",
    "sla_first_response_business_seconds",
    "sla_resolution_seconds",
    "sla_resolution_business_seconds",
    "sla_paused_business_seconds",
)


def seconds_as_hours(seconds: int | None) -> str | None:
    return None if seconds is None else f"{seconds / 3600.0:.2f}"


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _case_csv_row(r: Any) -> list[Any]:
    def hours(end: datetime | None) -> str | None:
        if end is None:
            return None
        return f"{(_utc(end) - _utc(r.created_at)).total_seconds() / 3600.0:.2f}"

    closed = r.status == CaseStatus.CLOSED
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
        *[seconds_as_hours(getattr(r, name)) for name in SLA_SECONDS],
        r.sla_first_response_met,
        r.sla_resolution_met,
        r.sla_first_response_breach_owner,
        r.sla_resolution_breach_owner,
    ]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _pg_case_csv_query(
    f: ReportFilters, scope: Scope, seg: Segment, now: datetime | None
) -> Select[Any]:
    """The case list formatted as CSV cells by PostgreSQL itself (same cells as `_case_csv_row`)."""
    d = Dialect("postgresql")

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
        *[func.to_char(cast(c[name] / 3600.0, Numeric), "FM999999990.00") for name in SLA_SECONDS],
        case((c.sla_first_response_met.is_(None), None), else_=yes_no(c.sla_first_response_met)),
        case((c.sla_resolution_met.is_(None), None), else_=yes_no(c.sla_resolution_met)),
        safe(c.sla_first_response_breach_owner),
        safe(c.sla_resolution_breach_owner),
    ]
    stmt = select(*[cell.label(name) for cell, name in zip(cells, CASE_CSV_HEADER, strict=True)])
    where = base_conditions(d, f, scope, seg, now=now)
    return stmt.where(*where).order_by(c.created_at.desc(), c.id.desc())


def _pg_copy_csv(engine: Engine, stmt: Select[Any], chunk: int) -> Iterator[bytes]:
    """`COPY (query) TO STDOUT (FORMAT csv, HEADER)`: PostgreSQL writes the CSV, streamed."""
    compiled = stmt.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
    sql = f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv, HEADER true)"
    raw = engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        with driver.cursor() as cur:
            pg_settings(cur)
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
    engine: Engine,
    f: ReportFilters,
    scope: Scope,
    seg: Segment,
    *,
    batch: int = 2000,
    now: datetime | None = None,
) -> Iterator[bytes]:
    """The whole filtered case list as CSV, streamed: nothing but one batch is held in memory.

    PostgreSQL writes the CSV itself (`COPY (SELECT ...) TO STDOUT`, rows flow as the index scan
    finds them); elsewhere rows are read through a server-side cursor in batches of `batch` and
    written by Python, the header first so that a download starts at once.
    """
    check_scope(f, scope)
    if engine.dialect.name == "postgresql":
        yield from _pg_copy_csv(engine, _pg_case_csv_query(f, scope, seg, now), 64 * 1024)
        return
    yield "".join(csv_lines(iter([CASE_CSV_HEADER]))).encode()
    with engine.connect() as conn:
        stmt = case_list_query(conn.dialect.name, f, scope, seg, now=now)
        result = conn.execution_options(stream_results=True, yield_per=batch).execute(stmt)
        for part in result.partitions():
            yield "".join(csv_lines(_case_csv_row(r) for r in part)).encode()


@dataclass(frozen=True)
class TableSpec:
    title: str
    header: tuple[str, ...]
    rows: Callable[[ReportSummary], Iterator[Sequence[Any]]]
    note: str = field(default="")


# The tables' columns are their figures' own fields, in the schema's order (a rate in %).
ROOT_CAUSE = tuple(RootCauseRow.model_fields)
REMEASURE = tuple(RemeasureStats.model_fields)
SLA = tuple(SlaStats.model_fields)
TREND = tuple(TrendPoint.model_fields)
AGE = tuple(name for name in AgeRow.model_fields if name != "key")
REMEASURE_HEADER = tuple(f"{n}_pct" if n.endswith("_rate") else n for n in REMEASURE)


def _cells(item: BaseModel, names: Sequence[str]) -> list[Any]:
    return [getattr(item, name) for name in names]


def _overview_rows(s: ReportSummary) -> Iterator[Sequence[Any]]:
    yield ("cases", s.cases.total, None)
    for key in ("open", *CaseStatus):
        yield (f"status {key}", getattr(s.cases, key), pct(getattr(s.cases, key), s.cases.total))
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
            (k, getattr(s.cases, k), pct(getattr(s.cases, k), s.cases.total)) for k in CaseStatus
        ),
    ),
    "channel": TableSpec(
        "Cases by channel",
        ("channel", "label", "cases", "pct"),
        lambda s: ((r.key, r.label, r.count, r.pct) for r in s.by_channel),
    ),
    "root_causes": TableSpec(
        "Root causes and closing status",
        ROOT_CAUSE,
        lambda s: (_cells(r, ROOT_CAUSE) for r in s.root_causes),
    ),
    "remeasure_root_cause": TableSpec(
        "Remeasurement by root cause",
        ("root_cause", *REMEASURE_HEADER),
        lambda s: ((r.key, *_cells(r, REMEASURE)) for r in s.remeasure_by_root_cause),
    ),
    "remeasure_owner": TableSpec(
        "Remeasurement by owner",
        ("owner", "name", *REMEASURE_HEADER),
        lambda s: ((r.key, r.label, *_cells(r, REMEASURE)) for r in s.remeasure_by_owner),
    ),
    "remeasure_unit": TableSpec(
        "Remeasurement by unit",
        ("unit", "name", *REMEASURE_HEADER),
        lambda s: ((r.key, r.label, *_cells(r, REMEASURE)) for r in s.remeasure_by_unit),
    ),
    "sla_owner": TableSpec(
        "SLA met by owner",
        ("owner", "name", *SLA),
        lambda s: ((r.key, r.label, *_cells(r, SLA)) for r in s.sla_by_owner),
    ),
    "sla_unit": TableSpec(
        "SLA met by unit",
        ("unit", "name", *SLA),
        lambda s: ((r.key, r.label, *_cells(r, SLA)) for r in s.sla_by_unit),
    ),
    "open_age": TableSpec(
        "Open cases by age",
        ("age", *AGE),
        lambda s: ((r.key, *_cells(r, AGE)) for r in s.open_by_age),
    ),
    "trend": TableSpec(
        "Trend",
        TREND,
        lambda s: (_cells(p, TREND) for p in s.trend.points),
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
