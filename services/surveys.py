"""Survey returns: alert rules decide case / FYI / nothing, exactly once per response id.

The `survey_response` row, unique on (program, response id), is claimed first; an FYI (with
its outbox message to the unit's team) is written in the same transaction. A case is then
opened through the ordinary intake with an idempotency key derived from the response id, so a
replay — or a request racing the first one — finds the same case instead of opening another.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Row, bindparam, delete, insert, update
from sqlalchemy import select as select_core
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio.client import Client

from core.settings import Settings
from core.threads import in_thread
from domain.alerts import AnswerError, Decision, MatchedRule, evaluate, normalise_answers
from models.api import CaseCreate, SurveyResponseIn
from models.case import Case, Outbox
from models.config import Program, Unit, User
from models.intake import Fyi, SurveyResponse
from services.configuration import program_config
from services.customers import customer_for
from services.intake import IntakeError, IntakeKey, open_case, program_and_unit
from services.writer import writer_for


@dataclass
class SurveyResult:
    response_id: str
    program_id: str
    outcome: str
    case_id: str | None = None
    fyi_id: int | None = None
    matched: list[MatchedRule] = field(default_factory=list)
    replayed: bool = False


@dataclass
class _OpenCase:
    """The response row is claimed and says "case": open it (idempotently)."""

    row_id: int
    claimed_now: bool
    decision: Decision


def intake_key(program_id: str, response_id: str) -> str:
    digest = hashlib.sha256(f"{program_id}\x00{response_id}".encode()).hexdigest()
    return f"survey:{digest}"


def _stored(row: Row[Any], replayed: bool) -> SurveyResult:
    return SurveyResult(
        response_id=row.response_id,
        program_id=row.program_id,
        outcome=row.outcome,
        case_id=row.case_id,
        fyi_id=row.fyi_id,
        matched=[MatchedRule(**m) for m in row.matched_rules or []],
        replayed=replayed,
    )


_R = SurveyResponse.__table__.c  # type: ignore[attr-defined]
# Constant statements with bound parameters: compiled once, cached by SQLAlchemy.
_FIND = select_core(
    _R.id, _R.response_id, _R.program_id, _R.outcome, _R.case_id, _R.fyi_id, _R.matched_rules
).where((_R.program_id == bindparam("program_id")) & (_R.response_id == bindparam("response_id")))
_INSERT = insert(SurveyResponse.__table__).returning(_R.id)  # type: ignore[attr-defined]
_SET_FYI = (
    update(SurveyResponse.__table__)  # type: ignore[attr-defined]
    .where(_R.id == bindparam("row_id"))
    .values(fyi_id=bindparam("fyi_id"), customer_id=bindparam("customer_id"))
)
_LINK_CASE = (
    update(SurveyResponse.__table__)  # type: ignore[attr-defined]
    .where(_R.id == bindparam("row_id"))
    .values(
        case_id=bindparam("case_id"),
        customer_id=select_core(Case.__table__.c.customer_id)  # type: ignore[attr-defined]
        .where(Case.__table__.c.id == bindparam("case_id"))  # type: ignore[attr-defined]
        .scalar_subquery(),
    )
)


def _find(session: Session, body: SurveyResponseIn) -> Row[Any] | None:
    return session.execute(
        _FIND, {"program_id": body.program_id, "response_id": body.response_id}
    ).first()


def _decide(session: Session, body: SurveyResponseIn) -> tuple[Program, Unit, Decision]:
    program, unit = program_and_unit(session, body.program_id, body.unit_id)
    config = program_config(program)
    try:
        answers = normalise_answers(config.questions, dict(body.answers))
    except AnswerError as exc:
        raise IntakeError(exc.field, str(exc)) from exc
    return program, unit, evaluate(config, answers, body.comments)


def _claim(engine: Engine, body: SurveyResponseIn) -> SurveyResult | _OpenCase:
    with Session(engine) as session:
        program, unit, decision = _decide(session, body)
        existing = _find(session, body)
        if existing is not None:
            return _replay(existing, decision)

    def write(session: Session) -> SurveyResult | _OpenCase:
        # Checked again here: an earlier job of the same batch may have taken the id.
        if (found := _find(session, body)) is not None:
            return _replay(found, decision)
        row_id: int = session.execute(
            _INSERT,
            {
                "program_id": program.id,
                "unit_id": unit.id,
                "response_id": body.response_id,
                "channel": body.channel,
                "customer_id": None,
                "answers": dict(body.answers),
                "comments": body.comments,
                "outcome": decision.outcome,
                "case_id": None,
                "fyi_id": None,
                "matched_rules": [m.__dict__ for m in decision.matched],
                "created_at": datetime.now(UTC),
            },
        ).scalar_one()
        if decision.outcome == "case":
            return _OpenCase(row_id, claimed_now=True, decision=decision)
        result = SurveyResult(
            response_id=body.response_id,
            program_id=program.id,
            outcome=decision.outcome,
            matched=list(decision.matched),
        )
        if decision.outcome == "fyi":
            customer = customer_for(session, body.customer, body.channel)
            fyi = Fyi(
                program_id=program.id,
                unit_id=unit.id,
                survey_response_id=row_id,
                customer_id=customer.id,
                customer_name=customer.contact.name,
                fyi_type=decision.fyi_type or "compliment",
                text=decision.fyi_text,
                rule_ids=[m.id for m in decision.matched],
            )
            session.add(fyi)
            session.flush()
            session.execute(
                _SET_FYI, {"row_id": row_id, "fyi_id": fyi.id, "customer_id": customer.id}
            )
            session.add(_fyi_message(session, program, unit, fyi, body))
            session.flush()
            result.fyi_id = fyi.id
        return result

    try:
        return writer_for(engine).run(write)
    except IntegrityError:
        # The same response id, sent at the same moment through another process.
        with Session(engine) as session:
            existing = _find(session, body)
            if existing is None:
                raise
            return _replay(existing, decision)


def _replay(row: Row[Any], decision: Decision) -> SurveyResult | _OpenCase:
    if row.outcome == "case" and row.case_id is None and row.id is not None:
        # The first request is still opening its case (or died doing so): the intake's
        # idempotency key makes finishing it here safe.
        return _OpenCase(row.id, claimed_now=False, decision=decision)
    return _stored(row, replayed=True)


def _fyi_message(
    session: Session, program: Program, unit: Unit, fyi: Fyi, body: SurveyResponseIn
) -> Outbox:
    """An FYI goes to the unit's team: owner and manager in To, field manager in Cc."""
    ids = [unit.frontline_owner_id, unit.manager_id, unit.field_manager_id]
    users = {
        u.id: u for u in session.exec(select(User).where(col(User.id).in_([i for i in ids if i])))
    }

    def addr(uid: str | None) -> list[str]:
        user = users.get(uid or "")
        return [user.email or user.id] if user is not None and user.active else []

    to = addr(unit.frontline_owner_id) + addr(unit.manager_id)
    cc = [a for a in addr(unit.field_manager_id) if a not in to]
    label = "A compliment" if fyi.fyi_type == "compliment" else "A suggestion"
    lines = [
        f"{label} for {unit.name} ({unit.id}) from the {program.name} survey.",
        "No follow-up is needed: this is for your information.",
        "",
        f"Customer: {fyi.customer_name or 'anonymous'}",
        f"Survey response: {body.response_id}",
        "",
        "In the customer's words:",
        *[f"  {line}" for line in fyi.text.splitlines()],
    ]
    return Outbox(
        case_id=fyi.ref,
        event_key="fyi",
        kind="fyi",
        to_addrs=to,
        cc_addrs=cc,
        subject=f"FYI: {label.lower()} for {unit.name}",
        body_text="\n".join(lines),
    )


def _forget(engine: Engine, row_id: int) -> None:
    with Session(engine) as session:
        session.execute(delete(SurveyResponse).where(col(SurveyResponse.id) == row_id))
        session.commit()


async def link_case(engine: Engine, row_id: int, case_id: str) -> None:
    """Record the response's case (also the reconciler's, for a request that died before)."""

    def write(session: Session) -> None:
        session.execute(_LINK_CASE, {"row_id": row_id, "case_id": case_id})

    await writer_for(engine).run_async(write)


async def submit_survey(
    engine: Engine, client: Client, settings: Settings, body: SurveyResponseIn
) -> SurveyResult:
    """Process one survey return; the same response id again answers with the first result."""
    claimed = await in_thread(_claim, engine, body)
    if isinstance(claimed, SurveyResult):
        return claimed
    d = claimed.decision
    rules = ", ".join(m.id for m in d.matched)
    case_body = CaseCreate.model_construct(
        program_id=body.program_id,
        unit_id=body.unit_id,
        channel=body.channel,
        category=d.category,
        priority=d.priority,
        feedback_type="complaint",
        reason=d.reason[:5000],
        verbatim=d.verbatim[:20000],
        customer=body.customer,
        transaction=dict(body.transaction),
        external_ref=None,
    )
    try:
        result = await open_case(
            engine,
            client,
            settings,
            case_body,
            idempotency_key=IntakeKey(intake_key(body.program_id, body.response_id)),
            opened_by="survey",
            origin=f"survey response {body.response_id[:80]}; alert rules: {rules}",
        )
    except IntakeError:
        # Nothing was written for the case: the response id may come again with good data.
        if claimed.claimed_now:
            await in_thread(_forget, engine, claimed.row_id)
        raise
    # Any other failure (Temporal down, a crash) keeps the claimed row: a replay finishes the
    # same case through the intake key, and the reconciler starts its workflow meanwhile.
    await link_case(engine, claimed.row_id, result.case_id)
    return SurveyResult(
        response_id=body.response_id,
        program_id=body.program_id,
        outcome="case",
        case_id=result.case_id,
        matched=d.matched,
        replayed=not claimed.claimed_now,
    )
