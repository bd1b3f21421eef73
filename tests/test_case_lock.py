"""Two owner actions on one case at once change it one after the other, never interleaved.

Both updates are admitted by the real dev server while no worker runs, so the next worker gets
them in one workflow activation: exactly where handlers used to interleave at the awaits of their
local activities (a reassignment finishing after a close, on a closed case).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from domain.case import Actor
from domain.vocabulary import CaseStatus, ClosingStatus, Role
from models.case import CaseEvent
from services.case_start import start_case_workflow
from tests.factories import case_input, case_row, running_worker, seed
from tests.live import eventually
from workflows.case import CaseWorkflow
from workflows.messages import CloseCase, Reassign

ADMIN = Actor("admin", Role.ADMIN)


def timeline(engine: Engine, case_id: str) -> list[tuple[int, str]]:
    with Session(engine) as s:
        rows = s.exec(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.seq))
        )
        return [(e.seq, e.kind) for e in rows]


async def test_a_reassignment_and_a_close_sent_together_apply_in_order(
    dev_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    seed(engine)
    case_id = f"L-{uuid.uuid4().hex[:8]}"
    client = dev_env.client
    async with running_worker(client, engine, settings):
        await start_case_workflow(client, settings, case_input(engine, case_id, datetime.now(UTC)))
        await eventually(lambda: len(timeline(engine, case_id)) >= 1, 30, "the case opened")
    handle = client.get_workflow_handle_for(CaseWorkflow.run, case_id)

    # No worker: both updates wait on the server, to be delivered together.
    reassign = asyncio.create_task(
        handle.execute_update(CaseWorkflow.reassign, Reassign(ADMIN, "mia", "Mia knows billing"))
    )
    await asyncio.sleep(1)  # the reassignment reaches the server first
    close = asyncio.create_task(
        handle.execute_update(
            CaseWorkflow.close,
            CloseCase(ADMIN, ClosingStatus.UNRESOLVED, ["staff"], "Guest unreachable"),
        )
    )
    await asyncio.sleep(1)
    async with running_worker(client, engine, settings):
        reassigned, closed = await asyncio.wait_for(asyncio.gather(reassign, close), 60)
        await eventually(
            lambda: {"reassigned", "closed"} <= {k for _, k in timeline(engine, case_id)},
            30,
            "both actions projected",
        )

    # The reassignment ran whole before the close began: it answered an open case, and the
    # close came last, on the new owner's case.
    assert reassigned.status != CaseStatus.CLOSED and closed.status == CaseStatus.CLOSED
    assert closed.version > reassigned.version
    assert case_row(engine, case_id).owner_id == "mia"
    kinds = [kind for _, kind in timeline(engine, case_id)]
    assert kinds[-2:] == ["reassigned", "closed"], kinds
