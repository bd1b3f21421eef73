"""Starting a case's workflow from what intake stored: by intake, its retries and the reconciler.

The start is idempotent on the case id (`USE_EXISTING`), so any of them may start the same case
at the same time; `case_intake.workflow_started_at` records that one of them succeeded.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Engine, bindparam, update
from sqlmodel import Session
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.service import RPCError

from core.settings import Settings
from domain.vocabulary import CaseStatus
from models.case import CaseIntake
from services.outages import Unavailable
from services.writer import writer_for
from workflows.case import CaseWorkflow
from workflows.messages import CaseInput
from workflows.search_attributes import (
    SA_CHANNEL,
    SA_OWNER,
    SA_PRIORITY,
    SA_PROGRAM,
    SA_STATUS,
    SA_UNIT,
)

_INPUT = TypeAdapter(CaseInput)
log = logging.getLogger(__name__)


class WorkflowUnavailable(Unavailable):
    """Temporal did not take the start; the intake rows are kept and the start is retried."""

    def __init__(self, message: str) -> None:
        super().__init__("temporal", message)


def input_json(inp: CaseInput) -> dict[str, Any]:
    """The workflow input as stored on the intake row (the same JSON the data converter makes)."""
    data: dict[str, Any] = _INPUT.dump_python(inp, mode="json")
    return data


def input_from_json(data: dict[str, Any]) -> CaseInput:
    return _INPUT.validate_python(data)


def _cut(text: str, max_bytes: int) -> str:
    """Temporal limits the size of a workflow's summary and details (in bytes)."""
    raw = text.encode("utf-8")
    return text if len(raw) <= max_bytes else raw[: max_bytes - 3].decode("utf-8", "ignore") + "…"


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


_I = CaseIntake.__table__.c  # type: ignore[attr-defined]
_MARK = (
    update(CaseIntake.__table__)  # type: ignore[attr-defined]
    .where(_I.id.in_(bindparam("ids", expanding=True)) & _I.workflow_started_at.is_(None))
    .values(workflow_started_at=bindparam("at"))
)


async def mark_started(engine: Engine, numbers: list[int]) -> None:
    """Record that these intake rows' workflows exist (one statement, through the writer)."""
    if not numbers:
        return

    def write(session: Session) -> None:
        session.execute(_MARK, {"ids": numbers, "at": datetime.now(UTC)})

    await writer_for(engine).run_async(write)


async def ensure_started(
    engine: Engine, client: Client, settings: Settings, number: int, inp: CaseInput
) -> None:
    """Start the workflow (a no-op if it runs) and mark the row; WorkflowUnavailable if Temporal
    refuses or cannot be reached."""
    try:
        # Bounded: with Temporal unreachable the client retries for a while; answer before that.
        async with asyncio.timeout(settings.intake_start_timeout_seconds):
            await start_case_workflow(client, settings, inp)
    except (RPCError, TimeoutError, RuntimeError) as exc:  # RuntimeError: lazy client's connect
        log.warning("workflow start of %s failed, kept for a retry: %r", inp.case_id, exc)
        raise WorkflowUnavailable(f"The workflow of {inp.case_id} could not be started") from exc
    await mark_started(engine, [number])
