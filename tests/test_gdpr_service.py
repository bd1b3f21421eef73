"""The erasure service without Temporal work to do: refusals, a customer without cases, the
record written once (SQLite and PostgreSQL). The end-to-end test is tests/api/test_gdpr.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.settings import Settings
from models.case import Customer, CustomerErasure, CustomerMerge
from models.inbound import InboundMessage
from models.intake import Fyi, SurveyResponse
from services.gdpr import ErasureRefused, erase_customer, export_customer

# Never called: these customers have no cases, so no workflow is touched.
NO_TEMPORAL: Any = None


def _customers(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        keep = Customer(name="Hedda Holm", email="hedda@example.org", phone="+4799")
        session.add(keep)
        session.flush()
        gone = Customer(name="H. Holm", email="hh@example.org", merged_into=keep.id)
        session.add(gone)
        session.flush()
        assert keep.id is not None and gone.id is not None
        session.add(
            CustomerMerge(customer_id=keep.id, merged_id=gone.id, merged_by="root", note="Hedda")
        )
        session.add(
            SurveyResponse(
                program_id="recovery",
                unit_id="4723",
                response_id="R-9",
                channel="survey",
                customer_id=gone.id,
                answers={"ltr": 9, "why": "Hedda liked it"},
                comments="Hedda says hi",
                outcome="fyi",
                matched_rules=[{"id": "praise", "kind": "fyi", "detail": "Hedda liked it"}],
            )
        )
        session.add(
            Fyi(
                program_id="recovery",
                unit_id="4723",
                customer_id=gone.id,
                customer_name="Hedda Holm",
                fyi_type="compliment",
                text="Hedda liked it",
            )
        )
        session.commit()
        return keep.id, gone.id


async def test_erasing_a_customer_without_cases(any_engine: Engine, tmp_path: Path) -> None:
    settings = Settings(upload_dir=tmp_path / "uploads")
    keep, gone = _customers(any_engine)
    with pytest.raises(ErasureRefused) as refused:
        await erase_customer(any_engine, NO_TEMPORAL, settings, gone, by="root")
    assert refused.value.status == 409 and f"#{keep}" in refused.value.message
    with pytest.raises(ErasureRefused) as refused:
        await erase_customer(any_engine, NO_TEMPORAL, settings, 424242, by="root")
    assert refused.value.status == 404

    exported = export_customer(any_engine, settings, keep)
    assert exported is not None
    assert [r["email"] for r in exported["merged_records"]] == ["hh@example.org"]
    assert exported["survey_responses"][0]["comments"] == "Hedda says hi"

    first = await erase_customer(any_engine, NO_TEMPORAL, settings, keep, by="root")
    assert (first.replayed, first.case_ids) == (False, [])
    assert first.counts["customers"] == 2 and first.counts["survey_responses"] == 1
    again = await erase_customer(any_engine, NO_TEMPORAL, settings, keep, by="someone else")
    assert (again.replayed, again.id, again.erased_by) == (True, first.id, "root")

    with Session(any_engine) as session:
        for customer in session.exec(select(Customer)):
            assert (customer.name, customer.email, customer.phone) == ("", None, None)
        (response,) = session.exec(select(SurveyResponse)).all()
        assert response.answers == {"ltr": 9} and response.comments == ""
        assert response.matched_rules == [{"id": "praise", "kind": "fyi", "detail": ""}]
        (fyi,) = session.exec(select(Fyi)).all()
        assert (fyi.customer_name, fyi.text, fyi.fyi_type) == ("", "", "compliment")
        (merge,) = session.exec(select(CustomerMerge)).all()
        assert merge.note == ""
        (record,) = session.exec(select(CustomerErasure)).all()
        assert (record.reason, record.customer_id, record.key) == (
            "request",
            keep,
            f"request:{keep}",
        )


def test_a_drill_down_by_closing_status_counts_erased_cases_apart(any_engine: Engine) -> None:
    from datetime import UTC, datetime

    from models.case import Case
    from services.reports import EVERYTHING, ReportFilters, Segment, count_cases, list_cases

    now = datetime.now(UTC)
    with Session(any_engine) as session:
        for n, closing in enumerate(("resolved", "unresolved", "erased_on_request", None)):
            session.add(
                Case(
                    id=f"C-{n:06d}",
                    program_id="recovery",
                    unit_id="4723",
                    channel="email",
                    owner_id="ole",
                    status="closed" if closing else "new",
                    is_open=closing is None,
                    closing_status=closing,
                    created_at=now,
                    closed_at=now if closing else None,
                )
            )
        session.commit()
    f = ReportFilters()
    for n, closing in enumerate(("resolved", "unresolved", "erased_on_request")):
        seg = Segment.model_validate({"closing": closing})
        assert count_cases(any_engine, f, EVERYTHING, seg) == 1, closing
        listed = list_cases(any_engine, f, EVERYTHING, seg)
        assert [row.id for row in listed] == [f"C-{n:06d}"], closing


def _inbound(engine: Engine, n: int, sender: str, case_id: str | None = None) -> None:
    with Session(engine) as session:
        session.add(
            InboundMessage(
                message_id=f"<m{n}@customer.example>",
                kind="customer",
                outcome="unmatched",
                case_id=case_id,
                from_addr=sender,
                subject=f"Subject {n}",
                text=f"Words {n}",
            )
        )
        session.commit()


async def test_the_customers_inbound_mail_is_exported_and_erased(
    any_engine: Engine, tmp_path: Path
) -> None:
    """Mail that matched no case still belongs to its sender: found by the address."""
    settings = Settings(upload_dir=tmp_path / "uploads")
    keep, _gone = _customers(any_engine)
    _inbound(any_engine, 1, "Hedda@Example.org")
    _inbound(any_engine, 2, "hh@example.org")
    _inbound(any_engine, 3, "stranger@example.org")

    exported = export_customer(any_engine, settings, keep)
    assert exported is not None
    mails = sorted(exported["inbound_messages"], key=lambda m: m["subject"])
    assert [(m["subject"], m["text"]) for m in mails] == [
        ("Subject 1", "Words 1"),
        ("Subject 2", "Words 2"),
    ]
    assert all(m["received_at"] and m["attachments"] == [] for m in mails)

    erased = await erase_customer(any_engine, NO_TEMPORAL, settings, keep, by="root")
    assert erased.counts["inbound_messages"] == 2
    with Session(any_engine) as session:
        rows = {r.message_id: r for r in session.exec(select(InboundMessage))}
    for n in (1, 2):
        row = rows[f"<m{n}@customer.example>"]
        assert (row.from_addr, row.subject, row.text) == ("", "", "")
    kept = rows["<m3@customer.example>"]
    assert (kept.from_addr, kept.text) == ("stranger@example.org", "Words 3")
