"""Intake: turn a channel contact into a case — exactly once, even when requests race.

The intake rows (case number, version-0 case row, watchers) and the workflow's input are
committed together; the workflow is started after the commit. A request is answered only once
the workflow exists, so a crash or an outage in between leaves rows that the client's retry
(same key or reference) or the reconciler (services/reconciler.py) starts — never a case that
was acknowledged without its workflow.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, bindparam, insert, update
from sqlalchemy import select as select_core
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from temporalio.client import Client

from activities.rollup import move_rollups
from core.settings import Settings
from core.threads import in_thread
from domain.case import CaseDetails
from domain.case_row import case_row
from domain.customers import Contact
from domain.deadlines import DeadlineRequest, compute_deadlines
from domain.routing import RoutingError, RoutingRequest
from domain.taxonomy import CategoryRejected, file_under
from domain.vocabulary import Priority
from models.api import CaseCreate
from models.case import Case, CaseIntake, CaseWatcher, case_id_for
from models.config import Program, Unit
from models.types import utcnow
from services.case_start import ensure_started, input_from_json, input_json
from services.configuration import load_program, load_unit, policy_for, program_config
from services.customers import customer_for
from services.routing import route
from services.writer import writer_for
from workflows.messages import CaseInput, initial_view

log = logging.getLogger(__name__)


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
    # The same idempotency key and body again: `row` is the first answer, to be replayed.
    replayed: bool = False


def program_and_unit(session: Session, program_id: str, unit_id: str) -> tuple[Program, Unit]:
    """The request's program and unit (shared, read-only objects); IntakeError if unknown."""
    program = load_program(session, program_id)
    if program is None:
        raise IntakeError("program_id", f"Unknown program {program_id!r}")
    unit = load_unit(session, unit_id)
    if unit is None:
        raise IntakeError("unit_id", f"Unknown unit {unit_id!r}")
    return program, unit


@dataclass(frozen=True)
class IntakeKey:
    """An idempotency key, scoped to the API client that sent it ("" for Caseloop's own keys).

    `request_hash` fingerprints the request body; a key reused with another body is refused.
    None (keys Caseloop derives itself, e.g. from a survey response id) checks nothing.
    """

    key: str
    client_id: str = ""
    request_hash: str | None = None


class IdempotencyKeyReused(IntakeError):
    def __init__(self) -> None:
        super().__init__(
            "Idempotency-Key",
            "This Idempotency-Key was used before with a different request body",
        )


@dataclass
class _Found:
    """An intake row the request matches: by its idempotency key, or by (channel, ref)."""

    number: int
    by_key: bool
    case_input: dict[str, Any] | None
    contact: dict[str, Any] | None
    started: bool


_I = CaseIntake.__table__.c  # type: ignore[attr-defined]
_COLUMNS = (_I.id, _I.request_hash, _I.case_input, _I.contact, _I.workflow_started_at)
# Constant statements with bound parameters: compiled once, cached by SQLAlchemy.
_BY_REF = select_core(*_COLUMNS).where(
    (_I.channel == bindparam("channel")) & (_I.external_ref == bindparam("external_ref"))
)
_BY_KEY = select_core(*_COLUMNS).where(
    (_I.client_id == bindparam("client_id")) & (_I.idempotency_key == bindparam("key"))
)
_SET_INPUT = (
    update(CaseIntake.__table__)  # type: ignore[attr-defined]
    .where(_I.id == bindparam("number"))
    .values(case_input=bindparam("case_input"), contact=bindparam("contact"))
)


def _existing(session: Session, body: CaseCreate, key: IntakeKey | None) -> _Found | None:
    """The key first (a reuse with another body is refused), then (channel, external_ref)."""
    if key is not None:
        row = session.execute(_BY_KEY, {"client_id": key.client_id, "key": key.key}).first()
        if row is not None:
            if None not in (row.request_hash, key.request_hash) and (
                row.request_hash != key.request_hash
            ):
                raise IdempotencyKeyReused()
            started = row.workflow_started_at is not None
            return _Found(row.id, True, row.case_input, row.contact, started)
    if body.external_ref is not None:
        row = session.execute(
            _BY_REF, {"channel": body.channel, "external_ref": body.external_ref}
        ).first()
        if row is not None:
            started = row.workflow_started_at is not None
            return _Found(row.id, False, row.case_input, row.contact, started)
    return None


async def open_case(
    engine: Engine,
    client: Client,
    settings: Settings,
    body: CaseCreate,
    *,
    idempotency_key: IntakeKey | None = None,
    routing_reason: str | None = None,
    opened_by: str = "intake",
    created_at: datetime | None = None,
    origin: str = "",
    acknowledge: bool = False,
) -> IntakeResult:
    """Open a case; `created_at` in the past is for back-filled history (demo, imports).

    `origin` (e.g. the survey response and alert rules) is added to the routing reason that
    the timeline's "opened" event records. A case is answered only once its workflow exists:
    if Temporal does not take the start, WorkflowUnavailable is raised and the rows stay, for
    the client's retry or the reconciler to start it. `acknowledge`: the customer opened it
    themselves (web form, intake mailbox) and gets a confirmation with the reference.
    """
    key = idempotency_key
    # DB reads run in a thread: blocking the event loop on a pool checkout can deadlock it.
    job = await in_thread(
        _plan, engine, body, key, routing_reason, opened_by, created_at, origin, acknowledge
    )
    try:
        # The writes: awaited from the loop, no thread parked while the batch writer runs them.
        prepared = await writer_for(engine).run_async(job)
    except IntegrityError:
        won = await in_thread(_race_lost, engine, body, key)
        if won is None:
            raise
        prepared = won
    if isinstance(prepared, _Found):
        return await _answer_existing(engine, client, settings, prepared)
    number, inp, contact = prepared
    if settings.fault_exit_after_intake_commit:
        # Fault injection for the crash test: die exactly between the commit and the start.
        os._exit(70)
    await ensure_started(engine, client, settings, number, inp)
    return IntakeResult(inp.case_id, created=True, row=_first_answer(inp, contact))


def _first_answer(inp: CaseInput, contact: dict[str, Any]) -> dict[str, Any]:
    """The version-0 row intake wrote, as a new case is answered (and a key replays it)."""
    return {
        **case_row(initial_view(inp), utcnow()),
        **contact,
        "transaction": dict(inp.details.transaction),
        "watchers": [(w.user_id, w.access.value) for w in inp.watchers],
    }


def contact_columns(contact: Contact) -> dict[str, Any]:
    """The case's contact email and phone: written once by intake (case row and intake row),
    never by the projection (the name is the workflow's `customer_name`; neither address goes
    into Temporal)."""
    return {"contact_email": contact.email, "contact_phone": contact.phone}


async def _answer_existing(
    engine: Engine, client: Client, settings: Settings, found: _Found
) -> IntakeResult:
    """A retry: start the workflow if the first request could not; replay a key's answer."""
    inp = input_from_json(found.case_input) if found.case_input is not None else None
    if not found.started and inp is not None:
        await ensure_started(engine, client, settings, found.number, inp)
    case_id = case_id_for(found.number)
    if found.by_key and inp is not None:
        row = _first_answer(inp, found.contact or contact_columns(Contact()))
        return IntakeResult(case_id, created=False, row=row, replayed=True)
    return IntakeResult(case_id, created=False)


def _race_lost(engine: Engine, body: CaseCreate, key: IntakeKey | None) -> _Found | None:
    """After an IntegrityError: the row of the concurrent request (another process) with the
    same key or reference, which won; None if there is none (the error was something else)."""
    with Session(engine) as session:
        return _existing(session, body, key)


_INSERT_INTAKE = insert(CaseIntake.__table__).returning(CaseIntake.__table__.c.id)  # type: ignore[attr-defined]
_INSERT_CASE = insert(Case.__table__)  # type: ignore[attr-defined]
_INSERT_WATCHER = insert(CaseWatcher.__table__)  # type: ignore[attr-defined]


Planned = tuple[int, CaseInput, dict[str, Any]]


def _plan(
    engine: Engine,
    body: CaseCreate,
    key: IntakeKey | None,
    routing_reason: str | None,
    opened_by: str,
    created_at: datetime | None,
    origin: str = "",
    acknowledge: bool = False,
) -> Callable[[Session], Planned | _Found]:
    """The reads and the deadline arithmetic; returns the write job for the batch writer."""
    with Session(engine) as session:
        program, unit = program_and_unit(session, body.program_id, body.unit_id)
    created_at = created_at or datetime.now(UTC)
    priority = Priority(body.priority)
    try:
        categories = program_config(program).categories
        category, subcategory = file_under(categories, body.category, body.subcategory)
    except CategoryRejected as exc:
        raise IntakeError(exc.field, str(exc)) from exc
    try:
        policy = policy_for(program, unit)
        deadlines = compute_deadlines(DeadlineRequest(created_at, policy, priority))
    except (ValueError, ArithmeticError) as exc:
        # Validated configuration should never get here; answer 422, not 500, if it does.
        log.exception("program %s cannot compute deadlines at unit %s", program.id, unit.id)
        raise IntakeError(
            "program_id", f"Program {program.id!r} cannot compute deadlines: {exc}"
        ) from exc

    def write(session: Session) -> Planned | _Found:
        # Checked again here: an earlier job of the same batch may have taken the key.
        if (found := _existing(session, body, key)) is not None:
            return found
        number: int = session.execute(
            _INSERT_INTAKE,
            {
                "channel": body.channel,
                "external_ref": body.external_ref,
                "idempotency_key": key.key if key else None,
                "client_id": key.client_id if key else "",
                "request_hash": key.request_hash if key else None,
                "case_input": None,
                "contact": None,
                "workflow_started_at": None,
                "created_at": datetime.now(UTC),
            },
        ).scalar_one()
        case_id = case_id_for(number)
        try:
            routing = route(
                session,
                program,
                unit,
                RoutingRequest(body.channel, body.feedback_type, category, body.priority),
            )
        except RoutingError as exc:
            raise IntakeError("unit_id", str(exc)) from exc
        customer = customer_for(session, body.customer, body.channel)
        details = CaseDetails(
            channel=body.channel,
            unit_id=unit.id,
            customer_id=customer.id,
            customer_name=customer.contact.name,
            category=category,
            subcategory=subcategory,
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
            acknowledge=acknowledge,
        )
        # What a retry or the reconciler needs to start the workflow, committed with the rows.
        contact = contact_columns(customer.contact)
        session.execute(
            _SET_INPUT, {"number": number, "case_input": input_json(inp), "contact": contact}
        )
        # Version 0: visible in lists at once; the workflow's first projection supersedes it.
        row = case_row(initial_view(inp), utcnow())
        # Constant statements with bound parameters: compiled once, cached by SQLAlchemy.
        session.execute(_INSERT_CASE, {**row, **contact, "transaction": dict(body.transaction)})
        move_rollups(session.connection(), None, row)
        if routing.watchers:
            session.execute(
                _INSERT_WATCHER,
                [
                    {"case_id": case_id, "user_id": w.user_id, "access": w.access.value}
                    for w in routing.watchers
                ],
            )
        return number, inp, contact

    return write
