"""Inbox queries and access rules on the read model, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from domain.permissions import Viewer
from domain.vocabulary import Relation, Role
from models.case import Case, CaseWatcher, Customer
from services.access import access_to, viewer_for
from services.inbox.listing import InboxQuery, inbox_page, inbox_signature
from tests.factories import seed

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def add_case(session: Session, n: int, **fields: Any) -> Case:
    status = fields.pop("status", "in_progress")
    data: dict[str, Any] = {
        "id": f"C-{n:06d}",
        "program_id": "recovery",
        "unit_id": "4723",
        "channel": "email",
        "owner_id": "ole",
        "status": status,
        "is_open": status != "closed",
        "created_at": NOW - timedelta(days=1, minutes=n),
        "customer_name": f"Customer {n}",
        "version": 1,
    }
    data.update(fields)
    case = Case(**data)
    session.add(case)
    return case


@pytest.fixture
def cases(any_engine: Engine) -> Engine:
    seed(any_engine)
    with Session(any_engine) as s:
        kari = Customer(name="Kari Nordmann", email="kari@example.com", phone="+4755501234")
        s.add(kari)
        s.flush()
        add_case(s, 1, next_due_at=NOW + timedelta(hours=5))
        add_case(s, 2, next_due_at=NOW - timedelta(hours=2), status="overdue")  # past due
        add_case(
            s,
            3,
            next_due_at=NOW + timedelta(hours=1),
            status="new",
            customer_id=kari.id,  # the case's own contact is someone else at Kari's number
            contact_email="ola@example.com",
            contact_phone="+4790000003",
        )
        add_case(s, 4, next_due_at=None)  # no deadline: last of the open ones
        add_case(s, 5, status="closed", closed_at=NOW - timedelta(hours=3))
        add_case(s, 6, status="closed", closed_at=NOW - timedelta(hours=1))
        add_case(s, 7, next_due_at=NOW, escalation_level=1, customer_id=kari.id)
        add_case(s, 8, owner_id="alex", next_due_at=NOW)  # someone else's
        add_case(s, 9, owner_id="alex", unit_id="9999", next_due_at=NOW)  # unrelated
        s.add(CaseWatcher(case_id="C-000008", user_id="ole", access="limited"))
        s.commit()
    return any_engine


def ids(rows: list[Case]) -> list[str]:
    return [c.id for c in rows]


OLE = Viewer("ole", "Ole", Role.AGENT)


def test_urgency_order_counts_and_keyset_pages(cases: Engine) -> None:
    with Session(cases) as s:
        page = inbox_page(s, OLE, InboxQuery(tab="mine", status="all"))
        assert ids(page.rows) == [
            "C-000002",  # 2 hours past due
            "C-000007",  # due now
            "C-000003",
            "C-000001",
            "C-000004",  # no deadline
            "C-000006",  # closed, most recent first
            "C-000005",
        ]
        assert page.counts == {
            "new": 1,
            "in_progress": 3,
            "overdue": 1,
            "closed": 2,
            "open": 5,
            "all": 7,
        }
        walked: list[str] = []
        cursor = None
        for _ in range(10):
            p = inbox_page(s, OLE, InboxQuery(tab="mine", status="all", cursor=cursor, limit=2))
            walked += ids(p.rows)
            cursor = p.next_cursor
            if cursor is None:
                break
        assert walked == ids(page.rows)
        assert ids(inbox_page(s, OLE, InboxQuery(tab="mine")).rows)[-1] == "C-000004"
        assert ids(inbox_page(s, OLE, InboxQuery(tab="mine", status="closed")).rows) == [
            "C-000006",
            "C-000005",
        ]
        assert ids(inbox_page(s, OLE, InboxQuery(tab="mine", status="overdue")).rows) == [
            "C-000002"
        ]
        with pytest.raises(ValueError):
            inbox_page(s, OLE, InboxQuery(cursor="not-a-cursor"))


def test_tabs_and_search(cases: Engine) -> None:
    with Session(cases) as s:

        def tab(name: str, q: str | None = None, viewer: Viewer = OLE) -> list[str]:
            return ids(inbox_page(s, viewer, InboxQuery(tab=name, status="all", q=q)).rows)

        assert tab("escalated") == ["C-000007"]
        assert tab("watching") == ["C-000008"]
        assert tab("mine", "customer 3") == ["C-000003"]
        assert tab("mine", "c-7") == ["C-000007"]
        assert tab("mine", "C-000001") == ["C-000001"]
        assert tab("mine", "kari@example.com") == ["C-000007", "C-000003"]
        assert tab("mine", "+47 555 01 234") == ["C-000007", "C-000003"]
        # The case's own contact finds it too.
        assert tab("mine", "OLA@example.com") == ["C-000003"]
        assert tab("mine", "+47 900 00 003") == ["C-000003"]
        assert tab("mine", "%") == []  # LIKE wildcards are literal
        mia = viewer_for(s, _user(s, "mia"))  # manager of unit 4723
        assert mia.managed_units == ("4723",)
        assert "C-000009" not in tab("units", viewer=mia)
        assert set(tab("units", viewer=mia)) == {f"C-{n:06d}" for n in range(1, 9)}
        root = viewer_for(s, _user(s, "root"))
        assert len(tab("all", viewer=root)) == 9
        assert "C-000009" not in tab("all")


def _user(s: Session, user_id: str) -> Any:
    from models.config import User

    user = s.get(User, user_id)
    assert user is not None
    return user


def test_access_relations(cases: Engine) -> None:
    with Session(cases) as s:

        def relation(user_id: str, case_id: str) -> Relation | None:
            case = s.get(Case, case_id)
            assert case is not None
            found = access_to(s, viewer_for(s, _user(s, user_id)), case)
            return found.relation if found else None

        assert relation("ole", "C-000001") == Relation.OWNER
        assert relation("ole", "C-000008") == Relation.LIMITED_WATCHER
        assert relation("ole", "C-000009") is None
        assert relation("mia", "C-000001") == Relation.UNIT_MANAGER
        assert relation("fred", "C-000001") == Relation.UNIT_MANAGER  # field manager
        assert relation("mia", "C-000009") is None
        assert relation("root", "C-000009") == Relation.ADMIN
        case = s.get(Case, "C-000008")
        assert case is not None
        ole = viewer_for(s, _user(s, "ole"))
        access = access_to(s, ole, case)
        assert access is not None and not access.can_act


def test_signature_moves_with_any_change(cases: Engine) -> None:
    with Session(cases) as s:
        before = inbox_signature(s, OLE, "mine")
        case = s.get(Case, "C-000001")
        assert case is not None
        case.version += 1
        s.add(case)
        s.commit()
        assert inbox_signature(s, OLE, "mine") != before


def test_earlier_cases_of_the_customer_that_the_viewer_may_see(cases: Engine) -> None:
    from services.case_queries import earlier_cases

    with Session(cases) as s:
        seven = s.get(Case, "C-000007")
        assert seven is not None and seven.customer_id is not None
        add_case(s, 10, customer_id=seven.customer_id)  # earlier, ole's
        add_case(s, 11, customer_id=seven.customer_id, owner_id="alex", unit_id="9999")
        add_case(s, 0, customer_id=seven.customer_id)  # C-000000: opened after seven
        s.commit()
        ole = viewer_for(s, _user(s, "ole"))
        assert ids(earlier_cases(s, ole, seven)) == ["C-000010"]
        root = viewer_for(s, _user(s, "root"))
        assert ids(earlier_cases(s, root, seven)) == ["C-000010", "C-000011"]
