"""A case's deadlines from its policy: when the first action and the close are due, and when
to warn before each. Pure: the same request always gives the same deadlines (the workflow runs
it as an activity only so the result is recorded in history)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from domain.calendar import BusinessCalendar, require_aware
from domain.policy import CasePolicy
from domain.vocabulary import CaseStatus, Priority


@dataclass
class DeadlineRequest:
    start: datetime
    policy: CasePolicy
    priority: Priority
    # Which deadlines to compute: "open" and/or "resolve" (resolve may use the reassign duration).
    open: bool = True
    resolve: bool = True
    after_reassignment: bool = False


@dataclass
class Deadlines:
    open_due_at: datetime | None
    open_warn_at: datetime | None
    resolve_due_at: datetime | None
    resolve_warn_at: datetime | None


def _warning(
    calendar: BusinessCalendar, start: datetime, due: datetime, warn_before: str | None
) -> datetime | None:
    if warn_before is None:
        return None
    warn_at = calendar.subtract(due, warn_before)
    # A warning at or before the case opened is noise: the case is already that close to due.
    return warn_at if warn_at > start else None


def compute_deadlines(req: DeadlineRequest) -> Deadlines:
    """Deadlines for a case (or a new owner), per the program's snapshotted calendar and SLA."""
    require_aware(req.start, "start")
    start = req.start.astimezone(UTC)
    sla = req.policy.sla
    calendar = BusinessCalendar(req.policy.calendar)
    factor = sla.priority_factors.get(req.priority.value, 1.0)

    open_due = open_warn = resolve_due = resolve_warn = None
    if req.open:
        open_due = calendar.add(start, sla.open_within, factor)
        open_warn = _warning(calendar, start, open_due, sla.warn_before)
    if req.resolve:
        resolve_within = sla.resolve_within
        if req.after_reassignment and req.policy.escalation.reassign_resolve_within:
            resolve_within = req.policy.escalation.reassign_resolve_within
        resolve_due = calendar.add(start, resolve_within, factor)
        resolve_warn = _warning(calendar, start, resolve_due, sla.warn_before)
    return Deadlines(
        open_due_at=open_due,
        open_warn_at=open_warn,
        resolve_due_at=resolve_due,
        resolve_warn_at=resolve_warn,
    )


def missed_deadline(
    *,
    status: str,
    open_due_at: datetime | None,
    open_breached: bool,
    resolve_due_at: datetime | None,
    resolve_breached: bool,
    now: datetime,
) -> datetime | None:
    """The deadline an open case has missed (resolve first, else first contact); None when it
    is on time. An overdue case keeps its missed first-contact deadline even though its next
    deadline (to resolve) lies ahead: the inbox says how late it is, not how long is left."""
    if resolve_due_at is not None and (resolve_breached or resolve_due_at <= now):
        return resolve_due_at
    if open_due_at is not None and (
        open_breached or (status == CaseStatus.NEW and open_due_at <= now)
    ):
        return open_due_at
    return None


def business_hours_late(calendar: BusinessCalendar, missed: datetime, now: datetime) -> int:
    """Whole business hours from a missed deadline to now on the case's calendar."""
    return int(calendar.business_seconds_between(missed, now) // 3600)
