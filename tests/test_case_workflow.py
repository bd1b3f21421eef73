"""The case lifecycle on Temporal's time-skipping server, with real activities and SQLite."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from domain.case import Actor
from domain.vocabulary import CaseStatus, ClosingStatus, RemeasureStatus, Role
from models.case import Case, CaseEvent, Outbox
from tests.factories import running_worker, seed, start_case
from workflows.case import CaseWorkflow
from workflows.messages import AddNote, CloseCase, Reassign, RemeasureAnswer

OLE = Actor("ole")
Handle = WorkflowHandle[CaseWorkflow, Any]


def new_id() -> str:
    return f"T-{uuid.uuid4().hex[:8]}"


async def view(h: Handle) -> Any:
    return (await h.query(CaseWorkflow.state)).view


def kinds(engine: Engine, case_id: str) -> list[str]:
    with Session(engine) as s:
        events = s.exec(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.seq))
        ).all()
        return [e.kind for e in events]


def outbox(engine: Engine, case_id: str) -> list[Outbox]:
    with Session(engine) as s:
        return list(s.exec(select(Outbox).where(Outbox.case_id == case_id)).all())


@asynccontextmanager
async def new_case(
    env: WorkflowEnvironment, engine: Engine, settings: Settings, **program: Any
) -> AsyncIterator[Handle]:
    """Seed the program (with `program`'s changes), run the worker and start one case."""
    seed(engine, **program)
    async with running_worker(env.client, engine, settings):
        yield await start_case(env, engine, settings, new_id())


def close_cmd(status: ClosingStatus = ClosingStatus.RESOLVED, actor: Actor = OLE) -> CloseCase:
    return CloseCase(actor, status, ["staff", "billing"], "Apologised and refunded", ["refund"])


async def test_open_deadline_missed_makes_case_overdue(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with new_case(ts_env, engine, settings) as h:
        await ts_env.sleep(timedelta(hours=4, minutes=1))
        v = await view(h)
        assert v.status == CaseStatus.OVERDUE
        assert v.open_breached and v.went_overdue
        # Any action moves it on; the overdue flag stays for reports.
        ack = await h.execute_update(CaseWorkflow.add_note, AddNote(OLE, "Called, no answer"))
        assert ack.status == CaseStatus.IN_PROGRESS
        v = await view(h)
        assert v.version == ack.version and v.went_overdue
    assert kinds(engine, h.id) == ["opened", "warning", "overdue", "note"]
    mails = {m.kind: m for m in outbox(engine, h.id)}
    assert set(mails) == {"alert", "warning", "overdue"}
    assert mails["overdue"].to_addrs == ["ole@example.com"]
    assert mails["overdue"].cc_addrs == ["mia@example.com"]


async def test_pre_breach_warning_fires_before_the_deadline(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with new_case(ts_env, engine, settings) as h:
        await ts_env.sleep(timedelta(hours=3, minutes=5))
        v = await view(h)
        assert v.status == CaseStatus.NEW
        assert kinds(engine, h.id) == ["opened", "warning"]
        await h.execute_update(CaseWorkflow.add_note, AddNote(OLE, "On it"))
        await ts_env.sleep(timedelta(hours=1))
        assert (await view(h)).status == CaseStatus.IN_PROGRESS  # no overdue after the action


async def test_resolve_deadline_escalates_up_a_two_level_ladder(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with new_case(ts_env, engine, settings) as h:
        await h.execute_update(CaseWorkflow.add_note, AddNote(OLE, "Looking into it"))
        await ts_env.sleep(timedelta(days=1, minutes=1))
        v = await view(h)
        assert (v.owner_id, v.escalation_level, v.status) == ("mia", 1, CaseStatus.OVERDUE)
        assert {(w.user_id, w.access.value) for w in v.watchers} == {
            ("fred", "limited"),
            ("ole", "limited"),
        }
        # The late owner may still read but no longer act.
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await h.execute_update(CaseWorkflow.add_note, AddNote(OLE, "late"))
        assert isinstance(err.value.cause, ApplicationError)
        assert err.value.cause.type == "Forbidden"
        await ts_env.sleep(timedelta(days=1, minutes=1))
        v = await view(h)
        assert (v.owner_id, v.escalation_level) == ("dora", 2)
        await ts_env.sleep(timedelta(days=1, minutes=1))
        v = await view(h)
        assert (v.owner_id, v.escalation_level, v.resolve_breached) == ("dora", 2, True)
        await h.execute_update(
            CaseWorkflow.close, close_cmd(ClosingStatus.UNRESOLVED, Actor("dora"))
        )
        await h.result()
    ks = kinds(engine, h.id)
    assert ks.count("escalated") == 2 and ks[-2:] == ["overdue", "closed"]
    escalations = [m for m in outbox(engine, h.id) if m.kind == "escalation"]
    assert sorted(m.to_addrs[0] for m in escalations) == ["dora@example.com", "mia@example.com"]
    with Session(engine) as s:
        row = s.get(Case, h.id)
        assert row and row.escalation_level == 2 and row.owner_id == "dora"


async def test_reassignment_rearms_the_resolve_deadline(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with new_case(
        ts_env, engine, settings, escalation={"max_level": 2, "reassign_resolve_within": "P1D"}
    ) as h:
        first_due = (await view(h)).resolve_due_at
        await ts_env.sleep(timedelta(hours=20))
        await h.execute_update(
            CaseWorkflow.reassign, Reassign(Actor("mia"), "alex", "Alex handles billing")
        )
        v = await view(h)
        assert v.owner_id == "alex" and v.resolve_due_at > first_due
        await ts_env.sleep(timedelta(hours=6))  # past the first deadline, not the new one
        v = await view(h)
        assert (v.owner_id, v.escalation_level) == ("alex", 0)
        await ts_env.sleep(timedelta(hours=19))  # now past the re-armed one
        v = await view(h)
        assert (v.owner_id, v.escalation_level) == ("mia", 1)


async def test_resolved_close_then_remeasurement_answered(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with new_case(ts_env, engine, settings) as h:
        ack = await h.execute_update(CaseWorkflow.close, close_cmd())
        v = await view(h)
        assert ack.status == v.status == CaseStatus.CLOSED and v.root_causes == ["staff", "billing"]
        await ts_env.sleep(timedelta(hours=1))
        assert (await view(h)).remeasure_status == RemeasureStatus.PENDING
        await h.signal(CaseWorkflow.remeasure_answer, RemeasureAnswer(5, True, "Thanks!"))
        result = await h.result()
    assert result.remeasure_status == RemeasureStatus.ANSWERED
    with Session(engine) as s:
        row = s.get(Case, h.id)
        assert row and row.remeasure_score == 5 and row.remeasure_resolved is True
        assert not row.recovery_failed
    assert kinds(engine, h.id)[-3:] == ["closed", "remeasure_sent", "remeasured"]
    assert {m.kind for m in outbox(engine, h.id)} >= {"remeasure", "closing"}


async def test_resolved_close_then_remeasurement_expires(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with new_case(ts_env, engine, settings) as h:
        await h.execute_update(CaseWorkflow.close, close_cmd())
        await ts_env.sleep(timedelta(days=2, minutes=1))
        assert "remeasure_reminder" in kinds(engine, h.id)
        await ts_env.sleep(timedelta(days=3))
        result = await h.result()
    assert result.remeasure_status == RemeasureStatus.EXPIRED
    assert kinds(engine, h.id)[-4:] == [
        "closed",
        "remeasure_sent",
        "remeasure_reminder",
        "remeasure_expired",
    ]
    assert {m.kind for m in outbox(engine, h.id)} >= {"remeasure", "remeasure_reminder"}


async def test_failed_recovery_reopens_when_the_program_says_so(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with new_case(
        ts_env, engine, settings, remeasure={"reopen_on_failure": True, "low_score_threshold": 2}
    ) as h:
        await h.execute_update(CaseWorkflow.close, close_cmd())
        await ts_env.sleep(timedelta(minutes=5))
        await h.signal(CaseWorkflow.remeasure_answer, RemeasureAnswer(1, False, "Still broken"))
        await ts_env.sleep(timedelta(minutes=5))
        v = await view(h)
        assert v.status == CaseStatus.IN_PROGRESS and v.reopened_count == 1 and v.recovery_failed
        await h.execute_update(CaseWorkflow.close, close_cmd(ClosingStatus.UNRESOLVED))
        await h.result()
    assert "reopened" in kinds(engine, h.id)


async def test_unresolved_close_completes_at_once(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with new_case(ts_env, engine, settings) as h:
        await h.execute_update(CaseWorkflow.close, close_cmd(ClosingStatus.UNRESOLVED))
        result = await h.result()
    assert result.closing_status == ClosingStatus.UNRESOLVED
    assert result.remeasure_status == RemeasureStatus.NOT_APPLICABLE
    with Session(engine) as s:
        row = s.get(Case, h.id)
        assert row and row.status == "closed" and not row.is_open and row.next_due_at is None


@pytest.mark.parametrize(
    ("cmd", "kind", "message"),
    [
        (AddNote(Actor("fred"), "I watch with limited access"), "Forbidden", "read-only"),
        (AddNote(Actor("alex"), "Not my case"), "Forbidden", "neither the owner"),
        (
            CloseCase(OLE, ClosingStatus.RESOLVED, [], "done"),
            "Invalid",
            "at least one root cause",
        ),
        (
            CloseCase(OLE, ClosingStatus.RESOLVED, ["weather"], "done"),
            "Invalid",
            "Unknown root cause",
        ),
        (CloseCase(OLE, ClosingStatus.RESOLVED, ["staff"], "  "), "Invalid", "final note"),
    ],
)
async def test_validators_reject_before_history(
    ts_env: WorkflowEnvironment,
    engine: Engine,
    settings: Settings,
    cmd: Any,
    kind: str,
    message: str,
) -> None:
    async with new_case(ts_env, engine, settings) as h:
        update = CaseWorkflow.close if isinstance(cmd, CloseCase) else CaseWorkflow.add_note
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await h.execute_update(update, cmd)
        cause = err.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == kind
        assert message in str(cause)
        v = await view(h)
        assert v.status == CaseStatus.NEW and v.version == 1
        # An admin may act on any case.
        admin = Actor("root", Role.ADMIN)
        ack = await h.execute_update(CaseWorkflow.add_note, AddNote(admin, "hi"))
        assert (ack.status, ack.version) == (CaseStatus.IN_PROGRESS, 2)
    # Rejected updates never reached history.
    history = await h.fetch_history()
    accepted = [
        e
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert len(accepted) == 1
