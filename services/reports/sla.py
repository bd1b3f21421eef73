"""The dashboard's SLA accounting: per metric the met share, the breaches and the median
business hours; the paused time; the breaches by the owner on whose watch they happened.

Aggregates over the projection's `sla_*` columns (domain/sla.py defines them) with the report's
own filters and scope (`base_conditions`), so each count is the size of the drill-down list it
links to (`Segment.response`, `.resolution`, `.breached_by`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, Float, cast, func, literal, select, union_all

from services.reports.dialect import Dialect
from services.reports.figures import pct
from services.reports.filters import ReportFilters
from services.reports.queries import names, run_jobs
from services.reports.where import Scope, base_conditions, c, check_scope


@dataclass
class SlaMetric:
    met: int = 0
    breached: int = 0
    met_pct: float | None = None  # of the decided (met + breached)
    median_hours: float | None = None
    median_business_hours: float | None = None


@dataclass
class BreachOwner:
    owner_id: str
    label: str
    first_response: int
    resolution: int
    cases: int  # cases with either breach on their watch


@dataclass
class SlaSummary:
    first_response: SlaMetric
    resolution: SlaMetric
    paused_cases: int = 0
    paused_hours: float = 0.0
    paused_business_hours: float = 0.0
    by_owner: list[BreachOwner] = field(default_factory=list)


def _hours(seconds: Any) -> float:
    return round(float(seconds or 0) / 3600.0, 2)


def sla_summary(engine: Engine, f: ReportFilters, scope: Scope) -> SlaSummary:
    check_scope(f, scope)
    d = Dialect(engine.dialect.name)
    where = base_conditions(d, f, scope)
    frt, res = c.sla_first_response_met, c.sla_resolution_met

    def totals(conn: Any) -> Any:
        n = func.count
        stmt = select(
            n().filter(frt.is_(True)).label("frt_met"),
            n().filter(frt.is_(False)).label("frt_breached"),
            n().filter(res.is_(True)).label("res_met"),
            n().filter(res.is_(False)).label("res_breached"),
            n().filter(c.sla_paused_seconds > 0).label("paused_cases"),
            func.sum(c.sla_paused_seconds).label("paused"),
            func.sum(c.sla_paused_business_seconds).label("paused_business"),
        ).where(*where)
        return conn.execute(stmt).one()

    def owners(conn: Any) -> list[Any]:
        """(owner, first-response breaches, resolution breaches, cases) per owner then."""
        frt_owner, res_owner = c.sla_first_response_breach_owner, c.sla_resolution_breach_owner
        both = union_all(
            select(
                frt_owner.label("owner"),
                c.id.label("case_id"),
                literal(1).label("frt"),
                literal(0).label("res"),
            ).where(*where, frt_owner.is_not(None)),
            select(
                res_owner.label("owner"),
                c.id.label("case_id"),
                literal(0).label("frt"),
                literal(1).label("res"),
            ).where(*where, res_owner.is_not(None)),
        ).subquery()
        stmt = select(
            both.c.owner,
            func.sum(both.c.frt).label("frt"),
            func.sum(both.c.res).label("res"),
            func.count(func.distinct(both.c.case_id)).label("cases"),
        ).group_by(both.c.owner)
        return list(conn.execute(stmt).all())

    def seconds(column: Any) -> Any:
        return cast(column, Float)

    medians = [
        ("frt", seconds(c.sla_first_response_seconds), c.sla_first_response_seconds.is_not(None)),
        (
            "frt_biz",
            seconds(c.sla_first_response_business_seconds),
            c.sla_first_response_business_seconds.is_not(None),
        ),
        ("res", seconds(c.sla_resolution_seconds), c.sla_resolution_seconds.is_not(None)),
        (
            "res_biz",
            seconds(c.sla_resolution_business_seconds),
            c.sla_resolution_business_seconds.is_not(None),
        ),
    ]
    got = run_jobs(
        engine,
        {
            "totals": totals,
            "owners": owners,
            "medians": lambda conn: d.medians(conn, medians, where),
        },
    )
    t, m = got["totals"], got["medians"]

    def metric(prefix: str, key: str) -> SlaMetric:
        met, breached = int(t._mapping[f"{prefix}_met"]), int(t._mapping[f"{prefix}_breached"])
        return SlaMetric(
            met=met,
            breached=breached,
            met_pct=pct(met, met + breached),
            median_hours=None if m[key] is None else _hours(m[key]),
            median_business_hours=None if m[f"{key}_biz"] is None else _hours(m[f"{key}_biz"]),
        )

    rows = got["owners"]
    people, _units = names(engine, {r.owner for r in rows}, set())
    by_owner = sorted(
        (
            BreachOwner(
                r.owner, people.get(r.owner, r.owner), int(r.frt or 0), int(r.res or 0), r.cases
            )
            for r in rows
        ),
        key=lambda b: (-b.cases, b.owner_id),
    )
    return SlaSummary(
        first_response=metric("frt", "frt"),
        resolution=metric("res", "res"),
        paused_cases=int(t.paused_cases or 0),
        paused_hours=_hours(t.paused),
        paused_business_hours=_hours(t.paused_business),
        by_owner=by_owner,
    )
