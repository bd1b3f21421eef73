"""What an inbox row says about its deadline, on the case's business calendar (the program's
calendar on its unit's time zone and holidays: services.configuration.policy_for)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from domain.calendar import BusinessCalendar
from domain.deadlines import business_hours_late, missed_deadline
from domain.vocabulary import CaseStatus
from services.configuration import load_program, load_unit, policy_for


@dataclass(frozen=True)
class RowDue:
    text: str  # "3 business hours past due", "5 hours to resolve", "Closed · resolved"
    urgency: str  # past | soon | ok | none | closed (the row's and the cell's style)
    detail: str = ""  # for a late case whose next deadline lies ahead: "resolve within 5 hours"


def span(delta: timedelta) -> str:
    """A duration for people: minutes under an hour, else whole hours."""
    seconds = abs(delta.total_seconds())
    if seconds < 3600:
        minutes = max(1, int(seconds // 60))
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = int(seconds // 3600)
    return f"{hours} hour{'s' if hours != 1 else ''}"


def late_text(hours: int) -> str:
    if hours < 1:
        return "Under 1 business hour past due"
    return f"{hours} business hour{'s' if hours != 1 else ''} past due"


def row_due(case: Any, calendar: BusinessCalendar | None, now: datetime) -> RowDue:
    if not case.is_open:
        how = (case.closing_status or "").replace("_", " ")
        return RowDue(f"Closed{(' · ' + how) if how else ''}", "closed")
    due = case.next_due_at
    goal = "first contact" if case.status == CaseStatus.NEW else "resolve"
    missed = missed_deadline(
        status=case.status,
        open_due_at=case.open_due_at,
        open_breached=bool(case.open_breached),
        resolve_due_at=case.resolve_due_at,
        resolve_breached=bool(case.resolve_breached),
        now=now,
    )
    if missed is None and due is not None and due <= now:
        missed = due
    if missed is not None:
        if calendar is not None:
            hours = business_hours_late(calendar, missed, now)
        else:
            hours = int((now - missed).total_seconds() // 3600)
        ahead = f"{span(due - now)} left to {goal}" if due is not None and due > now else ""
        return RowDue(late_text(hours), "past", ahead)
    if due is None:
        return RowDue("No deadline", "none")
    soon = due - now <= timedelta(hours=4)
    return RowDue(f"{span(due - now)} to {goal}", "soon" if soon else "ok")


def calendars_for(session: Session, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """The business calendar of each (program, unit) on the page (None if either is gone)."""
    out: dict[tuple[str, str], BusinessCalendar | None] = {}
    for program_id, unit_id in pairs:
        program, unit = load_program(session, program_id), load_unit(session, unit_id)
        if program is None or unit is None:
            out[(program_id, unit_id)] = None
            continue
        try:
            out[(program_id, unit_id)] = BusinessCalendar(policy_for(program, unit).calendar)
        except ValueError:
            out[(program_id, unit_id)] = None
    return out


def rows_due(session: Session, rows: list[Any], now: datetime) -> dict[str, RowDue]:
    calendars = calendars_for(session, {(c.program_id, c.unit_id) for c in rows})
    return {c.id: row_due(c, calendars[(c.program_id, c.unit_id)], now) for c in rows}
