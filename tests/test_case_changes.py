"""Reclassifying and reopening a case, on Temporal's time-skipping server with real activities."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from domain.case import Actor
from domain.vocabulary import CaseStatus, ClosingStatus, Priority, RemeasureStatus, Role
from models.case import Case, CaseEvent, Outbox
from services.case_actions import ActionRejected
from services.case_reopen import reopen_case
from tests.factories import running_worker, seed, start_case
from workflows.case import CaseWorkflow
from workflows.messages import AddNote, CloseCase, Reassign, Reclassify, ReopenCase

OLE = Actor("ole")
MIA = Actor("mia", Role.MANAGER, "Mia Manager")
Handle = WorkflowHandle[CaseWorkflow, Any]


def new_id() -> str:
    return f"T-{uuid.uuid4().hex[:8]}"


async def view(h: Handle) -> Any:
    return (await h.query(CaseWorkflow.state)).view


async def acted(h: Handle, update: Any, cmd: Any) -> Any:
    """The case after the update (updates answer only an acknowledgement)."""
    await h.execute_update(update, cmd)
    return await view(h)


def events(engine: Engine, case_id: str) -> list[CaseEvent]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.seq))
            ).all()
        )


async def current_run(env: WorkflowEnvironment, case_id: str) -> str:
    request = DescribeWorkflowExecutionRequest(
        namespace=env.client.namespace, execution=WorkflowExecution(workflow_id=case_id)
    )
    described = await env.client.workflow_service.describe_workflow_execution(request)
    return described.workflow_execution_info.execution.run_id


def outbox(engine: Engine, case_id: str) -> list[Outbox]:
    with Session(engine) as s:
        return list(s.exec(select(Outbox).where(Outbox.case_id == case_id)).all())


def row(engine: Engine, case_id: str) -> Case:
    with Session(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None
        return case


def close_cmd(status: ClosingStatus, actor: Actor = OLE) -> CloseCase:
    return CloseCase(actor, status, ["staff"], "Apologised", ["apology"])


async def test_a_new_priority_moves_the_deadlines_from_the_start_and_escalation_follows(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    seed(engine)
    async with running_worker(ts_env.client, engine, settings):
        h = await start_case(ts_env, engine, settings, new_id())
        before = await view(h)
        created = before.created_at
        assert before.open_due_at == created + timedelta(hours=4)
        assert before.resolve_due_at == created + timedelta(days=1)
        await ts_env.sleep(timedelta(minutes=30))
        v = await acted(
            h,
            CaseWorkflow.reclassify,
            Reclassify(MIA, "Guest is a VIP", category="Housekeeping", priority=Priority.URGENT),
        )
        # Urgent halves the durations, counted from when the case opened (not from now).
        assert v.priority == Priority.URGENT and v.category == "Housekeeping"
        assert v.open_due_at == created + timedelta(hours=2)
        assert v.resolve_due_at == created + timedelta(hours=12)
        case = row(engine, h.id)
        assert (case.priority, case.category) == ("urgent", "Housekeeping")
        last = events(engine, h.id)[-1]
        assert (last.kind, last.actor) == ("reclassified", "mia")
        assert last.data["changes"] == {
            "category": ["", "Housekeeping"],
            "priority": ["normal", "urgent"],
        }
        assert "priority normal → urgent" in last.summary and "Guest is a VIP" in last.summary
        # The open deadline now passes at 2 h: the case goes overdue then, not at 4 h.
        await ts_env.sleep(timedelta(hours=1, minutes=35))
        assert (await view(h)).status == CaseStatus.OVERDUE
        await h.execute_update(CaseWorkflow.add_note, AddNote(OLE, "Called the guest"))
        # And the resolve deadline at 12 h escalates to the owner's manager.
        await ts_env.sleep(timedelta(hours=10, minutes=5))
        v = await view(h)
        assert (v.owner_id, v.escalation_level) == ("mia", 1)
    kinds = [e.kind for e in events(engine, h.id)]
    assert kinds.index("reclassified") < kinds.index("overdue") < kinds.index("escalated")


async def test_a_lower_priority_after_reassignment_keeps_the_new_owners_clock(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    seed(engine, escalation={"max_level": 2, "reassign_resolve_within": "P1D"})
    async with running_worker(ts_env.client, engine, settings):
        h = await start_case(ts_env, engine, settings, new_id(), priority=Priority.URGENT)
        await ts_env.sleep(timedelta(hours=1))
        v = await acted(h, CaseWorkflow.reassign, Reassign(MIA, "alex", "billing"))
        assert v.resolve_due_at is not None
        handed_at = v.resolve_due_at - timedelta(hours=12)  # urgent: half of P1D
        v = await acted(
            h,
            CaseWorkflow.reclassify,
            Reclassify(MIA, "Not urgent after all", priority=Priority.LOW),
        )
        assert v.resolve_due_at == handed_at + timedelta(days=1)
        # Only the priority changed: the event says so.
        assert events(engine, h.id)[-1].data["changes"] == {"priority": ["urgent", "low"]}


@pytest.mark.parametrize(
    ("cmd", "kind", "message"),
    [
        (Reclassify(OLE, "  ", priority=Priority.HIGH), "Invalid", "reason"),
        (Reclassify(OLE, "same", priority=Priority.NORMAL), "Invalid", "Nothing would change"),
        (Reclassify(OLE, "blank", category=" "), "Invalid", "Choose a category"),
        (Reclassify(Actor("fred"), "read only", priority=Priority.HIGH), "Forbidden", "read-only"),
    ],
)
async def test_reclassify_validators_reject_before_history(
    ts_env: WorkflowEnvironment,
    engine: Engine,
    settings: Settings,
    cmd: Reclassify,
    kind: str,
    message: str,
) -> None:
    seed(engine)
    async with running_worker(ts_env.client, engine, settings):
        h = await start_case(ts_env, engine, settings, new_id())
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await h.execute_update(CaseWorkflow.reclassify, cmd)
        cause = err.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == kind
        assert message in str(cause)
        assert (await view(h)).version == 1


async def test_reopen_while_the_survey_is_out_withdraws_it_and_restarts_the_deadline(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    seed(engine)
    async with running_worker(ts_env.client, engine, settings):
        h = await start_case(ts_env, engine, settings, new_id())
        await h.execute_update(CaseWorkflow.close, close_cmd(ClosingStatus.RESOLVED))
        await ts_env.sleep(timedelta(hours=1))
        assert (await view(h)).remeasure_status == RemeasureStatus.PENDING
        # Refused: an agent who does not own it; a reason is required.
        for cmd, kind in [
            (ReopenCase(Actor("alex"), "mine now"), "Forbidden"),
            (ReopenCase(MIA, "a manager, but not of this unit"), "Forbidden"),
            (ReopenCase(MIA, " ", manages_unit=True), "Invalid"),
        ]:
            with pytest.raises(WorkflowUpdateFailedError) as err:
                await h.execute_update(CaseWorkflow.reopen, cmd)
            assert isinstance(err.value.cause, ApplicationError)
            assert err.value.cause.type == kind
        now = await ts_env.get_current_time()
        v = await acted(
            h, CaseWorkflow.reopen, ReopenCase(MIA, "Guest called back", manages_unit=True)
        )
        assert v.status == CaseStatus.IN_PROGRESS and v.reopened_count == 1
        assert v.closing_status is None and v.remeasure_status == RemeasureStatus.NOT_APPLICABLE
        assert v.resolve_due_at is not None
        restarted = v.resolve_due_at - timedelta(days=1)
        assert now <= restarted <= now + timedelta(minutes=1)
        # An open case cannot be reopened.
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await h.execute_update(CaseWorkflow.reopen, ReopenCase(MIA, "again", True))
        assert isinstance(err.value.cause, ApplicationError)
        assert err.value.cause.type == "Conflict"
        # The workflow runs on: the new deadline escalates, and closing ends it.
        await ts_env.sleep(timedelta(days=1, minutes=1))
        assert (await view(h)).escalation_level == 1
        await h.execute_update(CaseWorkflow.close, close_cmd(ClosingStatus.UNRESOLVED, MIA))
        await h.result()
    reopened = [e for e in events(engine, h.id) if e.kind == "reopened"]
    assert [(e.actor, e.data["reason"]) for e in reopened] == [("mia", "Guest called back")]
    # The owner hears who reopened it and why.
    [mail] = [m for m in outbox(engine, h.id) if m.kind == "reopened"]
    assert mail.to_addrs == ["ole@example.com"]
    assert mail.subject.endswith("was reopened by Mia Manager")
    assert "Reason: Guest called back" in mail.body_text
    assert row(engine, h.id).status == "closed"


async def test_reopen_after_the_workflow_completed_starts_a_new_run_with_the_case(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    seed(engine)
    async with running_worker(ts_env.client, engine, settings):
        h = await start_case(ts_env, engine, settings, new_id())
        await h.execute_update(CaseWorkflow.add_note, AddNote(OLE, "Called"))
        await h.execute_update(CaseWorkflow.close, close_cmd(ClosingStatus.UNRESOLVED))
        await h.result()
        first_run = await current_run(ts_env, h.id)
        closed = await view(h)
        with pytest.raises(ActionRejected) as refused:
            await reopen_case(ts_env.client, settings, h.id, Actor("alex"), "let me")
        assert refused.value.status == 403
        ack = await reopen_case(
            ts_env.client, settings, h.id, OLE, "The guest wrote again", idempotency_key="k1"
        )
        v = await view(h)
        assert ack.version == v.version
        assert v.status == CaseStatus.IN_PROGRESS and v.reopened_count == 1
        assert v.version == closed.version + 1
        # Sent again with the same key (a retry): the same reopen, not a second one.
        again = await reopen_case(
            ts_env.client, settings, h.id, OLE, "The guest wrote again", idempotency_key="k1"
        )
        assert again.version == v.version
        assert (await view(h)).reopened_count == 1
        assert await current_run(ts_env, h.id) != first_run
        state = await h.query(CaseWorkflow.state)
        assert [e.kind for e in state.timeline] == ["opened", "note", "closed", "reopened"]
        assert state.timeline[-1].actor == "ole"
        # The new run is the case: it takes actions and closes again.
        await h.execute_update(CaseWorkflow.add_note, AddNote(OLE, "Sorted it out"))
        await h.execute_update(CaseWorkflow.close, close_cmd(ClosingStatus.UNRESOLVED))
        await h.result()
    kinds = [e.kind for e in events(engine, h.id)]
    assert kinds == ["opened", "note", "closed", "reopened", "note", "closed"]
    case = row(engine, h.id)
    assert case.status == "closed" and case.reopened_count == 1
    # The owner reopened it: the full watcher is told, not the owner.
    [mail] = [m for m in outbox(engine, h.id) if m.kind == "reopened"]
    assert (mail.to_addrs, mail.cc_addrs) == (["mia@example.com"], [])
    assert "Ole Owner reopened case" in mail.body_text
