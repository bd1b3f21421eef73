"""The dashboard's rollups give the exact query's figures (medians: within a bucket).

Hand-built cases through the real projection (`apply_projection`), on SQLite and PostgreSQL:
opened over two months and in two zones, reassigned, closed with root causes, reopened, and a
projection retried with the same version. Each summary is taken twice, from the rollups and
from the case rows (the zone marked not ready), and compared.
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from activities.projection import ProjectRequest, apply_projection
from domain.case import CaseView
from domain.policy import CalendarSpec
from domain.rollup import PER_DOUBLING
from domain.vocabulary import CaseStatus, ClosingStatus, Priority, RemeasureStatus
from models.reports import ReportSummary
from models.rollup import CASE_ROLLUP, OWNER_ROLLUP, ROLLUP_ZONES
from services.reports import EVERYTHING, ReportFilters, Scope, summary
from services.rollup_backfill import backfill_rollups

T0 = datetime(2026, 10, 28, 22, 30, tzinfo=UTC)  # late evening: the next day in Oslo
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
ZONES = ["Europe/Oslo", "UTC"]
CALENDAR = CalendarSpec(always_open=True)


def view(n: int, version: int, **changes: Any) -> CaseView:
    created = T0 + timedelta(days=3 * n, hours=n)
    v = CaseView(
        case_id=f"C-{n:06d}",
        version=version,
        program_id="recovery" if n % 3 else "care",
        unit_id="4723" if n % 2 else "9000",
        channel=("email", "chat", "phone")[n % 3],
        customer_id=None,
        customer_name="Kari",
        status=CaseStatus.NEW,
        owner_id="ole" if n % 2 else "mia",
        watchers=[],
        priority=Priority.NORMAL,
        category="",
        reason="Cold room",
        verbatim="",
        external_ref=None,
        created_at=created,
        open_due_at=created + timedelta(days=1),
        resolve_due_at=created + timedelta(days=3),
    )
    for k, val in changes.items():
        setattr(v, k, val)
    return v


def closed(n: int, version: int, causes: list[str], hours: float, **more: Any) -> CaseView:
    v = view(n, version)
    return view(
        n,
        version,
        status=CaseStatus.CLOSED,
        closing_status=more.pop("closing", ClosingStatus.RESOLVED),
        first_action_at=v.created_at + timedelta(hours=hours / 3),
        closed_at=v.created_at + timedelta(hours=hours),
        root_causes=causes,
        **more,
    )


def project(engine: Engine, v: CaseView) -> bool:
    return apply_projection(engine, ProjectRequest(v, [], CALENDAR))


def story(engine: Engine) -> None:
    backfill_rollups(engine, ZONES)  # empty: the zones are kept from the first case on
    for n in range(12):
        project(engine, view(n, 1))
    causes = [["Staff"], ["Wait"], ["Billing", "Staff"], ["Staff", "Wait"]]
    for n in range(0, 12, 2):
        project(engine, closed(n, 2, causes[n % 4], 2.0 + 7 * n, went_overdue=n % 4 == 0))
    # Reassigned and escalated, then closed unresolved, surveyed and answered
    project(engine, view(3, 2, owner_id="alex", escalation_level=1, status=CaseStatus.IN_PROGRESS))
    project(
        engine,
        closed(
            3, 3, ["Billing"], 30, closing=ClosingStatus.UNRESOLVED, owner_id="alex",
            escalation_level=1, remeasure_status=RemeasureStatus.ANSWERED, remeasure_score=2,
            recovery_failed=True,
        ),
    )  # fmt: skip
    # Reopened: in progress again, its root causes kept
    project(engine, view(4, 3, status=CaseStatus.IN_PROGRESS, reopened_count=1,
                         root_causes=["Staff"], first_action_at=view(4, 3).created_at))  # fmt: skip
    # A retried projection (same version), and a late one (older): nothing moves twice
    again = closed(6, 2, causes[2], 44.0)
    assert project(engine, copy.deepcopy(again)) is False
    assert project(engine, view(6, 1)) is False
    # A duplicate merged into another case: out of every figure
    project(engine, view(7, 2, status=CaseStatus.CLOSED, closing_status=ClosingStatus.MERGED,
                         closed_at=view(7, 2).created_at + timedelta(hours=1)))  # fmt: skip


def both(engine: Engine, f: ReportFilters) -> tuple[ReportSummary, ReportSummary]:
    rolled = summary(engine, f, EVERYTHING, now=NOW)
    with engine.begin() as conn:
        conn.execute(update(ROLLUP_ZONES).values(ready=False))
    try:
        exact = summary(engine, f, EVERYTHING, now=NOW)
    finally:
        with engine.begin() as conn:
            conn.execute(update(ROLLUP_ZONES).values(ready=True))
    return rolled, exact


def without_medians(s: ReportSummary) -> dict[str, Any]:
    data = s.model_dump()
    for key in ("time_to_close", "time_to_first_action"):
        for name in ("median_hours", "median_business_hours", "median_approximate"):
            data[key].pop(name)
    return data


def close_enough(approx: float | None, exact: float | None) -> bool:
    """Within a bucket's width at the median's size (domain/rollup.py: 19 %, or a minute)."""
    if exact is None or approx is None:
        return approx == exact
    return abs(approx - exact) <= (2 ** (1 / PER_DOUBLING) - 1) * exact + 1 / 60


FILTERS = [
    {},
    {"tz": "Europe/Oslo"},
    {"program_id": "recovery"},
    {"channel": "email"},
    {"root_causes": ("Staff",)},
    {"root_causes": ("Billing",)},
    {"program_id": "recovery", "root_causes": ("Staff",)},
]


@pytest.mark.parametrize("extra", FILTERS, ids=lambda e: ",".join(e) or "none")
def test_rollups_give_the_exact_figures(any_engine: Engine, extra: dict[str, Any]) -> None:
    story(any_engine)
    ranges = [
        (date(2026, 10, 25), date(2026, 11, 20)),  # 27 days: exact medians
        (date(2026, 10, 29), date(2026, 12, 3)),  # a whole month and days either side
        (date(2026, 9, 1), date(2026, 12, 31)),  # whole months only
    ]
    for start, end in ranges:
        f = ReportFilters(start, end, **{"tz": "UTC", **extra})
        rolled, exact = both(any_engine, f)
        assert rolled.cases.total > 0 or extra
        assert without_medians(rolled) == without_medians(exact), (start, end)
        approx = f.days > 31
        for key in ("time_to_close", "time_to_first_action"):
            r, e = getattr(rolled, key), getattr(exact, key)
            assert r.median_approximate is approx and e.median_approximate is False
            for name in ("median_hours", "median_business_hours"):
                got, want = getattr(r, name), getattr(e, name)
                assert close_enough(got, want) if approx else got == want, (key, name)


def test_the_backfill_rebuilds_what_the_projection_kept(any_engine: Engine) -> None:
    story(any_engine)

    def table(t: Any) -> list[Any]:
        with any_engine.connect() as conn:
            rows = conn.execute(select(t).where(t.c.n != 0)).all()
        return sorted(tuple(r) for r in rows)

    kept = [table(CASE_ROLLUP), table(OWNER_ROLLUP)]
    assert kept[0] and kept[1]
    assert backfill_rollups(any_engine, ZONES) == 12
    assert [table(CASE_ROLLUP), table(OWNER_ROLLUP)] == kept


def test_what_the_rollups_cannot_answer_comes_from_the_case_rows(any_engine: Engine) -> None:
    story(any_engine)
    f = ReportFilters(date(2026, 9, 1), date(2026, 12, 31), tz="UTC")
    for scoped, filters in (
        (Scope(("4723",)), f),
        (EVERYTHING, f.model_copy(update={"owner_id": "ole"})),
        (EVERYTHING, f.model_copy(update={"root_causes": ("Staff", "Billing")})),
        (EVERYTHING, f.model_copy(update={"tz": "America/Chicago"})),  # a zone not kept
    ):
        got = summary(any_engine, filters, scoped, now=NOW)
        assert got.time_to_close.median_approximate is False
        assert got.cases.total > 0
