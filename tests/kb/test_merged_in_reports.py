"""Reports count a merged pair once: the duplicate closed as merged is in no figure and no
case list; the knowledge-base table counts articles on resolved cases the same way."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from domain.audit import operator
from domain.vocabulary import CaseStatus, ClosingStatus
from models.case import Case
from models.kb import CaseKbLink
from services.kb import create_article
from services.reports import EVERYTHING, ReportFilters, count_cases, summary
from services.reports.filters import Segment
from services.reports.kb_usage import top_articles
from tests.factories import seed

DAY = date(2026, 11, 20)
T0 = datetime(2026, 11, 20, 9, tzinfo=UTC)


def row(case_id: str, status: CaseStatus, closing: ClosingStatus | None = None) -> Case:
    closed = status == CaseStatus.CLOSED
    return Case(
        id=case_id,
        program_id="recovery",
        unit_id="4723",
        channel="email",
        owner_id="ole",
        status=status,
        is_open=not closed,
        closing_status=closing,
        created_at=T0,
        closed_at=T0 + timedelta(hours=2) if closed else None,
        first_action_at=T0 + timedelta(hours=1),
        root_causes=["staff"] if closed else [],
    )


def test_a_merged_duplicate_counts_once(any_engine: Engine) -> None:
    seed(any_engine)
    with Session(any_engine) as s:
        s.add(row("C-000001", CaseStatus.CLOSED, ClosingStatus.RESOLVED))
        s.add(row("C-000002", CaseStatus.CLOSED, ClosingStatus.MERGED))  # into C-000001
        s.add(row("C-000003", CaseStatus.CLOSED, ClosingStatus.UNRESOLVED))
        s.add(row("C-000004", CaseStatus.IN_PROGRESS))
        s.commit()
        article = create_article(
            s, operator("t"), program_id="recovery", title="Refunds", body="Refund a night."
        )
        for case_id in ("C-000001", "C-000002"):
            s.add(CaseKbLink(case_id=case_id, article_id=article.id or 0, linked_by="ole"))
        s.commit()
    f = ReportFilters(date_from=DAY, date_to=DAY, tz="UTC")
    s_ = summary(any_engine, f, EVERYTHING)
    assert s_.cases.total == 3 and s_.cases.open == 1 and s_.cases.closed == 2
    assert s_.closing.closed == 2 and s_.closing.resolved == 1
    assert s_.closing.resolved_pct == 50.0
    assert count_cases(any_engine, f, EVERYTHING, Segment()) == 3
    assert count_cases(any_engine, f, EVERYTHING, Segment(status=CaseStatus.CLOSED)) == 2
    [usage] = top_articles(any_engine, f, EVERYTHING)
    assert (usage.title, usage.resolved_cases) == ("Refunds", 1)
