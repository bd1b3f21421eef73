"""Business-time arithmetic: exact instants, because an SLA off by an hour is a wrong SLA."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from activities.calendar import CalendarActivities
from domain.calendar import BusinessCalendar, Duration, parse_duration, validate_duration
from domain.deadlines import DeadlineRequest, Deadlines, compute_deadlines
from domain.policy import (
    CalendarSpec,
    CasePolicy,
    DayHours,
    EscalationPolicy,
    RemeasurePolicy,
    SlaPolicy,
)
from domain.vocabulary import Priority

NY = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
SYDNEY = ZoneInfo("Australia/Sydney")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NY)


def us_calendar(**overrides: object) -> BusinessCalendar:
    spec = CalendarSpec(timezone="America/New_York", holiday_country="US")
    for key, value in overrides.items():
        setattr(spec, key, value)
    return BusinessCalendar(spec)


def always_open(timezone: str = "UTC") -> BusinessCalendar:
    return BusinessCalendar(CalendarSpec(timezone=timezone, always_open=True))


def make_policy(
    calendar: CalendarSpec | None = None,
    sla: SlaPolicy | None = None,
    escalation: EscalationPolicy | None = None,
) -> CasePolicy:
    return CasePolicy(
        program_id="p1",
        program_name="Retail",
        calendar=calendar or CalendarSpec(timezone="America/New_York", holiday_country="US"),
        sla=sla or SlaPolicy(),
        escalation=escalation or EscalationPolicy(),
        remeasure=RemeasurePolicy(),
        root_causes=[],
        resolution_methods=[],
    )


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 business day", Duration("business_days", 1.0)),
        ("3 business days", Duration("business_days", 3.0)),
        ("1.5 business days", Duration("business_days", 1.5)),
        ("4 business hours", Duration("business_minutes", 240.0)),
        ("1 Business Hour", Duration("business_minutes", 60.0)),
        ("90 business minutes", Duration("business_minutes", 90.0)),
        ("  2 business  days ", Duration("business_days", 2.0)),
        ("PT30M", Duration("wall", 30.0)),
        ("PT4H", Duration("wall", 240.0)),
        ("P2D", Duration("wall", 2880.0)),
        ("P1DT2H", Duration("wall", 1560.0)),
        ("PT1H30M", Duration("wall", 90.0)),
        ("P1W", Duration("wall", 10080.0)),
        ("PT90S", Duration("wall", 1.5)),
    ],
)
def test_parse_duration(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "3 days", "business days", "-1 business day", "1 business week", "P", "PT", "P1DT", "P1M",
     "P1Y", "30M", "PT30", "1 business day extra"],
)  # fmt: skip
def test_parse_duration_rejects_with_the_bad_text(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration") as info:
        parse_duration(text)
    assert repr(text) in str(info.value)


def test_validate_duration() -> None:
    assert validate_duration("4 business hours") == "4 business hours"
    with pytest.raises(ValueError, match="'soon'"):
        validate_duration("soon")


# ---------------------------------------------------------------- spec validation


def test_rejects_naive_datetimes() -> None:
    calendar = us_calendar()
    naive = datetime(2026, 5, 22, 16, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.add(naive, "1 business day")
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.is_open(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.business_seconds_between(naive, utc(2026, 5, 23))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (CalendarSpec(timezone="Mars/Olympus"), "time zone"),
        (CalendarSpec(holiday_country="XX"), "holiday region"),
        (CalendarSpec(holiday_country="US", holiday_subdivision="ZZ"), "holiday region"),
        (CalendarSpec(week=[DayHours()] * 6), "7 days"),
        (CalendarSpec(week=[DayHours(None, None)] * 7), "no opening hours"),
        (CalendarSpec(week=[DayHours("17:00", "09:00")] * 7), "after"),
        (CalendarSpec(week=[DayHours("9am", "17:00")] * 7), "HH:MM"),
        (CalendarSpec(week=[DayHours("09:00", None)] * 7), "both"),
    ],
)
def test_rejects_bad_specs(spec: CalendarSpec, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(spec)


def test_rejects_non_positive_factor() -> None:
    with pytest.raises(ValueError, match="factor"):
        us_calendar().add(ny(2026, 5, 18, 10, 0), "1 business day", factor=0)


# ---------------------------------------------------------------- opening hours


def test_is_open_and_next_opening() -> None:
    calendar = us_calendar()
    assert calendar.is_open(ny(2026, 5, 22, 9, 0))
    assert calendar.is_open(ny(2026, 5, 22, 16, 59))
    assert not calendar.is_open(ny(2026, 5, 22, 17, 0))  # closing is exclusive
    assert not calendar.is_open(ny(2026, 5, 23, 12, 0))  # Saturday
    assert not calendar.is_open(ny(2026, 5, 25, 12, 0))  # Memorial Day
    assert calendar.next_opening(ny(2026, 5, 22, 10, 0)) == utc(2026, 5, 22, 14, 0)
    # Friday after hours -> Tuesday, skipping the weekend and Memorial Day.
    assert calendar.next_opening(ny(2026, 5, 22, 17, 0)) == utc(2026, 5, 26, 13, 0)


# ---------------------------------------------------------------- business days


def test_friday_afternoon_before_a_monday_holiday() -> None:
    calendar = us_calendar()
    start = ny(2026, 5, 22, 16, 0)  # Friday before Memorial Day (Mon 2026-05-25), EDT
    assert calendar.add(start, "1 business day") == utc(2026, 5, 26, 20, 0)  # Tue 16:00
    assert calendar.add(start, "3 business days") == utc(2026, 5, 28, 20, 0)  # Thu 16:00


def test_night_arrival_starts_counting_at_next_opening() -> None:
    calendar = us_calendar()
    start = ny(2026, 5, 26, 22, 0)  # Tuesday night
    assert calendar.next_opening(start) == utc(2026, 5, 27, 13, 0)  # Wed 09:00 EDT
    assert calendar.add(start, "1 business day") == utc(2026, 5, 28, 13, 0)  # Thu 09:00
    assert calendar.add(start, "2 business hours") == utc(2026, 5, 27, 15, 0)  # Wed 11:00


def test_output_is_utc_whatever_the_input_zone() -> None:
    calendar = us_calendar()
    due = calendar.add(utc(2026, 5, 22, 20, 0), "1 business day")  # same instant as Fri 16:00 NY
    assert due == utc(2026, 5, 26, 20, 0)
    assert due.tzinfo is UTC


def test_tokyo_unit_through_golden_week() -> None:
    calendar = BusinessCalendar(CalendarSpec(timezone="Asia/Tokyo", holiday_country="JP"))
    start = utc(2026, 4, 30, 1, 0)
    assert start == datetime(2026, 4, 30, 10, 0, tzinfo=TOKYO)  # Thursday
    assert calendar.add(start, "1 business day") == utc(2026, 5, 1, 1, 0)  # Fri 10:00 JST
    # May 4-6 are holidays (Greenery Day, Children's Day, substitute holiday): next is Thu 7th.
    assert calendar.add(start, "2 business days") == utc(2026, 5, 7, 1, 0)
    assert calendar.add(start, "3 business days") == utc(2026, 5, 8, 1, 0)
    # 08:00 UTC is 17:00 JST: closed, so counting starts Fri 09:00 JST (00:00 UTC).
    assert calendar.add(utc(2026, 4, 30, 8, 0), "1 business day") == utc(2026, 5, 7, 0, 0)


def test_sydney_unit_across_dst_start_and_a_holiday() -> None:
    spec = CalendarSpec(
        timezone="Australia/Sydney", holiday_country="AU", holiday_subdivision="NSW"
    )
    calendar = BusinessCalendar(spec)
    start = datetime(2026, 10, 2, 16, 0, tzinfo=SYDNEY)  # Fri 16:00 AEST (+10) = 06:00 UTC
    assert start == utc(2026, 10, 2, 6, 0)
    # Clocks go forward Sun 4 Oct; Mon 5 Oct is Labour Day; Tue 16:00 AEDT (+11) = 05:00 UTC.
    assert calendar.add(start, "1 business day") == utc(2026, 10, 6, 5, 0)


def test_dst_keeps_local_clock_time() -> None:
    calendar = us_calendar()
    start = ny(2026, 3, 6, 16, 0)  # Fri 16:00 EST = 21:00 UTC; DST starts Sun 8 March
    assert start == utc(2026, 3, 6, 21, 0)
    assert calendar.add(start, "1 business day") == utc(2026, 3, 9, 20, 0)  # Mon 16:00 EDT
    assert calendar.add(start, "2 business hours") == utc(2026, 3, 9, 14, 0)  # Mon 10:00 EDT
    assert calendar.business_seconds_between(ny(2026, 3, 6, 9, 0), ny(2026, 3, 9, 17, 0)) == (
        16 * 3600
    )


def test_dst_on_a_24x7_calendar() -> None:
    calendar = always_open("America/New_York")
    start = ny(2026, 3, 7, 12, 0)  # Sat 12:00 EST = 17:00 UTC
    # A business day keeps the local clock: Sun 12:00 EDT, only 23 real hours later.
    assert calendar.add(start, "1 business day") == utc(2026, 3, 8, 16, 0)
    # Hours and wall-clock durations are real elapsed time.
    assert calendar.add(start, "24 business hours") == utc(2026, 3, 8, 17, 0)
    assert calendar.add(start, "P1D") == utc(2026, 3, 8, 17, 0)
    # 02:30 does not exist on Sun 8 March: it resolves forward to 03:30 EDT.
    assert calendar.add(ny(2026, 3, 7, 2, 30), "1 business day") == utc(2026, 3, 8, 7, 30)


def test_fall_back_keeps_local_clock_time() -> None:
    calendar = us_calendar()
    start = ny(2026, 10, 30, 16, 0)  # Fri 16:00 EDT = 20:00 UTC; DST ends Sun 1 November
    assert calendar.add(start, "1 business day") == utc(2026, 11, 2, 21, 0)  # Mon 16:00 EST


def test_clock_time_is_clamped_into_the_target_days_hours() -> None:
    week = [
        DayHours("09:00", "17:00"),
        DayHours("09:00", "17:00"),
        DayHours("11:00", "17:00"),  # Wednesday opens late
        DayHours("09:00", "17:00"),
        DayHours("09:00", "13:00"),  # Friday closes early
        DayHours(None, None),
        DayHours(None, None),
    ]
    calendar = us_calendar(week=week)
    assert calendar.add(ny(2026, 5, 21, 15, 0), "1 business day") == utc(2026, 5, 22, 17, 0)
    assert calendar.add(ny(2026, 5, 19, 9, 30), "1 business day") == utc(2026, 5, 20, 15, 0)


def test_extra_program_holidays() -> None:
    calendar = BusinessCalendar(
        CalendarSpec(timezone="America/New_York", extra_holidays=[date(2026, 5, 19)])
    )
    assert calendar.is_holiday(date(2026, 5, 19))
    assert not calendar.is_open(ny(2026, 5, 19, 10, 0))
    # No country: Memorial Day is a normal day here.
    assert calendar.is_open(ny(2026, 5, 25, 10, 0))
    assert calendar.add(ny(2026, 5, 18, 10, 0), "1 business day") == utc(2026, 5, 20, 14, 0)
    # Combined with the national calendar.
    us = us_calendar(extra_holidays=[date(2026, 5, 26)])
    assert us.add(ny(2026, 5, 22, 16, 0), "1 business day") == utc(2026, 5, 27, 20, 0)


def test_fractional_days_use_the_first_open_days_length() -> None:
    calendar = us_calendar()
    start = ny(2026, 5, 22, 16, 0)
    # 1.5 days = Tue 16:00 + 4 business hours -> Wed 12:00 EDT.
    assert calendar.add(start, "1.5 business days") == utc(2026, 5, 27, 16, 0)
    assert calendar.add(start, "3 business days", factor=0.5) == utc(2026, 5, 27, 16, 0)
    # Standard day from Monday 10:00-14:00 = 4 hours, even though other days are longer.
    week = [DayHours("10:00", "14:00")] + [DayHours()] * 4 + [DayHours(None, None)] * 2
    short_monday = us_calendar(week=week)
    assert short_monday.standard_day_minutes == 240
    assert short_monday.add(ny(2026, 5, 19, 9, 0), "0.5 business days") == utc(2026, 5, 19, 15, 0)


# ---------------------------------------------------------------- business hours and wall clock


def test_business_hours_across_a_weekend() -> None:
    calendar = us_calendar()
    start = ny(2026, 5, 15, 15, 0)  # Fri 15:00 EDT
    assert calendar.add(start, "4 business hours") == utc(2026, 5, 18, 15, 0)  # Mon 11:00
    assert calendar.add(start, "2 business hours") == utc(2026, 5, 15, 21, 0)  # Fri 17:00 sharp
    assert calendar.add(start, "90 business minutes") == utc(2026, 5, 15, 20, 30)


def test_wall_clock_durations_on_24x7() -> None:
    calendar = always_open()
    start = utc(2026, 5, 22, 20, 0)
    assert calendar.add(start, "PT30M") == utc(2026, 5, 22, 20, 30)
    assert calendar.add(start, "P2D") == utc(2026, 5, 24, 20, 0)
    assert calendar.add(start, "P2D", factor=0.5) == utc(2026, 5, 23, 20, 0)
    assert calendar.add(start, "4 business hours") == utc(2026, 5, 23, 0, 0)
    assert calendar.is_open(utc(2026, 12, 25, 3, 0))


def test_wall_clock_durations_ignore_business_hours() -> None:
    calendar = us_calendar()
    start = ny(2026, 5, 22, 16, 50)
    assert calendar.add(start, "PT30M") == utc(2026, 5, 22, 21, 20)  # 17:20, after closing
    assert calendar.add(start, "P2D") == utc(2026, 5, 24, 20, 50)  # a Sunday


# ---------------------------------------------------------------- subtract


def test_subtract_business_time() -> None:
    calendar = us_calendar()
    assert calendar.subtract(ny(2026, 5, 26, 16, 0), "4 business hours") == utc(2026, 5, 26, 16, 0)
    # Tue 09:00-10:00 is one hour, the other three come from Friday before the long weekend.
    assert calendar.subtract(ny(2026, 5, 26, 10, 0), "4 business hours") == utc(2026, 5, 22, 18, 0)
    # From a closed instant: counting back starts at the last closing.
    assert calendar.subtract(ny(2026, 5, 23, 12, 0), "1 business hour") == utc(2026, 5, 22, 20, 0)
    assert calendar.subtract(ny(2026, 5, 26, 16, 0), "1 business day") == utc(2026, 5, 22, 20, 0)
    assert calendar.subtract(ny(2026, 5, 27, 12, 0), "1.5 business days") == utc(2026, 5, 22, 20, 0)
    assert calendar.subtract(ny(2026, 5, 26, 16, 0), "PT30M") == utc(2026, 5, 26, 19, 30)


def test_subtract_is_the_inverse_of_add() -> None:
    calendar = us_calendar()
    start = ny(2026, 5, 21, 11, 15)
    for text in ("1 business day", "3 business days", "2.25 business days", "13 business hours"):
        assert calendar.subtract(calendar.add(start, text), text) == start


# ---------------------------------------------------------------- business_seconds_between


def test_business_seconds_between() -> None:
    calendar = us_calendar()
    friday, tuesday = ny(2026, 5, 22, 16, 0), ny(2026, 5, 26, 10, 0)
    assert calendar.business_seconds_between(friday, tuesday) == 2 * 3600
    assert calendar.business_seconds_between(tuesday, friday) == 0
    assert calendar.business_seconds_between(friday, friday) == 0
    assert calendar.business_seconds_between(ny(2026, 5, 23, 1, 0), ny(2026, 5, 24, 1, 0)) == 0
    assert always_open().business_seconds_between(friday, tuesday) == 90 * 3600


# ---------------------------------------------------------------- compute_deadlines


def test_compute_deadlines_default_policy() -> None:
    req = DeadlineRequest(
        start=ny(2026, 5, 22, 16, 0), policy=make_policy(), priority=Priority.NORMAL
    )
    assert compute_deadlines(req) == Deadlines(
        open_due_at=utc(2026, 5, 26, 20, 0),  # Tue 16:00 EDT
        open_warn_at=utc(2026, 5, 26, 16, 0),  # Tue 12:00 EDT
        resolve_due_at=utc(2026, 5, 28, 20, 0),  # Thu 16:00 EDT
        resolve_warn_at=utc(2026, 5, 28, 16, 0),  # Thu 12:00 EDT
    )


def test_compute_deadlines_urgent_factor() -> None:
    req = DeadlineRequest(
        start=ny(2026, 5, 22, 16, 0), policy=make_policy(), priority=Priority.URGENT
    )
    assert compute_deadlines(req) == Deadlines(
        # Half a day = 4 business hours: Fri 16:00-17:00, then Tue 09:00-12:00.
        open_due_at=utc(2026, 5, 26, 16, 0),
        # 4 business hours before that is the start itself: no warning.
        open_warn_at=None,
        # 1.5 days: Tue 16:00 plus 4 business hours -> Wed 12:00.
        resolve_due_at=utc(2026, 5, 27, 16, 0),
        resolve_warn_at=utc(2026, 5, 26, 20, 0),  # Tue 16:00 EDT
    )


def test_compute_deadlines_reassignment_and_selection() -> None:
    policy = make_policy(escalation=EscalationPolicy(reassign_resolve_within="2 business days"))
    start = ny(2026, 5, 18, 10, 0)
    req = DeadlineRequest(
        start=start, policy=policy, priority=Priority.NORMAL, open=False, after_reassignment=True
    )
    assert compute_deadlines(req) == Deadlines(
        open_due_at=None,
        open_warn_at=None,
        resolve_due_at=utc(2026, 5, 20, 14, 0),
        resolve_warn_at=utc(2026, 5, 19, 18, 0),  # Tue 14:00 EDT
    )
    # Without a reassign duration the normal resolve duration applies.
    req.policy = make_policy()
    assert compute_deadlines(req).resolve_due_at == utc(2026, 5, 21, 14, 0)


def test_compute_deadlines_wall_clock_on_a_business_calendar() -> None:
    sla = SlaPolicy(open_within="PT30M", resolve_within="P2D", warn_before="PT1H")
    req = DeadlineRequest(
        start=ny(2026, 5, 22, 16, 50), policy=make_policy(sla=sla), priority=Priority.LOW
    )
    assert compute_deadlines(req) == Deadlines(
        open_due_at=utc(2026, 5, 22, 21, 20),
        open_warn_at=None,
        resolve_due_at=utc(2026, 5, 24, 20, 50),
        resolve_warn_at=utc(2026, 5, 24, 19, 50),
    )


def test_compute_deadlines_24x7_program_with_business_warning() -> None:
    sla = SlaPolicy(open_within="PT4H", resolve_within="P1D", warn_before="2 business hours")
    calendar = CalendarSpec(timezone="Europe/London", always_open=True)
    req = DeadlineRequest(
        start=utc(2026, 5, 23, 22, 0),
        policy=make_policy(calendar=calendar, sla=sla),
        priority=Priority.NORMAL,
        resolve=True,
    )
    assert compute_deadlines(req) == Deadlines(
        open_due_at=utc(2026, 5, 24, 2, 0),
        open_warn_at=utc(2026, 5, 24, 0, 0),
        resolve_due_at=utc(2026, 5, 24, 22, 0),
        resolve_warn_at=utc(2026, 5, 24, 20, 0),
    )


def test_compute_deadlines_without_warning() -> None:
    sla = SlaPolicy(warn_before=None)
    req = DeadlineRequest(
        start=ny(2026, 5, 22, 16, 0), policy=make_policy(sla=sla), priority=Priority.HIGH
    )
    result = compute_deadlines(req)
    assert result.open_warn_at is None and result.resolve_warn_at is None
    assert result.resolve_due_at == utc(2026, 5, 28, 20, 0)


def test_activity_delegates_to_the_pure_function() -> None:
    req = DeadlineRequest(
        start=ny(2026, 5, 22, 16, 0), policy=make_policy(), priority=Priority.NORMAL
    )
    result = asyncio.run(CalendarActivities().compute_deadlines(req))
    assert result == compute_deadlines(req)
