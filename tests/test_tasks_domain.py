"""The pure rules of tasks and mentions (domain/tasks.py): due times and reminders in business
time of the case's calendar, and who a note mentions."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from domain.policy import CalendarSpec
from domain.tasks import (
    TaskScheduleRequest,
    due_in_problem,
    due_on_problem,
    mentions,
    task_schedule,
)

OSLO = CalendarSpec(timezone="Europe/Oslo")
FRIDAY_14 = datetime(2026, 12, 4, 13, 0, tzinfo=UTC)  # 14:00 in Oslo


def test_business_hours_across_a_weekend_and_the_reminder_at_four_fifths() -> None:
    s = task_schedule(TaskScheduleRequest(OSLO, FRIDAY_14, "8 business hours"))
    assert s.due_at == datetime(2026, 12, 7, 13, 0, tzinfo=UTC)  # Monday 14:00
    assert s.remind_at == datetime(2026, 12, 7, 11, 24, tzinfo=UTC)  # Monday 12:24


def test_a_date_is_due_at_its_close_of_business_and_a_closed_day_at_the_one_before() -> None:
    s = task_schedule(TaskScheduleRequest(OSLO, FRIDAY_14, due_on=date(2026, 12, 8)))
    assert s.due_at == datetime(2026, 12, 8, 16, 0, tzinfo=UTC)  # Tuesday 17:00
    sunday = task_schedule(TaskScheduleRequest(OSLO, FRIDAY_14, due_on=date(2026, 12, 6)))
    assert sunday.due_at == datetime(2026, 12, 4, 16, 0, tzinfo=UTC)  # Friday 17:00
    past = task_schedule(TaskScheduleRequest(OSLO, FRIDAY_14, due_on=date(2026, 12, 1)))
    assert past.due_at is not None and past.remind_at is None  # overdue at once, no reminder


def test_no_due_time_no_reminder() -> None:
    s = task_schedule(TaskScheduleRequest(OSLO, FRIDAY_14))
    assert (s.due_at, s.remind_at) == (None, None)


@pytest.mark.parametrize("text", ["soon", "0 business hours", "P400D", ""])
def test_due_durations_that_are_no_plan(text: str) -> None:
    assert due_in_problem(text) is not None


def test_mentions_are_handles_once_each_never_email_addresses() -> None:
    text = "@ole please call (@mia), mail kari@example.com; @ole again.\n@fred."
    assert mentions(text) == ["ole", "mia", "fred"]
    assert mentions("no one") == [] and mentions("") == []


def test_a_due_date_within_a_year() -> None:
    today = date(2026, 12, 3)
    assert due_on_problem(date(2026, 12, 24), today) is None
    assert due_on_problem(date(9999, 12, 31), today) is not None
    assert due_on_problem(date(2020, 1, 1), today) is not None


def test_erasure_keeps_whose_task_it_was_not_its_title() -> None:
    from domain.erasure import scrub_event

    data = {"task_id": "1", "title": "Call Kari on 555 12345", "user_id": "mia"}
    summary, kept = scrub_event("task_added", "Task for mia: Call Kari on 555 12345", data)
    assert kept == {"task_id": "1", "user_id": "mia"} and "Kari" not in summary
    assert scrub_event("mentioned", "Mentioned mia", {"user_id": "mia", "note": 3})[1] == {
        "user_id": "mia"
    }
