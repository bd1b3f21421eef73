"""A long-lived case keeps a small history: owner actions answer an acknowledgement, projected
events leave no text in the workflow, and the case continues as new when Temporal suggests it.

Real dev server (the time-skipping server never suggests continue-as-new), real worker, SQLite.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from domain.case import Actor
from domain.vocabulary import CaseStatus, ClosingStatus
from models.case import CaseEvent
from services.case_actions import run_update
from services.case_start import start_case_workflow
from tests.factories import case_input, case_row, running_worker, seed
from tests.live import eventually
from workflows.case import CaseWorkflow
from workflows.messages import ActionAck, AddNote, CloseCase, Reassign

OLE = Actor("ole")
NOTES = 1_000
# Deadlines far enough not to fire while the notes go in; a reassignment afterwards gives the
# new owner 6 seconds.
SLA = {"open_within": "PT1H", "resolve_within": "P1D", "warn_before": "PT2S"}
ESCALATION = {"max_level": 2, "reassign_resolve_within": "PT6S"}


def note_texts(engine: Engine, case_id: str) -> list[str]:
    with Session(engine) as s:
        rows = s.exec(
            select(CaseEvent.summary)
            .where(CaseEvent.case_id == case_id, CaseEvent.kind == "note")
            .order_by(col(CaseEvent.seq))
        )
        return list(rows)


def kinds_of(engine: Engine, case_id: str) -> list[str]:
    with Session(engine) as s:
        rows = s.exec(
            select(CaseEvent.kind).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.seq))
        )
        return list(rows)


def event_count(engine: Engine, case_id: str) -> int:
    with Session(engine) as s:
        counted = s.exec(
            select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id)
        ).one()
        return int(counted)


async def test_a_case_with_a_thousand_notes_continues_as_new_and_loses_nothing(
    dev_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    seed(engine, sla=SLA, escalation=ESCALATION)
    client = dev_env.client
    case_id = f"N-{uuid.uuid4().hex[:8]}"
    async with running_worker(client, engine, settings):
        await start_case_workflow(client, settings, case_input(engine, case_id, datetime.now(UTC)))
        await eventually(lambda: event_count(engine, case_id) >= 1, 30, "opened")
        first_run = (await client.get_workflow_handle(case_id).describe()).run_id
        # Four writers at a time, as several owners' tabs would.
        texts = [f"Note {n}: called the guest, room {n % 400} checked" for n in range(NOTES)]
        acks: list[ActionAck] = []

        async def write(chunk: list[str]) -> None:
            for text in chunk:
                note = AddNote(OLE, text)
                ack = await run_update(
                    client, case_id, CaseWorkflow.add_note, note, wait_seconds=30
                )
                # Pages read the case from the read model: it has this version already.
                assert case_row(engine, case_id).version >= ack.version
                acks.append(ack)

        await asyncio.gather(*(write(texts[i::4]) for i in range(4)))
        # The acknowledgement is small and names the version the read model already has.
        assert sorted(a.version for a in acks) == list(range(2, NOTES + 2))
        assert {a.status for a in acks} == {CaseStatus.IN_PROGRESS}
        assert case_row(engine, case_id).version == NOTES + 1

        # Temporal suggested a new run and the case took it, carrying its state.
        handle = client.get_workflow_handle_for(CaseWorkflow.run, case_id)
        runs = 1
        first = client.get_workflow_handle(case_id, run_id=first_run)
        async for event in first.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                runs += 1
        assert runs == 2, "the first run continued as new"
        described = await handle.describe()
        assert described.run_id != first_run and described.status == WorkflowExecutionStatus.RUNNING
        # Each run's history stays well under Temporal's limits.
        current = await handle.fetch_history()
        assert len(current.events) < 8_000

        # Nothing lost: every note in the read model, in order, once.
        assert sorted(note_texts(engine, case_id)) == sorted(texts)
        assert event_count(engine, case_id) == NOTES + 1
        # The workflow keeps no note text: the state of the current run holds none.
        state = await handle.query(CaseWorkflow.state)
        assert state.view.version == NOTES + 1
        assert not any(e.summary or e.data for e in state.timeline)

        # The case still works: a reassignment re-arms the resolve deadline, which escalates
        # alex's case to his manager; the close completes the case with every event counted.
        await run_update(
            client, case_id, CaseWorkflow.reassign, Reassign(Actor("mia"), "alex", "Billing")
        )

        def escalated() -> bool:
            return case_row(engine, case_id).owner_id == "mia"

        await eventually(escalated, 30, "the escalation to mia")
        await run_update(
            client,
            case_id,
            CaseWorkflow.close,
            CloseCase(Actor("mia"), ClosingStatus.UNRESOLVED, ["staff"], "Guest unreachable"),
        )
        result = await asyncio.wait_for(handle.result(), 30)
    kinds = [k for k in kinds_of(engine, case_id) if k != "note"]
    assert kinds == ["opened", "reassigned", "warning", "escalated", "closed"], kinds
    assert result.closing_status == ClosingStatus.UNRESOLVED
    assert result.events == event_count(engine, case_id) == NOTES + 5
