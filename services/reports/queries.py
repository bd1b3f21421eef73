"""The report's SQL: the summary's aggregate queries, run on one snapshot, and the case lists.

Nothing here loads cases into Python: each figure is a `count(*) FILTER (WHERE ...)`, a sum, a
median or a `GROUP BY` over the `case` table (and `fyi`). Five queries make the whole summary:
the overview, the trend buckets and the owner / unit / channel tables (one pass with GROUPING
SETS on PostgreSQL), the root causes, the medians, the FYIs, and the open cases by age. On
PostgreSQL they run side by side on a few connections that share one exported snapshot, so the
figures add up with each other.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Float,
    Select,
    and_,
    cast,
    func,
    or_,
    select,
    true,
    tuple_,
)

from domain.vocabulary import CaseStatus, FyiType, RemeasureStatus
from models.config import Unit, User
from services.reports import rollup
from services.reports.dialect import Dialect
from services.reports.filters import AGE_BUCKETS, ReportFilters, Segment
from services.reports.where import (
    CASES,
    FYIS,
    Scope,
    answered,
    base_conditions,
    c,
    check_scope,
    closed_with_time,
    filter_conditions,
    fyi_conditions,
    has_first_action,
    is_closed,
    is_escalated,
    is_open_now,
    is_resolved,
    is_unresolved,
    opened_ago,
    recovered,
    recovery_failed,
    sla_met,
    went_overdue,
)

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
# The groupings of the summary's main pass besides the overview and the trend buckets.
GROUP_KEYS = {"owner": c.owner_id, "unit": c.unit_id, "channel": c.channel}
# Up to this many days the medians are exact even when the rollups give the rest.
EXACT_MEDIAN_DAYS = 31


def pg_settings(conn: Any) -> None:
    """The report's session settings, on a SQLAlchemy connection or a driver cursor."""
    for statement in PG_SETTINGS:
        if isinstance(conn, Connection):
            conn.exec_driver_sql(statement)
        else:
            conn.execute(statement)


# ---------------------------------------------------------------- one snapshot, in parallel

Job = Callable[[Connection], Any]


def run_jobs(engine: Engine, jobs: dict[str, Job]) -> dict[str, Any]:
    """Run the jobs on one consistent snapshot (PostgreSQL: in parallel when a slot is free)."""
    with engine.connect() as main:
        if main.dialect.name != "postgresql":
            try:
                return {name: job(main) for name, job in jobs.items()}
            finally:
                main.rollback()
        main = main.execution_options(isolation_level="REPEATABLE READ")
        main.exec_driver_sql("SET TRANSACTION READ ONLY")
        pg_settings(main)
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
            pg_settings(conn)
            try:
                return job(conn)
            finally:
                conn.rollback()

    with ThreadPoolExecutor(PARALLEL_QUERIES, thread_name_prefix="report") as pool:
        futures = {name: pool.submit(run, job) for name, job in jobs.items()}
        return {name: fut.result() for name, fut in futures.items()}


# ---------------------------------------------------------------- the summary's queries


def figure_columns(d: Dialect, *, durations: bool) -> list[Any]:
    """Every countable figure of a group of cases, as `count(*) FILTER (WHERE ...)` and sums
    (read back by `figures.Tally`). The predicates are the drill-down lists' own."""

    def n(cond: Any) -> Any:
        return func.count().filter(cond)

    cols = [
        func.count().label("n"),
        *[n(c.status == s).label(s.value) for s in CaseStatus],
        n(is_resolved()).label("resolved"),
        n(is_unresolved()).label("unresolved"),
        n(went_overdue()).label("went_overdue"),
        n(sla_met()).label("sla_met"),
        n(answered()).label("answered"),
        n(c.remeasure_status == RemeasureStatus.EXPIRED).label("expired"),
        n(c.remeasure_status == RemeasureStatus.PENDING).label("pending"),
        func.sum(c.remeasure_score).filter(answered()).label("score_sum"),
        n(recovered()).label("recovered"),
        n(recovery_failed()).label("failed"),
    ]
    if not durations:
        return cols
    timed = closed_with_time()
    cols += [
        n(is_escalated()).label("escalated"),
        n(c.reopened_count > 0).label("reopened"),
        n(timed).label("close_n"),
        func.sum(d.seconds(c.created_at, c.closed_at)).filter(timed).label("close_sum"),
        n(has_first_action()).label("first_n"),
        func.sum(d.seconds(c.created_at, c.first_action_at)).label("first_sum"),
    ]
    biz_close, biz_first = c.business_minutes_to_close, c.business_minutes_to_first_action
    cols += [
        func.count(biz_close).filter(timed).label("biz_close_n"),
        func.sum(biz_close).filter(timed).label("biz_close_sum"),
        func.count(biz_first).label("biz_first_n"),
        func.sum(biz_first).label("biz_first_sum"),
    ]
    return cols


@dataclass
class SummaryRows:
    """What the summary's queries return, before any arithmetic."""

    groups: dict[str, list[Any]]  # all (one row), bucket, owner, unit, channel
    bucket_day: Callable[[Any], date]  # a bucket row's key -> its first day
    causes: list[Any]
    medians: dict[str, float | None]
    fyis: list[Any]
    ages: dict[str, int]  # open now, by age bucket
    approximate: bool = False  # the medians are the rollups' estimates (services/reports/rollup)


def summary_rows(engine: Engine, f: ReportFilters, scope: Scope, now: datetime) -> SummaryRows:
    check_scope(f, scope)
    d = Dialect(engine.dialect.name)
    where = base_conditions(d, f, scope)
    bucket, bucket_day = d.bucket(c.created_at, f)

    def groups(conn: Connection) -> dict[str, list[Any]]:
        """The overview, the trend buckets, and the owner, unit and channel tables.

        PostgreSQL: one pass over the cases (GROUPING SETS); SQLite: one query per grouping.
        """
        figures = figure_columns(d, durations=True)
        if d.pg:
            labelled = [bucket.label("bucket"), *[k.label(name) for name, k in GROUP_KEYS.items()]]
            sets = func.grouping_sets(
                tuple_(), tuple_(bucket), *[tuple_(k) for k in GROUP_KEYS.values()]
            )
            stmt = select(*labelled, *figures).where(*where).group_by(sets)
            out: dict[str, list[Any]] = {"all": [], "bucket": [], **{k: [] for k in GROUP_KEYS}}
            for r in conn.execute(stmt):
                # Each row has its own set's key; the others are NULL (the columns never are).
                m = r._mapping
                name = next((k for k in ("bucket", *GROUP_KEYS) if m[k] is not None), "all")
                out[name].append(r)
            return out
        by_bucket = select(bucket.label("bucket"), *figures).where(*where).group_by(bucket)
        return {
            "all": list(conn.execute(select(*figures).where(*where)).all()),
            "bucket": list(conn.execute(by_bucket).all()),
            **{
                name: list(
                    conn.execute(
                        select(k.label(name), *figure_columns(d, durations=False))
                        .where(*where)
                        .group_by(k)
                    ).all()
                )
                for name, k in GROUP_KEYS.items()
            },
        }

    rc = d.elements(c.root_causes)

    def causes(conn: Connection) -> list[Any]:
        stmt = (
            select(rc.c.value.label("key"), *figure_columns(d, durations=False))
            .select_from(CASES.join(rc, true()))
            # Only closed (or reopened) cases carry root causes; skip the rest before unnesting.
            .where(*where, or_(is_closed(), c.reopened_count > 0))
            .group_by(rc.c.value)
        )
        return list(conn.execute(stmt).all())

    medians: list[tuple[str, Any, Any]] = [
        ("close", d.seconds(c.created_at, c.closed_at), closed_with_time()),
        ("first", d.seconds(c.created_at, c.first_action_at), has_first_action()),
        ("biz_close", cast(c.business_minutes_to_close, Float), closed_with_time()),
        ("biz_first", cast(c.business_minutes_to_first_action, Float), has_first_action()),
    ]

    def ages(conn: Connection) -> dict[str, int]:
        """Open now by age, whatever the dates: one pass over the open cases in scope."""
        cols = [func.count().filter(opened_ago(key, now)).label(key) for key in AGE_BUCKETS]
        stmt = select(*cols).where(is_open_now(), *filter_conditions(d, f, scope))
        return {key: int(n or 0) for key, n in conn.execute(stmt).one()._mapping.items()}

    jobs: dict[str, Job] = {
        "groups": groups,
        "causes": causes,
        "medians": lambda conn: d.medians(conn, medians, where),
        "fyis": lambda conn: fyi_rows(conn, f, scope),
        "ages": ages,
    }
    approximate = False
    with engine.connect() as conn:
        from_rollups = rollup.answers(conn, f, scope)
    if from_rollups:
        bucket_day = _as_day
        jobs["groups"] = lambda conn: rollup.groups(conn, f)
        jobs["causes"] = lambda conn: rollup.causes(conn, f)
        if not rollup.owners_answered(f):
            jobs["owners"] = lambda conn: _owner_unit_rows(conn, d, where)
        # An exact median costs a sort of the range's cases: kept for short ranges only.
        approximate = f.days > EXACT_MEDIAN_DAYS
        if approximate:
            del jobs["medians"]
    # Longest first: they start first on the parallel connections.
    got = run_jobs(engine, jobs)
    grouped = got["groups"] | got.get("owners", {})
    meds = rollup.medians(grouped["all"][0].hist) if approximate else got["medians"]
    return SummaryRows(
        grouped, bucket_day, got["causes"], meds, got["fyis"], got["ages"], approximate
    )


def _as_day(value: Any) -> date:
    return value


def _owner_unit_rows(conn: Connection, d: Dialect, where: list[Any]) -> dict[str, list[Any]]:
    """The owner and unit tables from the case rows (a filter their rollup cannot answer)."""
    figures = figure_columns(d, durations=False)
    return {
        name: list(conn.execute(select(k.label(name), *figures).where(*where).group_by(k)).all())
        for name, k in GROUP_KEYS.items()
        if name != "channel"
    }


def fyi_rows(conn: Connection, f: ReportFilters, scope: Scope) -> list[Any]:
    fc = FYIS.c
    stmt = (
        select(
            fc.unit_id,
            func.count().filter(fc.fyi_type == FyiType.COMPLIMENT).label("compliments"),
            func.count().filter(fc.fyi_type == FyiType.SUGGESTION).label("suggestions"),
            func.count().label("total"),
        )
        .where(*fyi_conditions(f, scope))
        .group_by(fc.unit_id)
    )
    return list(conn.execute(stmt).all())


def names(
    engine: Engine, owner_ids: set[str], unit_ids: set[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """(owner names, unit names) by id, for the tables' labels."""

    def of(conn: Connection, model: Any, ids: set[str]) -> dict[str, str]:
        if not ids:
            return {}
        table = model.__table__
        rows = conn.execute(select(table.c.id, table.c.name).where(table.c.id.in_(sorted(ids))))
        return {r.id: r.name for r in rows}

    with engine.connect() as conn:
        return of(conn, User, owner_ids), of(conn, Unit, unit_ids)


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
    # SLA accounting (domain/sla.py)
    "sla_first_response_seconds",
    "sla_first_response_business_seconds",
    "sla_resolution_seconds",
    "sla_resolution_business_seconds",
    "sla_paused_business_seconds",
    "sla_first_response_met",
    "sla_resolution_met",
    "sla_first_response_breach_owner",
    "sla_resolution_breach_owner",
)


def case_list_query(
    dialect_name: str,
    f: ReportFilters,
    scope: Scope,
    seg: Segment,
    *,
    after: tuple[datetime, str] | None = None,
    now: datetime | None = None,
) -> Select[Any]:
    """The cases behind a figure, newest first (keyset on created_at, id); `now` dates an age
    segment (default: the wall clock)."""
    check_scope(f, scope)
    d = Dialect(dialect_name)
    where = base_conditions(d, f, scope, seg, now=now)
    stmt = select(*[c[name] for name in LIST_COLUMNS]).where(*where)
    if after is not None:
        at, case_id = after
        stmt = stmt.where(or_(c.created_at < at, and_(c.created_at == at, c.id < case_id)))
    return stmt.order_by(c.created_at.desc(), c.id.desc())


def count_cases(
    engine: Engine, f: ReportFilters, scope: Scope, seg: Segment, *, now: datetime | None = None
) -> int:
    check_scope(f, scope)
    with engine.connect() as conn:
        d = Dialect(conn.dialect.name)
        where = base_conditions(d, f, scope, seg, now=now)
        stmt = select(func.count()).select_from(CASES).where(*where)
        return int(conn.execute(stmt).scalar() or 0)


def list_cases(
    engine: Engine,
    f: ReportFilters,
    scope: Scope,
    seg: Segment,
    *,
    limit: int = 50,
    after: tuple[datetime, str] | None = None,
    now: datetime | None = None,
) -> list[Any]:
    with engine.connect() as conn:
        stmt = case_list_query(conn.dialect.name, f, scope, seg, after=after, now=now)
        stmt = stmt.limit(limit)
        return list(conn.execute(stmt).all())
