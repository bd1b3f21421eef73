"""A case's deadlines from its policy: when the first action and the close are due, and when
to warn before each. Pure: the same request always gives the same deadlines (the workflow runs
it as an activity only so the result is recorded in history)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from domain.calendar import BusinessCalendar, Duration, require_aware
from domain.policy import CalendarSpec, CasePolicy
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


@dataclass
class PauseLimitRequest:
    """When a pause that starts at `paused_at` ends by itself (the program's `max_pause`)."""

    calendar: CalendarSpec
    paused_at: datetime
    max_pause: str


def pause_limit(req: PauseLimitRequest) -> datetime:
    require_aware(req.paused_at, "paused_at")
    return BusinessCalendar(req.calendar).add(req.paused_at.astimezone(UTC), req.max_pause)


@dataclass
class ShiftRequest:
    """A pause from `paused_at` to `resumed_at` ended: move the paused metrics' deadlines (those
    set in `deadlines`; None stays None) by the paused business time.

    `resolve_from`: the resolve clock restarted during the pause (a reassignment, an
    escalation): the resolve deadlines move by the business time from then on only.
    `business_seconds`: move by this much instead (a recomputed deadline catches up with the
    pauses since its clock started)."""

    calendar: CalendarSpec
    paused_at: datetime
    resumed_at: datetime
    deadlines: Deadlines
    resolve_from: datetime | None = None
    business_seconds: int | None = None


@dataclass
class Shifted:
    business_seconds: int
    deadlines: Deadlines


def shift_deadlines(req: ShiftRequest) -> Shifted:
    """Each deadline moves by exactly the business time the case was paused: the business time
    between the old and the new deadline equals the business time between pause and resume."""
    require_aware(req.paused_at, "paused_at")
    require_aware(req.resumed_at, "resumed_at")
    calendar = BusinessCalendar(req.calendar)

    def paused_from(start: datetime) -> int:
        if req.business_seconds is not None:
            return req.business_seconds
        return round(calendar.business_seconds_between(start, req.resumed_at))

    def moved(at: datetime | None, seconds: int) -> datetime | None:
        if at is None or seconds <= 0:
            return at
        return calendar.add(at, Duration("business_minutes", seconds / 60))

    seconds = paused_from(req.paused_at)
    resolve_seconds = seconds
    if req.resolve_from is not None and req.resolve_from > req.paused_at:
        resolve_seconds = paused_from(req.resolve_from)
    d = req.deadlines
    return Shifted(
        max(seconds, 0),
        Deadlines(
            open_due_at=moved(d.open_due_at, seconds),
            open_warn_at=moved(d.open_warn_at, seconds),
            resolve_due_at=moved(d.resolve_due_at, resolve_seconds),
            resolve_warn_at=moved(d.resolve_warn_at, resolve_seconds),
        ),
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
