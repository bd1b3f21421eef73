"""Every figure of the dashboard, exactly, on SQLite and PostgreSQL (see conftest's story)."""

from __future__ import annotations

import statistics
from datetime import timedelta
from typing import Any

import pytest

from models.reports import ReportSummary
from services.reports import (
    EVERYTHING,
    ReportFilters,
    ReportForbidden,
    ReportInvalid,
    Scope,
    Segment,
    count_cases,
    list_cases,
    offset_changes,
    summary,
    zone,
)
from tests.reports.conftest import Population


def figures(pop: Population, scope: Scope = EVERYTHING, **kw: Any) -> ReportSummary:
    return summary(pop.engine, pop.filters(**kw), scope)


def hours_between(pop: Population, keys: str, end: str) -> list[float]:
    out = []
    for key in keys:
        case = pop.case(key)
        at = getattr(case, end)
        assert at is not None, (key, end)
        out.append((at - case.created_at).total_seconds() / 3600)
    return out


def rows(items: list[Any], *fields: str) -> dict[str, tuple[Any, ...]]:
    return {r.key: tuple(getattr(r, f) for f in fields) for r in items}


async def test_the_story_played_as_written(population: Population) -> None:
    """The population is what the figures below assume (through the real lifecycle)."""
    got = {
        k: (c.status, c.closing_status, c.went_overdue, c.escalation_level, c.remeasure_status)
        for k in population.ids
        for c in [population.case(k)]
    }
    assert got == {
        "A": ("closed", "resolved", False, 0, "answered"),
        "B": ("closed", "unresolved", False, 0, "not_applicable"),
        "C": ("in_progress", None, True, 0, "answered"),
        "D": ("overdue", None, True, 1, "not_applicable"),
        "E": ("in_progress", None, False, 0, "not_applicable"),
        "F": ("closed", "resolved", False, 0, "expired"),
        "G": ("closed", "resolved", True, 0, "pending"),
        "H": ("overdue", None, True, 0, "not_applicable"),
        "I": ("new", None, False, 0, "not_applicable"),
        "J": ("closed", "resolved", False, 0, "not_applicable"),
    }
    c = population.case("C")
    assert (c.reopened_count, c.recovery_failed, c.root_causes) == (1, True, ["product"])
    assert population.case("D").owner_id == "mia"


async def test_counts_status_channel_closing_and_deadlines(population: Population) -> None:
    s = figures(population)
    assert s.cases.model_dump() == {
        "total": 10,
        "open": 5,
        "new": 1,
        "in_progress": 2,
        "overdue": 2,
        "closed": 5,
    }
    assert [(r.key, r.label, r.count, r.pct) for r in s.by_channel] == [
        ("contact_center", "Contact center", 3, 30.0),
        ("email", "Email", 2, 20.0),
        ("phone", "Phone", 2, 20.0),
        ("chat", "Chat", 1, 10.0),
        ("social_media", "Social media", 1, 10.0),
        ("web_form", "Web form", 1, 10.0),
    ]
    assert s.closing.model_dump() == {
        "closed": 5,
        "resolved": 4,
        "unresolved": 1,
        "resolved_pct": 80.0,
        "unresolved_pct": 20.0,
    }
    assert s.deadlines.model_dump() == {
        "went_overdue": 4,
        "went_overdue_pct": 40.0,
        "escalated": 1,
        "escalated_pct": 10.0,
        "reopened": 1,
    }


async def test_time_to_close_and_to_first_action(population: Population) -> None:
    s = figures(population)
    close = hours_between(population, "ABFGJ", "closed_at")
    first = hours_between(population, "ABCEFGJ", "first_action_at")
    # What the story planned (real seconds pass between steps, hence the tolerance) ...
    assert statistics.mean(close) == pytest.approx(11.5 / 5, abs=0.02)
    assert statistics.median(close) == pytest.approx(1.5, abs=0.02)
    assert statistics.mean(first) == pytest.approx(13 / 7, abs=0.02)
    assert statistics.median(first) == pytest.approx(1.0, abs=0.02)
    # ... and exactly what SQL must say about the stored timestamps.
    assert s.time_to_close.cases == 5
    assert s.time_to_close.avg_hours == round(statistics.mean(close), 2)
    assert s.time_to_close.median_hours == round(statistics.median(close), 2)
    assert s.time_to_first_action.cases == 7
    assert s.time_to_first_action.avg_hours == round(statistics.mean(first), 2)
    assert s.time_to_first_action.median_hours == round(statistics.median(first), 2)
    # Program calendars here are 24x7: business time is wall time, in whole minutes as stored.
    close_min = [round(h * 60) for h in close]
    first_min = [round(h * 60) for h in first]
    assert s.time_to_close.avg_business_hours == round(statistics.mean(close_min) / 60, 2)
    assert s.time_to_close.median_business_hours == round(statistics.median(close_min) / 60, 2)
    assert s.time_to_first_action.avg_business_hours == round(statistics.mean(first_min) / 60, 2)
    assert s.time_to_first_action.median_business_hours == round(
        statistics.median(first_min) / 60, 2
    )


async def test_root_causes_and_closing_status_by_root_cause(population: Population) -> None:
    s = figures(population)
    # Closed cases only: C's [product] belongs to a close the customer rejected (reopened).
    assert [r.model_dump() for r in s.root_causes] == [
        {
            "root_cause": "staff",
            "closed": 4,
            "pct_of_closed": 80.0,
            "resolved": 3,
            "unresolved": 1,
            "resolved_pct": 75.0,
        },
        {
            "root_cause": "billing",
            "closed": 1,
            "pct_of_closed": 20.0,
            "resolved": 0,
            "unresolved": 1,
            "resolved_pct": 0.0,
        },
        {
            "root_cause": "wait time",
            "closed": 1,
            "pct_of_closed": 20.0,
            "resolved": 1,
            "unresolved": 0,
            "resolved_pct": 100.0,
        },
    ]


REMEASURE = ("surveyed", "answered", "expired", "pending", "response_rate", "avg_satisfaction")
RECOVERY = ("recovered", "failed", "recovery_rate")


async def test_remeasurement_overall_by_root_cause_owner_and_unit(population: Population) -> None:
    s = figures(population)
    assert s.remeasure.model_dump() == {
        "surveyed": 4,
        "answered": 2,
        "expired": 1,
        "pending": 1,
        "response_rate": 50.0,
        "avg_satisfaction": 3.0,
        "recovered": 1,
        "failed": 1,
        "recovery_rate": 50.0,
    }
    fields = (*REMEASURE, *RECOVERY)
    # The reopened case C keeps its root cause: its failed recovery counts against "product".
    assert rows(s.remeasure_by_root_cause, *fields) == {
        "staff": (2, 1, 0, 1, 50.0, 5.0, 1, 0, 100.0),
        "product": (1, 1, 0, 0, 100.0, 1.0, 0, 1, 0.0),
        "wait time": (1, 0, 1, 0, 0.0, None, 0, 0, None),
    }
    assert rows(s.remeasure_by_owner, "label", *fields) == {
        "ole": ("Ole Owner", 3, 2, 1, 0, 66.7, 3.0, 1, 1, 50.0),
        "alex": ("Alex Agent", 1, 0, 0, 1, 0.0, None, 0, 0, None),
    }
    assert rows(s.remeasure_by_unit, "label", *fields) == {
        "4723": ("Oslo Harbour", 3, 2, 1, 0, 66.7, 3.0, 1, 1, 50.0),
        "9000": ("Bergen Quay", 1, 0, 0, 1, 0.0, None, 0, 0, None),
    }


async def test_sla_met_overall_by_owner_and_unit(population: Population) -> None:
    s = figures(population)
    assert s.sla.model_dump() == {"closed": 5, "met": 4, "missed": 1, "met_pct": 80.0}
    assert rows(s.sla_by_owner, "label", "closed", "met", "missed", "met_pct") == {
        "ole": ("Ole Owner", 4, 4, 0, 100.0),
        "alex": ("Alex Agent", 1, 0, 1, 0.0),
    }
    assert rows(s.sla_by_unit, "closed", "met", "missed", "met_pct") == {
        "4723": (4, 4, 0, 100.0),
        "9000": (1, 0, 1, 0.0),
    }


async def test_fyis_by_unit(population: Population) -> None:
    s = figures(population)
    assert s.fyi.total == 4
    assert [(r.unit_id, r.label, r.compliments, r.suggestions, r.total) for r in s.fyi.by_unit] == [
        ("4723", "Oslo Harbour", 2, 1, 3),
        ("9000", "Bergen Quay", 1, 0, 1),
    ]
    # FYIs follow the unit filter (and ignore case-only filters such as the channel).
    s = figures(population, unit_id="9000", channel="email")
    assert (s.fyi.total, [r.unit_id for r in s.fyi.by_unit]) == (1, ["9000"])


def trend(s: ReportSummary) -> dict[str, tuple[int, int, int, int]]:
    return {
        p.start.isoformat(): (p.opened, p.closed, p.resolved, p.went_overdue)
        for p in s.trend.points
        if p.opened
    }


async def test_trend_days_follow_the_reports_time_zone(population: Population) -> None:
    d = population.day
    d1 = d + timedelta(days=1)
    # UTC: H (23:30) is on day D with the others; I (04:30 the next morning) on D+1.
    s = figures(population)
    assert s.trend.bucket == "day"
    assert trend(s) == {d.isoformat(): (9, 5, 4, 4), d1.isoformat(): (1, 0, 0, 0)}
    assert sum(p.opened for p in s.trend.points) == 10
    # Oslo: H was opened after local midnight, so it moves to D+1 (with its overdue flag).
    s = figures(population, tz="Europe/Oslo")
    assert trend(s) == {d.isoformat(): (8, 5, 4, 3), d1.isoformat(): (2, 0, 0, 1)}
    # Weekly buckets start on Monday and are clipped to the range.
    s = figures(population, bucket="week")
    assert s.trend.bucket == "week"
    assert sum(p.opened for p in s.trend.points) == 10
    assert all(p.start.weekday() == 0 or p.start == s.filters.date_from for p in s.trend.points)


async def test_date_range_is_local_days_in_the_time_zone(population: Population) -> None:
    d = population.day
    utc = figures(population, date_from=d, date_to=d)
    oslo = figures(population, date_from=d, date_to=d, tz="Europe/Oslo")
    assert (utc.cases.total, oslo.cases.total) == (9, 8)
    next_day = figures(
        population, date_from=d + timedelta(days=1), date_to=d + timedelta(days=1), tz="Europe/Oslo"
    )
    assert next_day.cases.total == 2


async def test_filters_program_unit_channel_owner_and_root_cause(population: Population) -> None:
    s = figures(population, program_id="care")
    assert (s.cases.total, s.closing.resolved, s.remeasure.surveyed, s.remeasure.response_rate) == (
        1,
        1,
        0,
        None,
    )
    s = figures(population, unit_id="9000")
    assert (s.cases.total, s.cases.overdue, s.cases.closed, s.sla.met_pct) == (2, 1, 1, 0.0)
    s = figures(population, channel="contact_center")
    assert (s.cases.total, s.closing.resolved, s.remeasure.expired) == (3, 2, 1)
    s = figures(population, root_causes=("staff",))
    assert (s.cases.total, s.closing.resolved, s.closing.unresolved) == (4, 3, 1)
    assert [(r.root_cause, r.closed) for r in s.root_causes] == [("staff", 4), ("billing", 1)]
    s = figures(population, root_causes=("staff", "billing"))
    assert s.cases.total == 1


async def test_edge_case_no_cases(population: Population) -> None:
    s = figures(
        population,
        date_from=population.day - timedelta(days=400),
        date_to=population.day - timedelta(days=370),
    )
    assert s.cases.total == 0 and s.by_channel == [] and s.root_causes == []
    assert s.closing.resolved_pct is None and s.deadlines.went_overdue_pct is None
    assert s.time_to_close.model_dump() == {
        "cases": 0,
        "avg_hours": None,
        "median_hours": None,
        "avg_business_hours": None,
        "median_business_hours": None,
        "median_approximate": False,
    }
    assert s.remeasure.response_rate is None and s.remeasure.avg_satisfaction is None
    assert s.sla.met_pct is None and s.sla_by_owner == [] and s.remeasure_by_owner == []
    assert len(s.trend.points) == 31 and all(p.opened == 0 for p in s.trend.points)
    assert s.fyi.total == 0


async def test_edge_case_all_open(population: Population) -> None:
    # Everything mia owns is D, escalated to her and still open.
    s = figures(population, owner_id="mia")
    assert s.cases.model_dump() == {
        "total": 1,
        "open": 1,
        "new": 0,
        "in_progress": 0,
        "overdue": 1,
        "closed": 0,
    }
    assert (s.closing.closed, s.closing.resolved_pct, s.closing.unresolved_pct) == (0, None, None)
    assert (s.deadlines.escalated, s.deadlines.escalated_pct) == (1, 100.0)
    assert (s.time_to_close.cases, s.time_to_close.avg_hours, s.time_to_close.median_hours) == (
        0,
        None,
        None,
    )
    assert s.time_to_first_action.cases == 0 and s.time_to_first_action.median_hours is None
    assert s.sla.model_dump() == {"closed": 0, "met": 0, "missed": 0, "met_pct": None}
    assert s.root_causes == [] and s.remeasure.surveyed == 0


async def test_edge_case_reopened_after_failed_recovery(population: Population) -> None:
    s = figures(population, root_causes=("product",))
    assert (s.cases.total, s.cases.in_progress, s.cases.closed, s.deadlines.reopened) == (
        1,
        1,
        0,
        1,
    )
    assert s.root_causes == []  # not closed any more
    assert rows(s.remeasure_by_root_cause, "answered", "failed", "recovery_rate") == {
        "product": (1, 1, 0.0)
    }
    # The closed-case time is not counted for a reopened case; its first action still is.
    assert (s.time_to_close.cases, s.time_to_first_action.cases) == (0, 1)


async def test_managers_see_only_their_units(population: Population) -> None:
    from domain.permissions import Viewer
    from domain.vocabulary import Role
    from services.reports import scope_for

    mia = scope_for(Viewer("mia", "Mia", Role.MANAGER, ("4723",)))
    assert mia == Scope(("4723",))
    s = summary(population.engine, population.filters(), mia)
    assert s.cases.total == 8
    assert {r.key for r in s.sla_by_unit} | {r.key for r in s.remeasure_by_unit} == {"4723"}
    assert [r.unit_id for r in s.fyi.by_unit] == ["4723"]
    assert "alex" not in {r.key for r in s.sla_by_owner}
    assert s.filters.units_in_scope == ["4723"]
    # Asking for another unit is refused, not silently emptied.
    with pytest.raises(ReportForbidden):
        summary(population.engine, population.filters(unit_id="9000"), mia)
    with pytest.raises(ReportForbidden):
        list_cases(population.engine, population.filters(unit_id="9000"), mia, Segment())
    # A manager of no unit sees nothing (agents see their own cases: test_my_figures.py).
    nobody = scope_for(Viewer("x", "X", Role.MANAGER, ()))
    assert summary(population.engine, population.filters(), nobody).cases.total == 0


DRILLS: list[tuple[dict[str, Any], Any]] = [
    ({"status": "new"}, lambda s: s.cases.new),
    ({"status": "in_progress"}, lambda s: s.cases.in_progress),
    ({"status": "overdue"}, lambda s: s.cases.overdue),
    ({"status": "closed"}, lambda s: s.cases.closed),
    ({"status": "open"}, lambda s: s.cases.open),
    ({"closing": "resolved"}, lambda s: s.closing.resolved),
    ({"closing": "unresolved"}, lambda s: s.closing.unresolved),
    ({"overdue": True}, lambda s: s.deadlines.went_overdue),
    ({"escalated": True}, lambda s: s.deadlines.escalated),
    ({"reopened": True}, lambda s: s.deadlines.reopened),
    ({"acted": True}, lambda s: s.time_to_first_action.cases),
    ({"sla": "met"}, lambda s: s.sla.met),
    ({"sla": "missed"}, lambda s: s.sla.missed),
    ({"remeasure": "surveyed"}, lambda s: s.remeasure.surveyed),
    ({"remeasure": "answered"}, lambda s: s.remeasure.answered),
    ({"remeasure": "expired"}, lambda s: s.remeasure.expired),
    ({"remeasure": "pending"}, lambda s: s.remeasure.pending),
    ({"recovery": "recovered"}, lambda s: s.remeasure.recovered),
    ({"recovery": "failed"}, lambda s: s.remeasure.failed),
]


async def test_every_segment_lists_exactly_the_cases_it_counts(population: Population) -> None:
    f = population.filters()
    s = summary(population.engine, f, EVERYTHING)
    for seg, figure in DRILLS:
        listed = list_cases(population.engine, f, EVERYTHING, Segment(**seg), limit=100)
        assert count_cases(population.engine, f, EVERYTHING, Segment(**seg)) == figure(s), seg
        assert len(listed) == figure(s), seg
    listed = list_cases(population.engine, f, EVERYTHING, Segment(recovery="failed"))
    assert [r.id for r in listed] == [population.ids["C"]]
    # Newest first, keyset pages that neither skip nor repeat.
    first = list_cases(population.engine, f, EVERYTHING, Segment(), limit=4)
    rest = list_cases(
        population.engine, f, EVERYTHING, Segment(), after=(first[-1].created_at, first[-1].id)
    )
    ids = [r.id for r in first + rest]
    assert len(ids) == len(set(ids)) == 10
    assert ids[0] == population.ids["I"]


def test_filters_are_validated() -> None:
    from datetime import date

    with pytest.raises(ReportInvalid):
        ReportFilters(date(2026, 3, 2), date(2026, 3, 1))
    with pytest.raises(ReportInvalid):
        ReportFilters(date(2026, 3, 1), date(2026, 3, 2), tz="Mars/Olympus")
    with pytest.raises(ReportInvalid):
        ReportFilters(date(2026, 3, 1), date(2026, 3, 2), tz="../../etc/passwd")
    with pytest.raises(ReportInvalid):
        ReportFilters(date(2010, 1, 1), date(2026, 1, 1))
    with pytest.raises(ReportInvalid):
        Segment(status="lost")


def test_offsets_change_exactly_at_the_daylight_saving_switch() -> None:
    from datetime import UTC, datetime

    tz = zone("Europe/Oslo")
    start = datetime(2026, 3, 28, tzinfo=UTC)
    end = datetime(2026, 3, 31, tzinfo=UTC)
    assert offset_changes(tz, start, end) == [
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), 3600),
        (end, 7200),
    ]
    assert offset_changes(zone("UTC"), start, end) == [(end, 0)]


async def test_parallel_and_sequential_queries_agree(
    population: Population, monkeypatch: Any
) -> None:
    import services.reports.queries as queries

    parallel = figures(population).model_dump(exclude={"generated_at"})
    monkeypatch.setattr(queries, "PARALLEL_QUERIES", 1)
    assert figures(population).model_dump(exclude={"generated_at"}) == parallel
