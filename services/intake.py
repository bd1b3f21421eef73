"""Intake: turn a channel contact into a case — exactly once, even when requests race."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, bindparam, delete, insert
from sqlalchemy import select as select_core
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)

from activities.calendar import compute_deadlines
from activities.projection import case_row
from core.settings import Settings
from core.threads import in_thread
from models.api import CaseCreate
from models.case import Case, CaseIntake, CaseWatcher, case_id_for
from models.config import Program, Unit
from services.configuration import load_program, load_unit, policy_for
from services.customers import customer_for
from services.routing import RoutingError, RoutingRequest, route
from services.writer import writer_for
from workflows.case import CaseWorkflow
from workflows.messages import (
    SA_CHANNEL,
    SA_OWNER,
    SA_PRIORITY,
    SA_PROGRAM,
    SA_STATUS,
    SA_UNIT,
    CaseDetails,
    CaseInput,
    CaseStatus,
    DeadlineRequest,
    Priority,
    initial_view,
)

log = logging.getLogger(__name__)


def _cut(text: str, max_bytes: int) -> str:
    """Temporal limits the size of a workflow's summary and details (in bytes)."""
    raw = text.encode("utf-8")
    return text if len(raw) <= max_bytes else raw[: max_bytes - 3].decode("utf-8", "ignore") + "…"


class IntakeError(ValueError):
    """Bad reference in an intake request; `field` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class IntakeResult:
    case_id: str
    created: bool
    # What was written for a new case (its version-0 row), so callers need not read it back.
    row: dict[str, Any] | None = None


def program_and_unit(session: Session, program_id: str, unit_id: str) -> tuple[Program, Unit]:
    """The request's program and unit (shared, read-only objects); IntakeError if unknown."""
    program = load_program(session, program_id)
    if program is None:
        raise IntakeError("program_id", f"Unknown program {program_id!r}")
    unit = load_unit(session, unit_id)
    if unit is None:
        raise IntakeError("unit_id", f"Unknown unit {unit_id!r}")
    return program, unit


_I = CaseIntake.__table__.c  # type: ignore[attr-defined]
# Constant statements with bound parameters: compiled once, cached by SQLAlchemy.
_BY_REF = select_core(_I.id).where(
    (_I.channel == bindparam("channel")) & (_I.external_ref == bindparam("external_ref"))
)
_BY_KEY = select_core(_I.id).where(_I.idempotency_key == bindparam("key"))


def _existing(session: Session, body: CaseCreate, idempotency_key: str | None) -> str | None:
    number = None
    if body.external_ref:
        number = session.execute(
            _BY_REF, {"channel": body.channel, "external_ref": body.external_ref}
        ).scalar()
    if number is None and idempotency_key:
        number = session.execute(_BY_KEY, {"key": idempotency_key}).scalar()
    return None if number is None else case_id_for(number)


async def open_case(
    engine: Engine,
    client: Client,
    settings: Settings,
    body: CaseCreate,
    *,
    idempotency_key: str | None = None,
    routing_reason: str | None = None,
    opened_by: str = "intake",
    created_at: datetime | None = None,
    origin: str = "",
) -> IntakeResult:
    """Open a case; `created_at` in the past is for back-filled history (demo, imports).

    `origin` (e.g. the survey response and alert rules) is added to the routing reason that
    the timeline's "opened" event records.
    """
    # DB reads run in a thread: blocking the event loop on a pool checkout can deadlock it.
    job = await in_thread(
        _plan, engine, body, idempotency_key, routing_reason, opened_by, created_at, origin
    )
    try:
        # The writes: awaited from the loop, no thread parked while the batch writer runs them.
        prepared = await writer_for(engine).run_async(job)
    except IntegrityError:
        won = await in_thread(_race_lost, engine, body, idempotency_key)
        if won is None:
            raise
        prepared = won
    if isinstance(prepared, IntakeResult):
        return prepared
    try:
        await start_case_workflow(client, settings, prepared)
    except Exception:
        await in_thread(_undo, engine, prepared.case_id)
        raise
    row = {
        **case_row(initial_view(prepared)),
        "transaction": dict(prepared.details.transaction),
        "watchers": [(w.user_id, w.access.value) for w in prepared.watchers],
    }
    return IntakeResult(prepared.case_id, created=True, row=row)


def _undo(engine: Engine, case_id: str) -> None:
    """Leave nothing half-written: the caller may retry and get a clean new case."""
    number = int(case_id.split("-", 1)[1])
    with Session(engine) as session:
        session.execute(delete(CaseWatcher).where(col(CaseWatcher.case_id) == case_id))
        session.execute(delete(Case).where(col(Case.id) == case_id))
        session.execute(delete(CaseIntake).where(col(CaseIntake.id) == number))
        session.commit()


_INSERT_INTAKE = insert(CaseIntake.__table__).returning(CaseIntake.__table__.c.id)  # type: ignore[attr-defined]
_INSERT_CASE = insert(Case.__table__)  # type: ignore[attr-defined]
_INSERT_WATCHER = insert(CaseWatcher.__table__)  # type: ignore[attr-defined]


def _race_lost(
    engine: Engine, body: CaseCreate, idempotency_key: str | None
) -> IntakeResult | None:
    """After an IntegrityError: the case of the concurrent request (another process) with the
    same key, which won; None if there is none (the error was something else)."""
    with Session(engine) as session:
        case_id = _existing(session, body, idempotency_key)
    return None if case_id is None else IntakeResult(case_id, created=False)


def _plan(
    engine: Engine,
    body: CaseCreate,
    idempotency_key: str | None,
    routing_reason: str | None,
    opened_by: str,
    created_at: datetime | None,
    origin: str = "",
) -> Callable[[Session], CaseInput | IntakeResult]:
    """The reads and the deadline arithmetic; returns the write job for the batch writer."""
    with Session(engine) as session:
        program, unit = program_and_unit(session, body.program_id, body.unit_id)
    created_at = created_at or datetime.now(UTC)
    priority = Priority(body.priority)
    try:
        policy = policy_for(program, unit)
        deadlines = compute_deadlines(DeadlineRequest(created_at, policy, priority))
    except (ValueError, ArithmeticError) as exc:
        # Validated configuration should never get here; answer 422, not 500, if it does.
        log.exception("program %s cannot compute deadlines at unit %s", program.id, unit.id)
        raise IntakeError(
            "program_id", f"Program {program.id!r} cannot compute deadlines: {exc}"
        ) from exc

    def write(session: Session) -> CaseInput | IntakeResult:
        # Checked again here: an earlier job of the same batch may have taken the key.
        if (found := _existing(session, body, idempotency_key)) is not None:
            return IntakeResult(found, created=False)
        number = session.execute(
            _INSERT_INTAKE,
            {
                "channel": body.channel,
                "external_ref": body.external_ref,
                "idempotency_key": idempotency_key,
                "created_at": datetime.now(UTC),
            },
        ).scalar_one()
        case_id = case_id_for(number)
        try:
            routing = route(
                session,
                program,
                unit,
                RoutingRequest(body.channel, body.feedback_type, body.category, body.priority),
            )
        except RoutingError as exc:
            raise IntakeError("unit_id", str(exc)) from exc
        customer = customer_for(session, body.customer)
        details = CaseDetails(
            channel=body.channel,
            unit_id=unit.id,
            customer_id=customer.id,
            customer_name=customer.name,
            category=body.category,
            priority=priority,
            reason=body.reason,
            verbatim=body.verbatim,
            external_ref=body.external_ref,
            transaction=dict(body.transaction),
        )
        inp = CaseInput(
            case_id=case_id,
            policy=policy,
            details=details,
            owner_id=routing.owner_id,
            watchers=routing.watchers,
            created_at=created_at,
            routing_reason="; ".join(r for r in (routing_reason or routing.reason, origin) if r),
            opened_by=opened_by,
            initial_deadlines=deadlines,
        )
        # Version 0: visible in lists at once; the workflow's first projection supersedes it.
        row = case_row(initial_view(inp))
        # Constant statements with bound parameters: compiled once, cached by SQLAlchemy.
        session.execute(_INSERT_CASE, {**row, "transaction": dict(body.transaction)})
        if routing.watchers:
            session.execute(
                _INSERT_WATCHER,
                [
                    {"case_id": case_id, "user_id": w.user_id, "access": w.access.value}
                    for w in routing.watchers
                ],
            )
        return inp

    return write


async def start_case_workflow(client: Client, settings: Settings, inp: CaseInput) -> None:
    d = inp.details
    await client.start_workflow(
        CaseWorkflow.run,
        inp,
        id=inp.case_id,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(SA_STATUS, CaseStatus.NEW.value),
                SearchAttributePair(SA_OWNER, inp.owner_id),
                SearchAttributePair(SA_UNIT, d.unit_id),
                SearchAttributePair(SA_PROGRAM, inp.policy.program_id),
                SearchAttributePair(SA_CHANNEL, d.channel),
                SearchAttributePair(SA_PRIORITY, d.priority.value),
            ]
        ),
        static_summary=_cut(f"{inp.policy.program_name} · unit {d.unit_id} · {d.channel}", 380),
        static_details=_cut(
            f"Category: {d.category or '—'}  \nPriority: {d.priority.value}  \n"
            f"Routing: {inp.routing_reason}",
            4000,
        ),
    )
