"""Deadlines following a program's new calendar or SLA (domain/deadline_follow.py), by hand:
Europe/Oslo, Monday to Friday 09:00-17:00; 7 December 2026 is a Monday (CET, UTC+1)."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from zoneinfo import ZoneInfo

from domain.deadline_follow import FollowRequest, deadline_change, follow_deadlines
from domain.deadlines import Deadlines
from domain.policy import (
    CalendarSpec,
    CasePolicy,
    EscalationPolicy,
    RemeasurePolicy,
    SlaPolicy,
)
from domain.vocabulary import Priority

OSLO = ZoneInfo("Europe/Oslo")


def oslo(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=OSLO)


def policy(holidays: list[date] | None = None, **sla: str) -> CasePolicy:
    return CasePolicy(
        program_id="recovery",
        program_name="Guest Recovery",
        calendar=CalendarSpec(timezone="Europe/Oslo", extra_holidays=holidays or []),
        sla=SlaPolicy(
            **{"open_within": "1 business day", "resolve_within": "2 business days"} | sla
        ),
        escalation=EscalationPolicy(),
        remeasure=RemeasurePolicy(),
        root_causes=["staff"],
        resolution_methods=[],
    )


def follow(old: CasePolicy, new: CasePolicy, now: datetime, **kw: object) -> Deadlines:
    # Opened Monday 10:00: open due Tuesday 10:00, resolve due Wednesday 10:00.
    due = Deadlines(oslo(8, 10), oslo(8, 9), oslo(9, 10), oslo(8, 14))
    return follow_deadlines(
        FollowRequest(old, new, Priority.NORMAL, now, dataclasses.replace(due, **kw))  # type: ignore[arg-type]
    )


def test_a_holiday_ahead_moves_the_deadlines_by_a_business_day() -> None:
    # Monday 12:00: 5 h + 8 h (Tuesday) + 1 h left to Wednesday 10:00; Tuesday a holiday.
    d = follow(policy(), policy([date(2026, 12, 8)]), oslo(7, 12))
    assert d.resolve_due_at == oslo(10, 10)  # Thursday 10:00
    assert d.open_due_at == oslo(9, 10)  # Wednesday 10:00
    # The warnings: 4 business hours before each (the SLA default), both still ahead.
    assert d.resolve_warn_at == oslo(9, 14) and d.open_warn_at == oslo(7, 14)


def test_a_holiday_after_the_deadline_moves_nothing() -> None:
    old = follow(policy(), policy(), oslo(7, 12))
    d = follow(policy(), policy([date(2026, 12, 14)]), oslo(7, 12))
    assert d == old
    assert d.resolve_due_at == oslo(9, 10) and d.resolve_warn_at == oslo(8, 14)


def test_a_shorter_sla_keeps_the_business_time_used() -> None:
    # Resolve within 2 business days (16 h), 3 h used by Monday 13:00: 13 h were left; now
    # 1 business day (8 h): 5 h left, Monday 13:00-17:00 and Tuesday 09:00-10:00.
    d = follow(policy(), policy(resolve_within="1 business day"), oslo(7, 13))
    assert d.resolve_due_at == oslo(8, 10)
    assert d.resolve_warn_at == oslo(7, 14)


def test_a_longer_sla_in_hours_adds_the_difference() -> None:
    # 16 h became 20 business hours: 4 h more than Wednesday 10:00, Wednesday 14:00.
    d = follow(policy(), policy(resolve_within="20 business hours"), oslo(7, 13))
    assert d.resolve_due_at == oslo(9, 14)


def test_a_deadline_the_new_rules_have_passed_falls_due_now() -> None:
    # Wednesday 09:30: 15.5 h used of a resolve SLA now 4 business hours.
    d = follow(policy(), policy(resolve_within="4 business hours"), oslo(9, 9, 30))
    assert d.resolve_due_at == oslo(9, 9, 30)
    assert d.resolve_warn_at is None


def test_a_missed_deadline_stays_missed() -> None:
    d = follow(policy(), policy([date(2026, 12, 8)]), oslo(9, 11))
    assert d.resolve_due_at == oslo(9, 10)  # missed at 10:00: not moved by the holiday


def test_a_paused_clock_counts_from_the_pause() -> None:
    # Paused Monday 12:00 (14 h left then); the holiday on Tuesday is added on Thursday:
    # the 14 h are laid out from the pause, Monday 12:00-17:00, Wednesday, the resume moves on.
    old, new = policy(), policy([date(2026, 12, 8)])
    request = FollowRequest(
        old,
        new,
        Priority.NORMAL,
        oslo(10, 12),
        Deadlines(None, None, oslo(9, 10), None),
        paused_since=oslo(7, 12),
        resolve_paused=True,
    )
    d = follow_deadlines(request)
    assert d.resolve_due_at == oslo(10, 10)


def test_the_reason_names_the_change() -> None:
    before = {"calendar": {"extra_holidays": []}, "sla": {"resolve_within": "3 business days"}}
    holiday = {**before, "calendar": {"extra_holidays": ["2026-12-24"]}}
    assert deadline_change(before, holiday) == (
        "program calendar changed (holiday added: 2026-12-24)"
    )
    shorter = {**before, "sla": {"resolve_within": "2 business days"}}
    assert deadline_change(before, shorter) == (
        "program SLA changed (resolve within 3 business days → 2 business days)"
    )
    assert deadline_change(before, {**before, "name": "Renamed"}) is None
    assert deadline_change(None, holiday) is None
