"""The SLA accounting's definitions (domain/sla.py) on hand-computed cases.

The calendar: UTC, Monday to Friday 09:00-17:00, Wednesday 4 March 2026 a holiday. Friday
27 February 2026 is the first day of the story.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from domain.policy import CalendarSpec
from domain.sla import SlaEvent, SlaFigures, measure, owner_at, pause_spans

CAL = CalendarSpec(timezone="UTC", extra_holidays=[date(2026, 3, 4)])
H = 3600


def at(day: int, hour: int, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


FRI = at(27, 16, month=2)  # Friday 16:00


def ev(when: datetime, kind: str, **data: Any) -> SlaEvent:
    return SlaEvent(when, kind, data)


def run(
    events: list[SlaEvent], metrics: tuple[str, ...] = ("open", "resolve"), **kw: Any
) -> SlaFigures:
    args: dict[str, Any] = {
        "created_at": FRI,
        "first_action_at": None,
        "closed_at": None,
        "open_due_at": at(2, 11),
        "resolve_due_at": at(5, 11),
        "owner_id": "ole",
        "calendar": CAL,
        "pause_metrics": metrics,
    } | kw
    return measure(events=[ev(FRI, "opened", owner="ole"), *events], **args)


PAUSED_REASSIGNED = [
    ev(at(2, 10), "note"),
    ev(at(2, 11), "paused"),
    ev(at(3, 10), "resumed"),
    ev(at(3, 12), "reassigned", **{"from": "ole", "to": "mia"}),
    ev(at(5, 12), "closed"),
]


def test_a_paused_reassigned_case_closed_late() -> None:
    f = run(PAUSED_REASSIGNED, first_action_at=at(2, 10), closed_at=at(5, 12))
    # First response Fri 16:00 -> Mon 10:00: 66 wall hours; business Fri 16-17 + Mon 9-10 = 2 h.
    assert f.first_response_seconds == 66 * H
    assert f.first_response_business_seconds == 2 * H
    # Paused Mon 11:00 -> Tue 10:00: 23 wall hours; business Mon 11-17 (6) + Tue 9-10 (1) = 7 h.
    assert (f.paused_seconds, f.paused_business_seconds) == (23 * H, 7 * H)
    # Resolution Fri 16:00 -> Thu 12:00: 140 wall hours; business Fri 1 + Mon 8 + Tue 8 +
    # Wed 0 (holiday) + Thu 3 = 20 h, less the 7 paused = 13 h.
    assert f.resolution_seconds == 140 * H
    assert f.resolution_business_seconds == 13 * H
    # Responded before Mon 11:00: met. Closed after Thu 11:00: breached, on mia's watch (she
    # has owned it since Tue 12:00).
    assert (f.first_response_met, f.first_response_breach_owner) == (True, None)
    assert (f.resolution_met, f.resolution_breach_owner) == (False, "mia")


def test_a_metric_that_does_not_pause_keeps_the_paused_time() -> None:
    f = run(PAUSED_REASSIGNED, ("open",), first_action_at=at(2, 10), closed_at=at(5, 12))
    assert f.resolution_business_seconds == 20 * H  # nothing taken off
    assert f.paused_business_seconds == 7 * H  # still reported


def test_only_the_pause_inside_the_interval_is_taken_off_first_response() -> None:
    # Paused Fri 16:30 -> Mon 09:30 (business: Fri 0.5 h + Mon 0.5 h), first action Mon 10:00.
    events = [
        ev(at(27, 16, 2).replace(minute=30), "paused"),
        ev(at(2, 9).replace(minute=30), "resumed"),
    ]
    f = run(events, first_action_at=at(2, 10))
    # 2 business hours less the 1 paused = 1 h; the open deadline (Mon 11:00) met.
    assert f.first_response_business_seconds == 1 * H
    assert f.first_response_met is True
    assert f.resolution_met is None  # still open, not yet late


def test_an_open_deadline_missed_belongs_to_the_owner_then() -> None:
    events = [
        ev(at(2, 11), "overdue"),  # the open deadline passed on ole's watch
        ev(at(2, 12), "reassigned", **{"from": "ole", "to": "mia"}),
        ev(at(2, 13), "note"),
    ]
    f = run(events, first_action_at=at(2, 13))
    assert (f.first_response_met, f.first_response_breach_owner) == (False, "ole")


def test_a_late_first_action_without_the_event_is_still_breached() -> None:
    f = run([], first_action_at=at(2, 12))
    assert (f.first_response_met, f.first_response_breach_owner) == (False, "ole")


def test_an_escalation_is_a_resolve_breach_of_the_late_owner() -> None:
    events = [
        ev(at(2, 10), "note"),
        ev(at(5, 11), "escalated", **{"from": "ole", "to": "dora", "level": 1}),
        ev(at(5, 15), "closed"),
    ]
    f = run(events, first_action_at=at(2, 10), closed_at=at(5, 15), resolve_due_at=at(9, 11))
    # Closed within dora's new deadline, but ole's passed first.
    assert (f.resolution_met, f.resolution_breach_owner) == (False, "ole")


def test_a_resolve_overdue_without_a_designee_is_a_breach() -> None:
    events = [ev(at(5, 11), "overdue", level=2)]
    f = run(events)
    assert (f.first_response_met, f.first_response_breach_owner) == (None, None)
    assert (f.resolution_met, f.resolution_breach_owner) == (False, "ole")


def test_a_pause_ended_by_the_close_counts_and_a_running_one_does_not() -> None:
    closed = run([ev(at(2, 11), "paused"), ev(at(2, 15), "closed")], closed_at=at(2, 15))
    assert (closed.paused_seconds, closed.paused_business_seconds) == (4 * H, 4 * H)
    # Fri 1 h + Mon 6 h = 7 business hours, less 4 paused.
    assert closed.resolution_business_seconds == 3 * H
    assert closed.resolution_met is True
    running = run([ev(at(2, 11), "paused")])
    assert (running.paused_seconds, running.paused_business_seconds) == (0, 0)


def test_without_a_calendar_only_the_business_figures_are_missing() -> None:
    f = run(PAUSED_REASSIGNED, first_action_at=at(2, 10), closed_at=at(5, 12), calendar=None)
    assert f.first_response_seconds == 66 * H
    assert f.first_response_business_seconds is None
    assert f.paused_business_seconds is None
    assert f.resolution_met is False


def test_helpers() -> None:
    events = [ev(FRI, "opened", owner="ole"), *PAUSED_REASSIGNED]
    assert [(s.start, s.end) for s in pause_spans(events)] == [(at(2, 11), at(3, 10))]
    assert owner_at(events, at(3, 12), "x") == "ole"  # the reassignment at that instant is next
    assert owner_at(events, at(3, 13), "x") == "mia"
    assert owner_at([], at(3, 13), "x") == "x"
    assert set(run([]).columns()) >= {"sla_resolution_met", "sla_paused_business_seconds"}
