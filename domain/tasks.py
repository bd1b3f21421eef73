"""Tasks on a case and @mentions in notes (issue 18): the pure rules.

When a task is due and when its assignee is reminded are business time on the case's calendar
(computed in an activity, so a changed calendar never changes a replay). A mention is
`@user-id` in a note's text; who it names is resolved by services/mentions.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from domain.calendar import BusinessCalendar, Duration, parse_duration
from domain.policy import CalendarSpec

# The assignee is reminded when this share of the business time to the due time has passed.
REMIND_AT_SHARE = 0.8
TITLE_MAX = 200
# A due duration this long is a typo, not a plan (a year of business days).
MAX_DUE_DAYS = 260


@dataclass
class TaskScheduleRequest:
    """A task added at `now`: due after `due_in` ("8 business hours", "PT2H") or at the close
    of business on `due_on` (a local date); neither: no due time, no reminder."""

    calendar: CalendarSpec
    now: datetime
    due_in: str = ""
    due_on: date | None = None


@dataclass
class TaskSchedule:
    due_at: datetime | None = None
    remind_at: datetime | None = None


def due_in_problem(text: str) -> str | None:
    """Why `text` is no due duration; None when it is one."""
    try:
        parsed = parse_duration(text)
    except ValueError:
        return "Say when the task is due, e.g. '8 business hours' or '2 business days'"
    days = parsed.amount if parsed.kind == "business_days" else parsed.amount / (24 * 60)
    if parsed.amount <= 0 or days > MAX_DUE_DAYS:
        return f"A task is due within {MAX_DUE_DAYS} days"
    return None


def due_on_problem(day: date, today: date) -> str | None:
    """Why `day` is no due date for a task added `today`; None when it is one."""
    if not today - timedelta(days=1) <= day <= today + timedelta(days=366):
        return "A task is due within a year"
    return None


def task_schedule(req: TaskScheduleRequest) -> TaskSchedule:
    """The due time and the reminder (after REMIND_AT_SHARE of the business time between)."""
    cal = BusinessCalendar(req.calendar)
    now = req.now.astimezone(UTC)
    if req.due_in:
        due = cal.add(now, req.due_in)
    elif req.due_on is not None:
        due = cal.end_of_business_day(req.due_on)
    else:
        return TaskSchedule()
    seconds = cal.business_seconds_between(now, due)
    if seconds <= 0:
        return TaskSchedule(due_at=due)
    remind = cal.add(now, Duration("business_minutes", seconds * REMIND_AT_SHARE / 60))
    return TaskSchedule(due_at=due, remind_at=remind)


# `@` at the start or after a space or bracket, then a user id as configuration allows it.
_MENTION = re.compile(r"(?:(?<=^)|(?<=[\s(\[,;]))@([A-Za-z0-9][A-Za-z0-9._-]{0,63})")


def mentions(text: str) -> list[str]:
    """The user ids a note mentions (`@ole`), once each, in order; an email address is none."""
    found = [m.rstrip(".-_") for m in _MENTION.findall(text or "")]
    return list(dict.fromkeys(m for m in found if m))
