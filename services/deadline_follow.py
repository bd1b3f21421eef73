"""Deadlines follow a program's changes (issue 16): the admin's choice recorded with the change,
and the open cases told of it.

A change of a program's calendar, holidays or SLA applies to cases opened from then on (they
snapshot the program when they open). With "also open cases" (`ApplyTo.OPEN`) a
PolicyFanoutWorkflow, one per audited change, signals every open case of the program; each
moves its open deadlines keeping the business time it has used (domain/deadline_follow.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from core.settings import Settings
from domain.audit import Actor
from domain.deadline_follow import deadline_change
from domain.program import ConfigDoc
from domain.vocabulary import ApplyTo, AuditObject
from models.config import Program, Unit
from services.configuration import apply_in, policy_for, program_state
from services.outages import Unavailable
from workflows.messages import FanoutInput
from workflows.policy_fanout import PolicyFanoutWorkflow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProgramChange:
    """A program written: its audit entry (None when nothing changed) and, when its calendar or
    SLA changed, why deadlines move (else None)."""

    program_id: str
    audit_id: int | None
    reason: str | None
    apply_to: ApplyTo
    # When the entry was written: with its id, the change's name across a database's lifetimes
    # (a restored or recreated database counts its ids again, Temporal remembers old runs).
    audited_at: datetime | None = None

    @property
    def ref(self) -> str:
        stamp = self.audited_at.strftime("%Y%m%dT%H%M%S%f") if self.audited_at else "-"
        return f"audit-{self.audit_id}-{stamp}"

    @property
    def follows(self) -> bool:
        """The open cases are to follow this change."""
        return self.apply_to == ApplyTo.OPEN and self.reason is not None and bool(self.audit_id)


def apply_program(engine: Engine, doc: ConfigDoc, actor: Actor, apply_to: ApplyTo) -> ProgramChange:
    """Write the one program of `doc` (as `apply_config` does); its audit entry records
    `apply_to` when the calendar or SLA changed."""
    [program_in] = doc.programs
    with Session(engine) as session:
        found = session.get(Program, program_in.id)
        before = program_state(found) if found else None
        entries = apply_in(session, doc, actor)
        entry = next((e for e in entries if e.object_kind == AuditObject.PROGRAM), None)
        stored = session.get(Program, program_in.id)
        assert stored is not None
        reason = deadline_change(before, program_state(stored)) if entry else None
        if entry is not None and reason is not None:
            entry.apply_to = apply_to.value
        session.commit()
        audit_id = entry.id if entry is not None else None
        audited_at = entry.at if entry is not None else None
    return ProgramChange(program_in.id, audit_id, reason, apply_to, audited_at)


def fanout_id(program_id: str, ref: str) -> str:
    """One fan-out per change: started twice, it is the same workflow."""
    return f"policy-follow-{program_id}-{ref}"


def fanout_input(engine: Engine, program_id: str, ref: str, reason: str) -> FanoutInput:
    """The program's policy on each unit's calendar (a case's policy depends on its unit)."""
    with Session(engine) as session:
        program = session.get(Program, program_id)
        if program is None:
            raise LookupError(f"No program {program_id!r}")
        units = session.exec(select(Unit).order_by(col(Unit.id))).all()
        policies = {u.id: policy_for(program, u) for u in units}
    return FanoutInput(program_id=program_id, ref=ref, reason=reason, policies=policies)


async def reschedule_open_cases(
    client: Client, settings: Settings, engine: Engine, change: ProgramChange
) -> str | None:
    """Start the fan-out of `change` to the program's open cases (idempotent); its workflow id,
    or None when the change does not apply to open cases."""
    if not change.follows or change.reason is None:
        return None
    workflow_id = fanout_id(change.program_id, change.ref)
    inp = fanout_input(engine, change.program_id, change.ref, change.reason)
    try:
        await client.start_workflow(
            PolicyFanoutWorkflow.run,
            inp,
            id=workflow_id,
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"{change.program_id}: open cases follow {change.ref}",
        )
    except WorkflowAlreadyStartedError:
        log.info("fan-out %s already ran", workflow_id)
    except RPCError as exc:
        log.warning("fan-out %s not started: %s", workflow_id, exc)
        raise Unavailable(
            "temporal", "The program was saved, but its open cases were not told: try again"
        ) from exc
    return workflow_id
