"""Customer records at intake and their explicit merge, on SQLite and PostgreSQL.

Intake's database step (no workflow) runs the matching against real rows; merges run as the
API runs them, including two at the same moment.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from models.api import CaseCreate
from models.case import Case, Customer, CustomerMerge
from services.customer_merge import MergeRefused, merge_customers
from tests.factories import seed, version0_case

ANN = {"name": "Ann Berg", "email": "ann@example.com", "phone": "+47 555 00 001"}


def open_for(engine: Engine, **customer: Any) -> Case:
    body = CaseCreate.model_validate(
        {"program_id": "recovery", "unit_id": "4723", "channel": "phone", "customer": customer}
    )
    inp = version0_case(engine, body)
    with Session(engine) as s:
        case = s.get(Case, inp.case_id)
        assert case is not None
        return case


def test_phone_shared_email_differs_two_customers_each_case_its_contact(
    any_engine: Engine,
) -> None:
    seed(any_engine)
    ann = open_for(any_engine, **ANN)
    bob = open_for(any_engine, **{**ANN, "name": "Bob Dahl", "email": "bob@example.com"})
    assert ann.customer_id != bob.customer_id
    assert (bob.customer_name, bob.contact_email, bob.contact_phone) == (
        "Bob Dahl",
        "bob@example.com",
        "+4755500001",
    )
    again = open_for(any_engine, name="Ann", email="Ann@Example.com", phone="+4712345678")
    assert again.customer_id == ann.customer_id
    assert (again.customer_name, again.contact_phone) == ("Ann", "+4712345678")
    with Session(any_engine) as s:
        record = s.get(Customer, ann.customer_id)
        assert record is not None and (record.name, record.phone) == ("Ann Berg", "+4755500001")


def test_merge_moves_cases_fills_gaps_and_is_recorded(any_engine: Engine) -> None:
    seed(any_engine)
    keep = open_for(any_engine, name="Ann Berg", email="ann@example.com")
    gone = [
        open_for(any_engine, name="Ann Berg", phone="+4790000000", external_ref="CRM-7")
        for _ in range(2)
    ]
    assert {c.customer_id for c in gone} != {keep.customer_id}
    assert keep.customer_id is not None and gone[0].customer_id is not None
    result = merge_customers(any_engine, keep.customer_id, gone[0].customer_id, merged_by="root")
    assert not result.replayed
    assert result.case_ids == sorted(c.id for c in gone)
    assert result.filled == ["phone", "external_ref", "external_source"]
    with Session(any_engine) as s:
        ids = s.exec(select(Case.customer_id).where(col(Case.id).in_([c.id for c in gone])))
        assert set(ids) == {keep.customer_id}
        survivor = s.get(Customer, keep.customer_id)
        assert survivor is not None and survivor.phone == "+4790000000"
        assert survivor.external_ref == "CRM-7" and survivor.external_source == "phone"
        [row] = s.exec(select(CustomerMerge)).all()
        assert (row.customer_id, row.merged_id, row.merged_by) == (
            keep.customer_id,
            gone[0].customer_id,
            "root",
        )
    # A later contact by the merged record's reference finds the survivor.
    assert open_for(any_engine, external_ref="CRM-7").customer_id == keep.customer_id


def test_the_same_merge_twice_at_once_is_done_once(any_engine: Engine) -> None:
    seed(any_engine)
    a = open_for(any_engine, name="Ann Berg", email="ann@example.com").customer_id
    b = open_for(any_engine, name="Ann Berg", email="ann.b@example.com").customer_id
    assert a is not None and b is not None
    start = threading.Barrier(2)

    def merge(_: int) -> Any:
        start.wait()
        return merge_customers(any_engine, a, b, merged_by="root")

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(merge, range(2)))
    assert results[0].id == results[1].id
    assert sorted(r.replayed for r in results) == [False, True]


def test_crossed_merges_at_once_one_wins_the_other_is_refused(any_engine: Engine) -> None:
    seed(any_engine)
    a = open_for(any_engine, name="Ann Berg", email="ann@example.com").customer_id
    b = open_for(any_engine, name="Ann Berg", email="ann.b@example.com").customer_id
    assert a is not None and b is not None
    start = threading.Barrier(2)

    def merge(pair: tuple[int, int]) -> Any:
        start.wait()
        try:
            return merge_customers(any_engine, *pair, merged_by="root")
        except MergeRefused as exc:
            return exc

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(merge, [(a, b), (b, a)]))
    refused = [o for o in outcomes if isinstance(o, MergeRefused)]
    assert len(refused) == 1 and refused[0].status == 409
    with Session(any_engine) as s:
        merged_into = {c.id: c.merged_into for c in s.exec(select(Customer))}
        # Exactly one record lives on, the other points at it: no cycle.
        assert merged_into in ({a: None, b: a}, {a: b, b: None})
        assert len(s.exec(select(CustomerMerge)).all()) == 1


@pytest.mark.parametrize("bad", ["self", "unknown_survivor", "unknown_merged"])
def test_refused_merges_change_nothing(any_engine: Engine, bad: str) -> None:
    seed(any_engine)
    a = open_for(any_engine, name="Ann Berg", email="ann@example.com").customer_id
    assert a is not None
    pair = {"self": (a, a), "unknown_survivor": (999, a), "unknown_merged": (a, 999)}[bad]
    with pytest.raises(MergeRefused) as refused:
        merge_customers(any_engine, *pair, merged_by="root")
    assert refused.value.status == {"self": 422, "unknown_survivor": 404}.get(bad, 422)
    with Session(any_engine) as s:
        assert s.exec(select(CustomerMerge)).all() == []
        assert [c.merged_into for c in s.exec(select(Customer))] == [None]
