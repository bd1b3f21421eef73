"""The anonymiser: a case's personal data replaced in the read model, its uploads deleted.

Shared by the GDPR erasure (services/gdpr.py, after the case's workflow is closed and deleted)
and the retention run (`RetentionActivities`, a scheduled workflow's activity). What stays and
what goes is domain/erasure.py's rule; statistics columns are never touched, so the dashboards
add up as before. Every step is idempotent: a retried run changes nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, or_, select
from temporalio import activity

from activities.webhooks import enqueue_erased
from core.settings import Settings
from domain.erasure import (
    ERASED,
    retention_cutoff,
    scrub_answers,
    scrub_event,
    scrub_matched_rules,
)
from domain.vocabulary import ErasureReason
from models.case import (
    Case,
    CaseEvent,
    CaseIntake,
    CaseTaskRow,
    Customer,
    CustomerErasure,
    CustomerMerge,
    Document,
    Notice,
    Outbox,
    case_number,
)
from models.changes import record_case_change
from models.config import Program
from models.inbound import InboundMessage
from models.intake import Fyi, SurveyResponse
from models.types import utcnow

log = logging.getLogger(__name__)

# How many expired cases one retention activity anonymises (the workflow loops for more).
RETENTION_BATCH = 200


def _unlink_documents(session: Session, upload_dir: Path, case_ids: Sequence[str]) -> int:
    """Delete the stored bytes of the cases' documents (before their rows: a retry finds them)."""
    docs = session.exec(select(Document).where(col(Document.case_id).in_(case_ids))).all()
    for doc in docs:
        if doc.id and all(c in "0123456789abcdef" for c in doc.id):
            path = upload_dir / doc.id
            if path.exists():
                # Overwritten first: the bytes do not linger in a block a later file reuses.
                path.write_bytes(b"\0" * min(path.stat().st_size, 1 << 24))
            path.unlink(missing_ok=True)
    return len(docs)


def anonymise_cases(
    session: Session, upload_dir: Path, case_ids: Sequence[str], counts: dict[str, int]
) -> None:
    """Replace the personal data of these cases in every table (in `session`, not committed)."""
    if not case_ids:
        return
    ids = list(case_ids)
    counts["documents"] = counts.get("documents", 0) + _unlink_documents(session, upload_dir, ids)
    for doc in session.exec(select(Document).where(col(Document.case_id).in_(ids))):
        session.delete(doc)

    for case in session.exec(select(Case).where(col(Case.id).in_(ids))):
        case.customer_name = ERASED
        case.contact_email = case.contact_phone = case.external_ref = None
        case.reason = case.verbatim = case.final_note = case.remeasure_comment = ""
        case.transaction = {}
        session.add(case)
        counts["cases"] = counts.get("cases", 0) + 1

    for event in session.exec(select(CaseEvent).where(col(CaseEvent.case_id).in_(ids))):
        event.summary, event.data = scrub_event(event.kind, event.summary, event.data or {})
        session.add(event)
        counts["events"] = counts.get("events", 0) + 1

    for task in session.exec(select(CaseTaskRow).where(col(CaseTaskRow.case_id).in_(ids))):
        task.title = ERASED  # free text (issue 18); who and when stay
        session.add(task)

    numbers = [n for n in map(case_number, ids) if n is not None]
    for intake in session.exec(select(CaseIntake).where(col(CaseIntake.id).in_(numbers))):
        intake.case_input = intake.contact = intake.external_ref = None
        session.add(intake)

    _scrub_outbox(session, ids, counts)
    # Inbound mail (services/inbound.py): the row stays (its Message-ID keeps a repeat out).
    inbound = session.exec(select(InboundMessage).where(col(InboundMessage.case_id).in_(ids)))
    _scrub_inbound(session, inbound.all(), counts)
    for notice in session.exec(select(Notice).where(col(Notice.case_id).in_(ids))):
        notice.subject = ""
        session.add(notice)

    responses = session.exec(
        select(SurveyResponse).where(col(SurveyResponse.case_id).in_(ids))
    ).all()
    _scrub_responses(session, responses, counts)


def announce(session: Session, case_ids: Sequence[str]) -> None:
    """Open pages of these cases reload (the change log; call last, just before commit), and
    webhook subscribers hear `erased` (in the same transaction: once, and only if it holds)."""
    rows = session.exec(
        select(Case.id, Case.version, Case.program_id, Case.unit_id).where(
            col(Case.id).in_(list(case_ids))
        )
    ).all()
    enqueue_erased(session.connection(), [(r[0], r[2], r[3]) for r in rows])
    for case_id, version, _, _ in rows:
        record_case_change(session.connection(), case_id, version)


def _scrub_outbox(session: Session, keys: Iterable[str], counts: dict[str, int]) -> None:
    for msg in session.exec(select(Outbox).where(col(Outbox.case_id).in_(list(keys)))):
        msg.to_addrs, msg.cc_addrs = [], []
        msg.subject = msg.body_text = msg.body_html = msg.last_error = ""
        session.add(msg)
        counts["messages"] = counts.get("messages", 0) + 1


def _scrub_inbound(
    session: Session, rows: Iterable[InboundMessage], counts: dict[str, int]
) -> None:
    for row in rows:
        row.from_addr = row.subject = row.text = ""
        session.add(row)
        counts["inbound_messages"] = counts.get("inbound_messages", 0) + 1


def customer_addresses(
    session: Session, records: Sequence[int], case_ids: Sequence[str]
) -> list[str]:
    """The customer's email addresses (lower case): its records' and its cases' contacts."""
    found: list[str | None] = list(
        session.exec(select(Customer.email).where(col(Customer.id).in_(list(records)))).all()
    )
    found += session.exec(select(Case.contact_email).where(col(Case.id).in_(list(case_ids)))).all()
    return sorted({a.strip().lower() for a in found if a and a.strip()})


def customer_inbound(
    session: Session, addresses: Sequence[str], case_ids: Sequence[str]
) -> list[InboundMessage]:
    """Inbound mail of the customer: threaded into its cases, or sent from its addresses
    (also what matched no case)."""
    if not addresses and not case_ids:
        return []
    stmt = select(InboundMessage).where(
        or_(
            col(InboundMessage.case_id).in_(list(case_ids)),
            func.lower(col(InboundMessage.from_addr)).in_(list(addresses)),
        )
    )
    return list(session.exec(stmt.order_by(col(InboundMessage.id))).all())


def _scrub_responses(
    session: Session, responses: Iterable[SurveyResponse], counts: dict[str, int]
) -> None:
    for r in responses:
        r.answers = scrub_answers(r.answers or {})
        r.matched_rules = scrub_matched_rules(r.matched_rules or [])
        r.comments = ""
        session.add(r)
        counts["survey_responses"] = counts.get("survey_responses", 0) + 1


def customer_records(session: Session, customer_id: int) -> list[int]:
    """The record and every record merged into it (their cases moved to it)."""
    ids = [customer_id]
    frontier = [customer_id]
    while frontier:
        merged = session.exec(
            select(Customer.id).where(col(Customer.merged_into).in_(frontier))
        ).all()
        frontier = [m for m in merged if m is not None and m not in ids]
        ids += frontier
    return ids


def customer_case_ids(session: Session, customer_id: int) -> list[str]:
    records = customer_records(session, customer_id)
    rows = session.exec(
        select(Case.id).where(col(Case.customer_id).in_(records)).order_by(col(Case.id))
    )
    return list(rows.all())


def anonymise_customer(
    session: Session, upload_dir: Path, customer_id: int, case_ids: Sequence[str]
) -> dict[str, int]:
    """The customer's records, cases, survey returns, FYIs and merge notes (not committed)."""
    counts: dict[str, int] = {}
    records = customer_records(session, customer_id)
    addresses = customer_addresses(session, records, case_ids)  # before they are erased
    anonymise_cases(session, upload_dir, case_ids, counts)
    _scrub_inbound(session, customer_inbound(session, addresses, []), counts)
    for customer in session.exec(select(Customer).where(col(Customer.id).in_(records))):
        customer.name = ""
        customer.email = customer.phone = None
        customer.external_ref = customer.external_source = None
        session.add(customer)
        counts["customers"] = counts.get("customers", 0) + 1
    responses = session.exec(
        select(SurveyResponse).where(
            col(SurveyResponse.customer_id).in_(records),
            or_(
                col(SurveyResponse.case_id).is_(None), col(SurveyResponse.case_id).not_in(case_ids)
            ),
        )
    ).all()
    _scrub_responses(session, responses, counts)
    response_ids = [
        r.id
        for r in session.exec(
            select(SurveyResponse).where(col(SurveyResponse.customer_id).in_(records))
        )
    ]
    fyis = session.exec(
        select(Fyi).where(
            or_(col(Fyi.customer_id).in_(records), col(Fyi.survey_response_id).in_(response_ids))
        )
    ).all()
    for fyi in fyis:
        fyi.customer_name, fyi.text = "", ""
        session.add(fyi)
        counts["fyis"] = counts.get("fyis", 0) + 1
    _scrub_outbox(session, [fyi.ref for fyi in fyis], counts)
    merges = session.exec(
        select(CustomerMerge).where(
            or_(
                col(CustomerMerge.customer_id).in_(records),
                col(CustomerMerge.merged_id).in_(records),
            )
        )
    )
    for merge in merges:
        merge.note = ""
        session.add(merge)
    return counts


# ---------------------------------------------------------------- retention


@dataclass
class RetentionRequest:
    """A retention run: anonymise cases closed longer ago than their program's retention."""

    now: datetime
    batch: int = RETENTION_BATCH


@dataclass
class RetentionResult:
    anonymised: int = 0
    # True when a batch was full: the workflow asks again.
    more: bool = False
    programs: dict[str, int] = field(default_factory=dict)


def expired_cases(session: Session, now: datetime, limit: int) -> list[tuple[str, str]]:
    """(program id, case id) of closed cases past their program's retention, not yet done."""
    found: list[tuple[str, str]] = []
    programs = session.exec(select(Program).where(col(Program.retention_months).is_not(None)))
    for program in programs:
        assert program.retention_months is not None
        cutoff = retention_cutoff(now, program.retention_months)
        rows = session.exec(
            select(Case.id)
            .where(
                col(Case.program_id) == program.id,
                col(Case.is_open).is_(False),
                col(Case.closed_at) < cutoff,
                col(Case.customer_name) != ERASED,
            )
            .order_by(col(Case.closed_at))
            .limit(limit - len(found))
        ).all()
        found += [(program.id, case_id) for case_id in rows]
        if len(found) >= limit:
            break
    return found


def anonymise_expired(
    engine: Engine, upload_dir: Path, now: datetime, limit: int
) -> RetentionResult:
    """One batch of expired cases, each with its own record in `customer_erasure`."""
    with Session(engine) as session:
        expired = expired_cases(session, now, limit)
    result = RetentionResult(more=len(expired) >= limit)
    for program_id, case_id in expired:
        with Session(engine) as session:
            counts: dict[str, int] = {}
            anonymise_cases(session, upload_dir, [case_id], counts)
            case = session.get(Case, case_id)
            session.add(
                CustomerErasure(
                    key=f"retention:{case_id}",
                    reason=ErasureReason.RETENTION,
                    customer_id=case.customer_id if case else None,
                    case_ids=[case_id],
                    counts=counts,
                    erased_by="retention",
                    erased_at=utcnow(),
                )
            )
            try:
                session.flush()
                announce(session, [case_id])
                session.commit()
            except IntegrityError:  # another run did this case at the same moment
                session.rollback()
                continue
        result.anonymised += 1
        result.programs[program_id] = result.programs.get(program_id, 0) + 1
    if expired:
        log.info("retention anonymised %d cases", result.anonymised)
    return result


class RetentionActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._upload_dir = settings.upload_dir

    @activity.defn(name="anonymise_expired_cases")
    def anonymise_expired(self, req: RetentionRequest) -> RetentionResult:
        return anonymise_expired(self._engine, self._upload_dir, req.now, req.batch)
