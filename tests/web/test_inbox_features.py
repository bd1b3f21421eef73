"""The inbox's deadlines on business time, orders with keyset pages, search across every case
the viewer may see, the per-owner summary, saved views and the people picker: on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from domain.calendar import BusinessCalendar
from domain.deadlines import business_hours_late, missed_deadline
from domain.permissions import Viewer
from domain.policy import CalendarSpec
from domain.vocabulary import Role
from models.case import Case, CaseWatcher, Customer
from models.config import Unit
from services.access import viewer_for
from services.inbox.due import deadlines_late, row_due, rows_due
from services.inbox.listing import InboxQuery, end_of_day, inbox_page
from services.inbox.people import find_people
from services.inbox.summary import my_summary, owner_summaries
from services.inbox.views import ViewRejected, delete_view, save_view, views_for
from tests.factories import seed
from tests.web.test_inbox_queries import add_case, ids

# Monday 23 November 2026, 13:00 in Oslo.
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
FRIDAY_4PM_OSLO = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
OLE = Viewer("ole", "Ole Owner", Role.AGENT)


def test_missed_deadline_is_the_one_an_overdue_case_missed() -> None:
    later = NOW + timedelta(hours=7)
    # Overdue on first contact; the next deadline (resolve) is still 7 hours away.
    assert (
        missed_deadline(
            status="overdue",
            open_due_at=FRIDAY_4PM_OSLO,
            open_breached=True,
            resolve_due_at=later,
            resolve_breached=False,
            now=NOW,
        )
        == FRIDAY_4PM_OSLO
    )
    assert (
        missed_deadline(
            status="in_progress",
            open_due_at=FRIDAY_4PM_OSLO,
            open_breached=False,
            resolve_due_at=later,
            resolve_breached=False,
            now=NOW,
        )
        is None
    )
    week_of_nine_to_five = BusinessCalendar(CalendarSpec(timezone="Europe/Oslo"))
    # Friday 16:00-17:00 and Monday 09:00-13:00: five business hours, not 69 wall hours.
    assert business_hours_late(week_of_nine_to_five, FRIDAY_4PM_OSLO, NOW) == 5


def test_an_overdue_row_says_how_many_business_hours_past_due() -> None:
    calendar = BusinessCalendar(CalendarSpec(timezone="Europe/Oslo"))
    row = Case(
        id="C-000001",
        program_id="recovery",
        unit_id="4723",
        channel="email",
        owner_id="ole",
        status="overdue",
        is_open=True,
        created_at=FRIDAY_4PM_OSLO - timedelta(hours=5),
        open_due_at=FRIDAY_4PM_OSLO,
        open_breached=True,
        resolve_due_at=NOW + timedelta(hours=7),
        next_due_at=NOW + timedelta(hours=7),
    )
    due = row_due(row, calendar, NOW)
    assert (due.text, due.urgency) == ("5 business hours past due", "past")
    assert due.detail == "7 hours left to resolve"
    row.open_breached, row.status, row.open_due_at = False, "in_progress", None
    assert row_due(row, calendar, NOW).text == "7 hours to resolve"
    row.status, row.next_due_at = "new", NOW - timedelta(minutes=10)
    row.open_due_at = row.next_due_at
    assert row_due(row, calendar, NOW).text == "Under 1 business hour past due"


@pytest.fixture
def many(any_engine: Engine) -> Engine:
    """Ole's cases of every priority; a case of unit 9000 (not ole's) that ole watches; one
    he neither owns nor watches."""
    seed(any_engine, calendar={})  # the program's calendar: 09-17 on weekdays, Oslo time
    with Session(any_engine) as s:
        s.add(Unit(id="9000", name="Bergen Quay", frontline_owner_id="alex", manager_id="dora"))
        pia = Customer(name="Pia Prior", phone="+4791234567", external_ref="CRM-77")
        s.add(pia)
        s.flush()
        priorities = ["low", "urgent", "normal", "high", "urgent", "normal", "high", "low"]
        for n, p in enumerate(priorities, start=1):
            add_case(s, n, priority=p, next_due_at=NOW + timedelta(hours=n))
        add_case(
            s,
            9,
            status="overdue",
            open_due_at=FRIDAY_4PM_OSLO,
            open_breached=True,
            resolve_due_at=NOW + timedelta(hours=7),
            next_due_at=NOW + timedelta(hours=7),
        )
        add_case(s, 10, next_due_at=NOW + timedelta(hours=3), escalation_level=1)
        add_case(s, 11, status="closed", closed_at=NOW - timedelta(hours=1))
        add_case(
            s,
            12,
            owner_id="alex",
            unit_id="9000",
            customer_name="Bergen Bo",
            customer_id=pia.id,
            external_ref="ORD-5501",
            contact_phone="+4740011223",
            next_due_at=NOW + timedelta(days=2),
        )
        add_case(s, 13, owner_id="alex", unit_id="9000", customer_name="Hidden Hanne")
        s.add(CaseWatcher(case_id="C-000012", user_id="ole", access="full"))
        s.commit()
    return any_engine


def test_overdue_rows_on_the_programs_business_calendar(many: Engine) -> None:
    with Session(many) as s:
        page = inbox_page(s, OLE, InboxQuery(now=NOW))
        due = rows_due(s, page.rows, NOW)
    assert due["C-000009"].text == "5 business hours past due"
    assert due["C-000001"].text == "1 hour to resolve"


def walk(s: Session, viewer: Viewer, **fields: Any) -> list[str]:
    """Every case of a query, page by page (two a page)."""
    out: list[str] = []
    cursor = None
    while True:
        page = inbox_page(s, viewer, InboxQuery(cursor=cursor, limit=2, now=NOW, **fields))
        out += ids(page.rows)
        cursor = page.next_cursor
        if cursor is None:
            return out


@pytest.mark.parametrize("sort", ["due", "priority", "newest", "oldest"])
def test_every_order_pages_through_every_case_once(many: Engine, sort: str) -> None:
    with Session(many) as s:
        whole = ids(inbox_page(s, OLE, InboxQuery(sort=sort, status="all", now=NOW)).rows)
        assert walk(s, OLE, sort=sort, status="all") == whole
        assert sorted(whole) == [f"C-{n:06d}" for n in range(1, 12)]
        if sort == "priority":
            rank = {"urgent": 3, "high": 2, "normal": 1, "low": 0}
            rows = {c.id: c for c in inbox_page(s, OLE, InboxQuery(sort=sort, now=NOW)).rows}
            open_ids = [i for i in whole if i != "C-000011"]
            got = [rank[rows[i].priority] for i in open_ids]
            assert got == sorted(got, reverse=True)
            assert open_ids[:2] == ["C-000002", "C-000005"]  # urgent, the sooner due first
        if sort == "newest":
            assert whole[:3] == ["C-000001", "C-000002", "C-000003"]  # opened most recently
        with pytest.raises(ValueError):  # a cursor of another order is refused
            other = "oldest" if sort != "oldest" else "newest"
            cursor = inbox_page(s, OLE, InboxQuery(sort=other, limit=2, now=NOW)).next_cursor
            inbox_page(s, OLE, InboxQuery(sort=sort, cursor=cursor, now=NOW))


def test_search_looks_at_every_case_the_viewer_may_see(many: Engine) -> None:
    with Session(many) as s:

        def found(q: str, tab: str = "mine", viewer: Viewer = OLE) -> list[str]:
            return ids(inbox_page(s, viewer, InboxQuery(tab=tab, q=q, status="all")).rows)

        # From "Mine": the case of unit 9000 that ole watches (owner alex).
        assert found("bergen") == ["C-000012"]
        assert found("ord-5501") == ["C-000012"]  # the case's external reference
        assert found("CRM-77") == ["C-000012"]  # its customer record's
        assert found("11223") == ["C-000012"]  # a few digits of the contact's phone
        assert found("9123 4567") == ["C-000012"]  # of the customer record's phone
        assert found("c-12", tab="escalated") == ["C-000012"]
        # Never beyond what the viewer may see: ole neither owns nor watches C-000013.
        assert found("hidden hanne") == []
        assert found("C-000013") == []
        dora = Viewer("dora", "Dora Director", Role.MANAGER, ("9000",))
        assert found("hidden hanne", viewer=dora) == ["C-000013"]


def test_summary_figures_are_the_counts_of_the_lists_they_open(many: Engine) -> None:
    day_ends = end_of_day(NOW, "Europe/Oslo")  # 23:00 UTC
    with Session(many) as s:
        mine = my_summary(s, "ole", "Ole Owner", NOW, day_ends)
        assert (mine.open, mine.past_due, mine.escalated) == (10, 1, 1)
        # due before 23:00 UTC, on time: C-000001..8 (1-8 hours), C-000010 (3 hours)
        assert mine.due_today == 9

        def count(**filters: Any) -> int:
            query = InboxQuery(now=NOW, day_ends=day_ends, **filters)
            return inbox_page(s, OLE, query).counts["open"]

        assert count() == mine.open
        assert count(due="today") == mine.due_today
        assert count(due="past") == mine.past_due
        assert count(tab="escalated") == mine.escalated
        dora = viewer_for(s, _user(s, "dora"))
        lines = {o.owner_id: o for o in owner_summaries(s, None, NOW, day_ends)}
        assert lines["alex"].open == 2 and lines["ole"].open == 10
        assert dora.managed_units == ("9000",)
        alex = inbox_page(s, dora, InboxQuery(tab="units", owner="alex", now=NOW))
        assert ids(alex.rows) == ["C-000012", "C-000013"]


def _user(s: Session, user_id: str) -> Any:
    from models.config import User

    user = s.get(User, user_id)
    assert user is not None
    return user


def test_saved_views_per_person_shared_with_a_unit(many: Engine) -> None:
    first = save_view(many, "ole", "Late  ones", None, {"due": "past", "cursor": "x", "q": ""})
    # Saved again under the same name: replaced, not doubled.
    again = save_view(many, "ole", "Late ones", "4723", {"due": "past", "sort": "priority"})
    assert again == first
    save_view(many, "alex", "Bergen", None, {"tab": "watching"})
    with pytest.raises(ViewRejected):
        save_view(many, "ole", "  ", None, {})
    with pytest.raises(ViewRejected):  # ole is not in unit 9000
        save_view(many, "ole", "Theirs", "9000", {})
    with Session(many) as s:
        ole = views_for(s, "ole")
        assert [(v.name, v.params, v.unit_name) for v in ole] == [
            ("Late ones", {"due": "past", "sort": "priority"}, "Oslo Harbour")
        ]
        mia = views_for(s, "mia")  # manager of 4723: sees the shared view, cannot delete it
        assert [(v.name, v.mine) for v in mia] == [("Late ones (by Ole Owner)", False)]
        assert views_for(s, "alex")[0].name == "Bergen"
        assert [v.name for v in views_for(s, "dora")] == []
    assert delete_view(many, "mia", first) is False
    assert delete_view(many, "ole", first) is True
    assert delete_view(many, "ole", first) is False  # gone already: the same answer
    with Session(many) as s:
        assert views_for(s, "mia") == []


def test_people_picker_matches_names_and_sign_in_names(many: Engine) -> None:
    with Session(many) as s:
        assert find_people(s, "man") == [("mia", "Mia Manager")]
        assert find_people(s, "AL") == [("alex", "Alex Agent")]
        assert find_people(s, "%") == []
        assert len(find_people(s, "")) == 6


def test_the_case_page_counts_lateness_in_business_hours_like_the_inbox(many: Engine) -> None:
    """First contact was due Friday 16:00; Monday 13:00 that is 5 business hours late (the
    weekend is not counted), not 69 wall-clock hours; the resolve deadline is still ahead."""
    with Session(many) as s:
        case = s.get(Case, "C-000009")
        assert case is not None
        late = deadlines_late(s, case, NOW)
    assert late == {"open": "5 business hours past due"}
