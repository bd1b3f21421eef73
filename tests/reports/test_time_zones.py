"""Local days across daylight-saving switches, on SQLite and PostgreSQL (the dialect-specific SQL).

The lifecycle tests cover a case that crosses midnight in Oslo; these rows are written straight
into the read model at instants chosen around the switches, where an off-by-one-hour bucket would
show.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from domain.calendar import business_minutes
from domain.policy import CalendarSpec
from models.case import Case
from services.reports import EVERYTHING, ReportFilters, summary

INSTANTS = [
    # spring forward in Oslo: 2026-03-29 01:00 UTC
    datetime(2026, 3, 28, 22, 59, tzinfo=UTC),  # 23:59 CET, the 28th
    datetime(2026, 3, 28, 23, 0, tzinfo=UTC),  # 00:00 CET, the 29th
    datetime(2026, 3, 29, 21, 59, tzinfo=UTC),  # 23:59 CEST, the 29th
    datetime(2026, 3, 29, 22, 0, tzinfo=UTC),  # 00:00 CEST, the 30th
    # fall back: 2026-10-25 01:00 UTC
    datetime(2026, 10, 24, 21, 59, tzinfo=UTC),  # 23:59 CEST, the 24th
    datetime(2026, 10, 24, 22, 0, tzinfo=UTC),  # 00:00 CEST, the 25th
    datetime(2026, 10, 25, 22, 59, tzinfo=UTC),  # 23:59 CET, the 25th
    datetime(2026, 10, 25, 23, 0, tzinfo=UTC),  # 00:00 CET, the 26th
]


def add_cases(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Rows straight into the read model: program p, unit u, email, owner o unless given."""
    defaults = {"program_id": "p", "unit_id": "u", "channel": "email", "owner_id": "o"}
    with Session(engine) as session:
        for row in rows:
            session.add(Case(**(defaults | row)))
        session.commit()


def seed(engine: Engine) -> None:
    add_cases(
        engine,
        [{"id": f"Z-{n:03d}", "status": "new", "created_at": at} for n, at in enumerate(INSTANTS)],
    )


def opened(engine: Engine, f: ReportFilters) -> dict[str, int]:
    points = summary(engine, f, EVERYTHING).trend.points
    return {p.start.isoformat(): p.opened for p in points if p.opened}


def test_days_and_weeks_follow_daylight_saving(any_engine: Engine) -> None:
    seed(any_engine)
    spring = ReportFilters(date(2026, 3, 27), date(2026, 3, 31), tz="Europe/Oslo")
    assert opened(any_engine, spring) == {"2026-03-28": 1, "2026-03-29": 2, "2026-03-30": 1}
    autumn = ReportFilters(date(2026, 10, 23), date(2026, 10, 27), tz="Europe/Oslo")
    assert opened(any_engine, autumn) == {"2026-10-24": 1, "2026-10-25": 2, "2026-10-26": 1}
    # The same instants in UTC and in a zone with a half-hour offset.
    utc = ReportFilters(date(2026, 3, 27), date(2026, 3, 31), tz="UTC")
    assert opened(any_engine, utc) == {"2026-03-28": 2, "2026-03-29": 2}
    kolkata = ReportFilters(date(2026, 3, 27), date(2026, 3, 31), tz="Asia/Kolkata")
    assert opened(any_engine, kolkata) == {"2026-03-29": 2, "2026-03-30": 2}
    # A local-day range is exactly those local days (both ends included).
    one_day = ReportFilters(date(2026, 3, 29), date(2026, 3, 29), tz="Europe/Oslo")
    assert summary(any_engine, one_day, EVERYTHING).cases.total == 2
    # Weeks start on Monday: 2026-03-23 and 2026-03-30 (clipped to the range's first day).
    weeks = ReportFilters(date(2026, 3, 25), date(2026, 4, 5), tz="Europe/Oslo", bucket="week")
    assert opened(any_engine, weeks) == {"2026-03-25": 3, "2026-03-30": 1}
    whole = ReportFilters(date(2026, 3, 1), date(2026, 10, 31), tz="Europe/Oslo")
    assert whole.trend_bucket == "week"
    assert sum(opened(any_engine, whole).values()) == len(INSTANTS)


def test_business_minutes_for_the_projection() -> None:
    """The helper the projection uses for the business-hour columns (Mon-Fri 09-17 Oslo)."""
    oslo = CalendarSpec(timezone="Europe/Oslo")
    friday_4pm = datetime(2026, 3, 27, 15, 0, tzinfo=UTC)  # 16:00 CET
    monday_10am = datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # 10:00 CEST
    assert business_minutes(oslo, friday_4pm, monday_10am) == 60 + 60
    assert business_minutes(oslo, friday_4pm, None) is None
    assert business_minutes(CalendarSpec(always_open=True), friday_4pm, monday_10am) == 65 * 60


def test_root_cause_filter_with_awkward_names(any_engine: Engine) -> None:
    """The root-cause filter's text pre-match never loses a case (quotes, %, _, accents)."""
    odd = ['Café "Le Coin"', "50% off_list", "back\\slash"]
    add_cases(
        any_engine,
        [
            {
                "id": f"R-{n:03d}",
                "status": "closed",
                "is_open": False,
                "closing_status": "resolved",
                "root_causes": causes,
                "created_at": INSTANTS[0],
            }
            for n, causes in enumerate(
                [[odd[0]], [odd[1], "staff"], [odd[2]], ["Cafe"], ["50x off list"]]
            )
        ],
    )
    day = INSTANTS[0].date()
    for cause in odd:
        f = ReportFilters(day, day, root_causes=(cause,))
        s = summary(any_engine, f, EVERYTHING)
        assert s.cases.total == 1, cause
        assert cause in {r.root_cause for r in s.root_causes}
    both = ReportFilters(day, day, root_causes=(odd[1], "staff"))
    assert summary(any_engine, both, EVERYTHING).cases.total == 1
