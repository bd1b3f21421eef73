"""SLA accounting of one case: how long it took to respond and to resolve, how long it waited,
whether each deadline was met, and whose watch a breach happened on.

Pure: the projection (activities/projection.py) measures a case from its row and its timeline
each time it writes it, so reports aggregate plain columns. The definitions:

- First response: creation → the case's first owner action, `first_action_at` (the first note,
  contact attempt, document or reply, or the close): the same instant that stops the open
  deadline in the workflow.
- Resolution: creation → the (last) close, `closed_at`; a reopened case is measured to its
  latest close.
- Paused: the waiting-on-the-customer intervals of the timeline, `paused` → `resumed` (or the
  `closed` that ended a pause). A pause still running is not counted yet.
- Wall seconds are elapsed time. Business seconds are open time on the case's calendar, less
  the paused business time inside the metric's interval when the program pauses that metric.
- Met / breached: compared with the metric's deadline, which the workflow already moved by the
  paused business time. First response breached: the first action came after `open_due_at`,
  or the open deadline passed with none (the workflow's open `overdue` event). Resolution
  breached: a resolve deadline passed before the close (the workflow's `escalated` or resolve
  `overdue` event, recorded when it passed), or the close came after `resolve_due_at`. Met: the
  action happened with no breach. None: not yet decided (or no deadline).
- Breach owner: the owner when the deadline passed, from the timeline's assignments (`opened`
  owner, `reassigned` / `escalated` to); an escalation names its late owner itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.calendar import BusinessCalendar
from domain.policy import CalendarSpec
from domain.vocabulary import EventKind, PauseMetric

# The timeline kinds the accounting reads (the projection loads only these).
SLA_EVENT_KINDS = (
    EventKind.OPENED,
    EventKind.REASSIGNED,
    EventKind.ESCALATED,
    EventKind.OVERDUE,
    EventKind.PAUSED,
    EventKind.RESUMED,
    EventKind.CLOSED,
)


@dataclass(frozen=True)
class SlaEvent:
    """A timeline event as the accounting needs it (no summary, no personal data)."""

    at: datetime
    kind: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class SlaFigures:
    first_response_seconds: int | None = None
    first_response_business_seconds: int | None = None
    resolution_seconds: int | None = None
    resolution_business_seconds: int | None = None
    paused_seconds: int = 0
    paused_business_seconds: int | None = None
    first_response_met: bool | None = None
    resolution_met: bool | None = None
    first_response_breach_owner: str | None = None
    resolution_breach_owner: str | None = None

    def columns(self) -> dict[str, Any]:
        """The read model's `sla_*` columns (models/case.py)."""
        return {f"sla_{k}": v for k, v in self.__dict__.items()}


def pause_spans(events: Iterable[SlaEvent]) -> list[Span]:
    """The finished pauses: each `paused` up to the next `resumed` or `closed`."""
    spans: list[Span] = []
    started: datetime | None = None
    for e in sorted(events, key=lambda e: e.at):
        if e.kind == EventKind.PAUSED and started is None:
            started = e.at
        elif e.kind in (EventKind.RESUMED, EventKind.CLOSED) and started is not None:
            spans.append(Span(started, e.at))
            started = None
    return spans


def owner_at(events: Iterable[SlaEvent], at: datetime, fallback: str) -> str:
    """The owner just before `at`: the last assignment earlier than it (an event at the very
    instant, such as the escalation a breach causes, is already the next owner's)."""
    owner: str | None = None
    for e in sorted(events, key=lambda e: e.at):
        to = _assigned_to(e)
        if to is None:
            continue
        if owner is None or e.at < at:
            owner = to
        else:
            break
    return owner or fallback


_ASSIGNEE_KEY = {EventKind.OPENED: "owner", EventKind.REASSIGNED: "to", EventKind.ESCALATED: "to"}


def _assigned_to(e: SlaEvent) -> str | None:
    key = _ASSIGNEE_KEY.get(e.kind)  # type: ignore[call-overload]
    value = e.data.get(key) if key else None
    return str(value) if value else None


def paused_business_seconds(
    calendar: BusinessCalendar, spans: Sequence[Span], start: datetime, end: datetime
) -> int:
    """Business seconds of the pauses inside [start, end]."""
    total = 0.0
    for s in spans:
        lo, hi = max(s.start, start), min(s.end, end)
        if hi > lo:
            total += calendar.business_seconds_between(lo, hi)
    return round(total)


def _is_resolve_breach(e: SlaEvent) -> bool:
    """The workflow records a missed resolve deadline as an escalation or as an `overdue`
    carrying the escalation level; a missed open deadline's `overdue` carries none."""
    return e.kind == EventKind.ESCALATED or (e.kind == EventKind.OVERDUE and "level" in e.data)


def measure(
    *,
    created_at: datetime,
    first_action_at: datetime | None,
    closed_at: datetime | None,
    open_due_at: datetime | None,
    resolve_due_at: datetime | None,
    owner_id: str,
    events: Sequence[SlaEvent],
    calendar: CalendarSpec | None,
    pause_metrics: Iterable[str],
) -> SlaFigures:
    """The SLA figures of one case (see the module's docstring for every definition).

    Without a calendar (a projection from before cases carried one) the business figures stay
    None; the wall figures and the verdicts need none."""
    metrics = {PauseMetric(m) for m in pause_metrics}
    spans = pause_spans(events)
    cal = BusinessCalendar(calendar) if calendar is not None else None
    ordered = sorted(events, key=lambda e: e.at)

    def wall(end: datetime | None) -> int | None:
        return None if end is None else round((end - created_at).total_seconds())

    def business(end: datetime | None, metric: PauseMetric) -> int | None:
        if end is None or cal is None:
            return None
        gross = round(cal.business_seconds_between(created_at, end))
        if metric in metrics:
            gross -= paused_business_seconds(cal, spans, created_at, end)
        return max(gross, 0)

    # First response.
    open_breach: datetime | None = next(
        (e.at for e in ordered if e.kind == EventKind.OVERDUE and "level" not in e.data), None
    )
    if open_breach is None and first_action_at and open_due_at and first_action_at > open_due_at:
        open_breach = open_due_at
    first_met: bool | None = None
    if open_breach is not None:
        first_met = False
    elif first_action_at is not None and open_due_at is not None:
        first_met = True

    # Resolution.
    resolve_event = next((e for e in ordered if _is_resolve_breach(e)), None)
    resolve_owner: str | None = None
    if resolve_event is not None:
        late = resolve_event.data.get("from") if resolve_event.kind == EventKind.ESCALATED else None
        resolve_owner = str(late) if late else owner_at(ordered, resolve_event.at, owner_id)
    elif closed_at and resolve_due_at and closed_at > resolve_due_at:
        resolve_owner = owner_at(ordered, resolve_due_at, owner_id)
    resolve_met: bool | None = None
    if resolve_owner is not None:
        resolve_met = False
    elif closed_at is not None and resolve_due_at is not None:
        resolve_met = True

    return SlaFigures(
        first_response_seconds=wall(first_action_at),
        first_response_business_seconds=business(first_action_at, PauseMetric.OPEN),
        resolution_seconds=wall(closed_at),
        resolution_business_seconds=business(closed_at, PauseMetric.RESOLVE),
        paused_seconds=round(sum((s.end - s.start).total_seconds() for s in spans)),
        paused_business_seconds=(
            None
            if cal is None
            else round(sum(cal.business_seconds_between(s.start, s.end) for s in spans))
        ),
        first_response_met=first_met,
        resolution_met=resolve_met,
        first_response_breach_owner=(
            owner_at(ordered, open_breach, owner_id) if open_breach is not None else None
        ),
        resolution_breach_owner=resolve_owner,
    )
