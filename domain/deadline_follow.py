"""Deadlines that follow a program's new calendar, holidays or SLA (issue 16).

An open case keeps the business time it has already used: its clock does not restart. What is
left of a deadline is measured on the old rules (from now, or from the start of a running pause:
the clock stopped there) and laid out again on the new calendar, longer or shorter by what the
new SLA adds or takes away:

    left = (old due - now on the old calendar) + (new SLA - old SLA)
    new due = now + left on the new calendar

Pauses already taken stay excluded (the old due was moved by them). A deadline already missed
stays missed; one the new rules have already passed falls due at once (it fires now). Pure, so
the workflow runs it as a local activity and replay never recomputes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.calendar import BusinessCalendar, Duration, parse_duration, require_aware
from domain.deadlines import Deadlines
from domain.policy import CasePolicy
from domain.vocabulary import Priority


@dataclass
class FollowRequest:
    """The case's live deadlines (None: missed, or not running) under `old`, moved to `new`."""

    old: CasePolicy
    new: CasePolicy
    priority: Priority
    now: datetime
    deadlines: Deadlines
    # The resolve clock restarted for a new owner: its duration is the reassignment one.
    resolve_reassigned: bool = False
    # A running pause stopped these clocks at `paused_since` (the resume moves them on).
    paused_since: datetime | None = None
    open_paused: bool = False
    resolve_paused: bool = False


def _resolve_within(policy: CasePolicy, reassigned: bool) -> str:
    if reassigned and policy.escalation.reassign_resolve_within:
        return policy.escalation.reassign_resolve_within
    return policy.sla.resolve_within


def _length(calendar: BusinessCalendar, d: Duration, factor: float) -> float:
    """A duration in seconds of its own kind (a business day: the calendar's standard day)."""
    if d.kind == "business_days":
        return d.amount * factor * calendar.standard_day_minutes * 60
    return d.amount * factor * 60


def _measure(calendar: BusinessCalendar, d: Duration, start: datetime, end: datetime) -> float:
    if d.kind == "wall":
        return max((end - start).total_seconds(), 0.0)
    return calendar.business_seconds_between(start, end)


def _lay(calendar: BusinessCalendar, d: Duration, start: datetime, seconds: float) -> datetime:
    if d.kind == "wall":
        return start + timedelta(seconds=round(seconds))
    return calendar.add(start, Duration("business_minutes", round(seconds) / 60))


def follow_deadlines(req: FollowRequest) -> Deadlines:
    """The deadlines of `req.deadlines` on the new policy; warnings recomputed for moved ones
    (None when already past). Deadlines that do not move come back unchanged."""
    require_aware(req.now, "now")
    now = req.now.astimezone(UTC)
    old_cal, new_cal = BusinessCalendar(req.old.calendar), BusinessCalendar(req.new.calendar)
    old_factor = req.old.sla.priority_factors.get(req.priority.value, 1.0)
    new_factor = req.new.sla.priority_factors.get(req.priority.value, 1.0)

    def moved(due: datetime | None, old_text: str, new_text: str, paused: bool) -> datetime | None:
        # Whole seconds (the calendar's arithmetic is): what is left moves over exactly.
        at = (req.paused_since if paused and req.paused_since else now).replace(microsecond=0)
        if due is None or due <= at:
            return due
        old_d, new_d = parse_duration(old_text), parse_duration(new_text)
        left = (
            _measure(old_cal, old_d, at, due)
            + _length(new_cal, new_d, new_factor)
            - _length(old_cal, old_d, old_factor)
        )
        if left <= 0:  # the new rules say it is due already: it falls due now
            return at
        return _lay(new_cal, new_d, at, left)

    def warning(
        due: datetime | None, before: datetime | None, old: datetime | None
    ) -> datetime | None:
        if due == before:
            return old
        if due is None or req.new.sla.warn_before is None:
            return None
        warn = new_cal.subtract(due, req.new.sla.warn_before)
        return warn if warn > now else None

    d = req.deadlines
    open_due = moved(
        d.open_due_at, req.old.sla.open_within, req.new.sla.open_within, req.open_paused
    )
    resolve_due = moved(
        d.resolve_due_at,
        _resolve_within(req.old, req.resolve_reassigned),
        _resolve_within(req.new, req.resolve_reassigned),
        req.resolve_paused,
    )
    return Deadlines(
        open_due_at=open_due,
        open_warn_at=warning(open_due, d.open_due_at, d.open_warn_at),
        resolve_due_at=resolve_due,
        resolve_warn_at=warning(resolve_due, d.resolve_due_at, d.resolve_warn_at),
    )


def deadline_change(before: dict[str, Any] | None, after: dict[str, Any]) -> str | None:
    """Why a program change moves deadlines ("program calendar changed (holiday added:
    2026-12-24)"), from its stored states; None when its calendar and SLA are unchanged (or
    the program is new). No personal data: dates and durations only."""
    if before is None:
        return None
    parts: list[str] = []
    cal_b, cal_a = before.get("calendar") or {}, after.get("calendar") or {}
    days_b = {str(x) for x in cal_b.get("extra_holidays") or []}
    days_a = {str(x) for x in cal_a.get("extra_holidays") or []}
    what: list[str] = []
    if added := sorted(days_a - days_b):
        what.append(
            ("holiday added: " if len(added) == 1 else "holidays added: ") + ", ".join(added)
        )
    if removed := sorted(days_b - days_a):
        what.append(
            ("holiday removed: " if len(removed) == 1 else "holidays removed: ")
            + ", ".join(removed)
        )
    other = sorted(
        k for k in set(cal_a) | set(cal_b) if k != "extra_holidays" and cal_a.get(k) != cal_b.get(k)
    )
    if other:
        what.append(", ".join(k.replace("_", " ") for k in other))
    if what:
        parts.append(f"program calendar changed ({'; '.join(what)})")
    sla_b, sla_a = before.get("sla") or {}, after.get("sla") or {}
    changed = sorted(k for k in set(sla_a) | set(sla_b) if sla_a.get(k) != sla_b.get(k))
    if changed:
        said = "; ".join(
            f"{k.replace('_', ' ')} {_said(sla_b.get(k))} → {_said(sla_a.get(k))}" for k in changed
        )
        parts.append(f"program SLA changed ({said})")
    if before.get("escalation", {}).get("reassign_resolve_within") != after.get(
        "escalation", {}
    ).get("reassign_resolve_within"):
        parts.append("program deadline after reassignment changed")
    return "; ".join(parts) or None


def _said(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in sorted(value.items())) or "—"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "—"
    return str(value)
