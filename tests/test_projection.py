"""The projection is idempotent and order-safe on both backends."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from activities.projection import ProjectRequest, apply_projection
from domain.case import CaseView, TimelineEvent, Watcher
from domain.policy import CalendarSpec
from domain.vocabulary import Access, CaseStatus, ClosingStatus, Priority
from models.case import Case, CaseEvent, CaseWatcher
from services.reports import EVERYTHING, ReportFilters, summary

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def view(version: int, **changes: object) -> CaseView:
    v = CaseView(
        case_id="C-000042",
        version=version,
        program_id="recovery",
        unit_id="4723",
        channel="email",
        customer_id=None,
        customer_name="Kari",
        status=CaseStatus.NEW,
        owner_id="ole",
        watchers=[Watcher("mia", Access.FULL)],
        priority=Priority.NORMAL,
        category="",
        reason="Cold room",
        verbatim="",
        external_ref=None,
        created_at=T0,
        open_due_at=T0 + timedelta(days=1),
        resolve_due_at=T0 + timedelta(days=3),
    )
    for k, val in changes.items():
        setattr(v, k, val)
    return v


def event(seq: int, kind: str) -> TimelineEvent:
    return TimelineEvent(seq, T0 + timedelta(minutes=seq), kind, "ole", kind)


def snapshot(
    engine: Engine,
) -> tuple[dict[str, object], list[tuple[str, str]], list[tuple[int, str]]]:
    with Session(engine) as s:
        row = s.get(Case, "C-000042")
        assert row is not None
        data = row.model_dump(exclude={"updated_at"})
        watchers = [(w.user_id, w.access) for w in s.exec(select(CaseWatcher))]
        events = [(e.seq, e.kind) for e in s.exec(select(CaseEvent).order_by(col(CaseEvent.seq)))]
    return data, sorted(watchers), events


def test_same_write_twice_changes_nothing(any_engine: Engine) -> None:
    req = ProjectRequest(view(1), [event(1, "opened")])
    assert apply_projection(any_engine, req) is True
    first = snapshot(any_engine)
    assert apply_projection(any_engine, copy.deepcopy(req)) is False
    assert snapshot(any_engine) == first
    assert first[2] == [(1, "opened")]


def test_older_version_after_newer_is_ignored(any_engine: Engine) -> None:
    newer = view(
        3,
        status=CaseStatus.IN_PROGRESS,
        owner_id="alex",
        watchers=[Watcher("ole", Access.LIMITED)],
    )
    apply_projection(any_engine, ProjectRequest(newer, [event(2, "note"), event(3, "reassigned")]))
    after_newer = snapshot(any_engine)
    # The late, older write (a retried activity) carries an earlier state and its event.
    late = ProjectRequest(view(1), [event(1, "opened")])
    assert apply_projection(any_engine, late) is False
    data, watchers, events = snapshot(any_engine)
    assert data == after_newer[0] and watchers == after_newer[1] == [("ole", "limited")]
    assert data["status"] == "in_progress" and data["owner_id"] == "alex" and data["version"] == 3
    # Its event still lands (keyed by seq), so the timeline has no hole.
    assert events == [(1, "opened"), (2, "note"), (3, "reassigned")]


def test_datetimes_come_back_as_aware_utc(any_engine: Engine) -> None:
    apply_projection(any_engine, ProjectRequest(view(1), []))
    with Session(any_engine) as s:
        row = s.get(Case, "C-000042")
        assert row is not None and row.open_due_at == T0 + timedelta(days=1)
        assert row.open_due_at.tzinfo is not None
        assert row.next_due_at == row.open_due_at  # new: the open deadline is the urgent one


def test_business_time_is_measured_on_the_case_calendar(any_engine: Engine) -> None:
    """Mon-Fri 09-17 Oslo: opened Friday 10:00, first action 16:30, closed Monday 11:00."""
    oslo = CalendarSpec(timezone="Europe/Oslo")
    closed = view(
        5,
        status=CaseStatus.CLOSED,
        closing_status=ClosingStatus.RESOLVED,
        first_action_at=T0 + timedelta(hours=6, minutes=30),
        closed_at=datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
    )
    apply_projection(any_engine, ProjectRequest(closed, [], calendar=oslo))
    data = snapshot(any_engine)[0]
    assert data["business_minutes_to_first_action"] == 6 * 60 + 30
    assert data["business_minutes_to_close"] == 7 * 60 + 2 * 60  # not the 73 wall-clock hours
    day = ReportFilters(date(2026, 11, 20), date(2026, 11, 20))
    s = summary(any_engine, day, EVERYTHING)
    assert (s.time_to_close.avg_hours, s.time_to_close.avg_business_hours) == (73.0, 9.0)
    assert s.time_to_close.median_business_hours == 9.0
    assert s.time_to_first_action.avg_business_hours == 6.5
    # Reopened after a failed recovery: no close, so no business time to close.
    reopened = view(6, status=CaseStatus.IN_PROGRESS, first_action_at=closed.first_action_at)
    apply_projection(any_engine, ProjectRequest(reopened, [], calendar=oslo))
    data = snapshot(any_engine)[0]
    assert data["business_minutes_to_close"] is None
    assert data["business_minutes_to_first_action"] == 390
