"""Waiting on the customer (issue 16): a paused case's deadlines stop and move on by the paused
business time, on Temporal's time-skipping server with real activities and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from domain.calendar import BusinessCalendar
from domain.case import Actor, PauseInterval
from domain.deadlines import Deadlines, ShiftRequest, shift_deadlines
from domain.policy import CalendarSpec
from domain.vocabulary import CaseStatus, Priority
from models.case import CaseEvent
from services.case_actions import customer_replied
from services.case_start import start_case_workflow
from tests.factories import case_input, running_worker, seed
from tests.test_case_workflow import OLE, Handle, kinds, new_case, new_id, outbox, view
from workflows.case import CaseWorkflow
from workflows.messages import (
    AddNote,
    CarriedState,
    PauseCase,
    Reassign,
    Reclassify,
    RemeasureAnswer,
    ResumeCase,
    initial_view,
)

# The unit's calendar (Europe/Oslo, Monday to Friday 09:00-17:00, no public holidays).
OSLO = BusinessCalendar(CalendarSpec(timezone="Europe/Oslo"))
BUSINESS = {
    "calendar": {},
    "sla": {
        "open_within": "1 business day",
        "resolve_within": "2 business days",
        "warn_before": "4 business hours",
        "max_pause": "10 business days",
    },
}


def always_open(**sla: Any) -> dict[str, Any]:
    base = {"open_within": "PT4H", "resolve_within": "P1D", "warn_before": "PT1H"}
    return {"sla": base | sla}


async def started(h: Handle) -> None:
    await h.execute_update(CaseWorkflow.add_note, AddNote(OLE, "Called the customer"))


def resumed_event(engine: Engine, case_id: str) -> CaseEvent:
    with Session(engine) as s:
        events = s.exec(select(CaseEvent).where(CaseEvent.case_id == case_id)).all()
    return [e for e in events if e.kind == "resumed"][-1]


async def at_of(h: Handle, kind: str) -> datetime:
    timeline = (await h.query(CaseWorkflow.state)).timeline
    return [e.at for e in timeline if e.kind == kind][-1]


async def test_resolve_due_moves_by_exactly_the_paused_business_time(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with new_case(ts_env, engine, settings, **BUSINESS) as h:
        await started(h)
        ack = await h.execute_update(
            CaseWorkflow.pause, PauseCase(OLE, "Asked for the booking number")
        )
        v = await view(h)
        paused_at, due = v.paused_since, v.resolve_due_at
        assert v.version == ack.version and paused_at is not None
        left = OSLO.business_seconds_between(paused_at, due)
        assert abs(left - 2 * 8 * 3600) < 60  # two business days left (less the note)
        assert v.pause_resumes_at == OSLO.add(paused_at, "10 business days")
        await ts_env.sleep(timedelta(days=5))
        # The old deadline passed while paused: nothing fired.
        v = await view(h)
        assert v.escalation_level == 0 and not v.went_overdue and v.owner_id == "ole"
        assert v.paused_since == paused_at
        await h.execute_update(CaseWorkflow.resume, ResumeCase(OLE, "Customer called back"))
        v = await view(h)
        resumed_at = await at_of(h, "resumed")
    # Whole seconds of business time (the pause and resume instants carry milliseconds).
    paused = round(OSLO.business_seconds_between(paused_at, resumed_at))
    assert paused >= 3 * 8 * 3600  # five days hold at least three business days
    assert v.paused_since is None and v.pause_resumes_at is None
    assert v.paused_seconds == paused == resumed_event(engine, h.id).data["paused_seconds"]
    # Moved by exactly the paused business time; as much left as when it paused.
    assert OSLO.business_seconds_between(due, v.resolve_due_at) == paused
    assert abs(OSLO.business_seconds_between(resumed_at, v.resolve_due_at) - left) < 1
    assert kinds(engine, h.id) == ["opened", "note", "paused", "resumed"]


async def test_the_longest_pause_resumes_the_case_and_reminds_the_owner(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with new_case(ts_env, engine, settings, **always_open(max_pause="PT8H")) as h:
        await started(h)
        due = (await view(h)).resolve_due_at
        await h.execute_update(CaseWorkflow.pause, PauseCase(OLE, "Waiting for photos"))
        paused_at = (await view(h)).paused_since
        assert paused_at is not None
        await ts_env.sleep(timedelta(hours=9))
        v = await view(h)
        assert v.paused_since is None and v.paused_seconds == 8 * 3600
        assert v.resolve_due_at == due + timedelta(hours=8)
        late = await at_of(h, "resumed") - (paused_at + timedelta(hours=8))
        assert timedelta(0) <= late < timedelta(seconds=1)
        assert resumed_event(engine, h.id).actor == "system"
        reminders = [m for m in outbox(engine, h.id) if m.kind == "pause_expired"]
        assert [m.to_addrs for m in reminders] == [["ole@example.com"]]
        # The clock runs again: the moved deadline escalates.
        await ts_env.sleep(timedelta(hours=24))
        assert (await view(h)).escalation_level == 1
    assert kinds(engine, h.id)[:5] == ["opened", "note", "paused", "resumed", "warning"]


@pytest.mark.parametrize("how", ["customer_replied", "remeasure_answer"])
async def test_the_customer_answering_resumes_the_case(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings, how: str
) -> None:
    async with new_case(ts_env, engine, settings, **always_open()) as h:
        await started(h)
        due = (await view(h)).resolve_due_at
        await h.execute_update(CaseWorkflow.pause, PauseCase(OLE, "Asked for the receipt"))
        await ts_env.sleep(timedelta(hours=2))
        if how == "customer_replied":
            await customer_replied(ts_env.client, h.id, "email")
        else:
            await h.signal(CaseWorkflow.remeasure_answer, RemeasureAnswer(4, True, "", "survey"))

        async def resumed() -> Any:
            return (await view(h)).paused_since is None

        for _ in range(100):
            if await resumed():
                break
            await ts_env.sleep(timedelta(seconds=1))
        v = await view(h)
        assert v.paused_since is None
        assert timedelta(hours=2) <= v.resolve_due_at - due <= timedelta(hours=2, minutes=2)
        assert v.paused_seconds == (v.resolve_due_at - due).total_seconds()
    event = resumed_event(engine, h.id)
    assert event.actor.startswith("customer (")
    assert event.data["ended_by"] == event.actor


async def test_no_escalation_fires_while_paused(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with new_case(ts_env, engine, settings, **always_open(max_pause=None)) as h:
        await started(h)
        due = (await view(h)).resolve_due_at
        await h.execute_update(CaseWorkflow.pause, PauseCase(OLE, "Waiting"))
        await ts_env.sleep(timedelta(days=3))
        v = await view(h)
        assert (v.escalation_level, v.owner_id, v.went_overdue) == (0, "ole", False)
        assert v.pause_resumes_at is None
        assert kinds(engine, h.id) == ["opened", "note", "paused"]
        await h.execute_update(CaseWorkflow.resume, ResumeCase(OLE))
        v = await view(h)
        assert v.resolve_due_at == due + timedelta(days=3)
        await ts_env.sleep(timedelta(days=1))
        assert (await view(h)).escalation_level == 1
    assert "escalated" in kinds(engine, h.id)


async def test_pause_and_resume_refuse_what_makes_no_sense(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async def refused(update: Any, cmd: Any) -> ApplicationError:
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await h.execute_update(update, cmd)
        assert isinstance(err.value.cause, ApplicationError)
        return err.value.cause

    async with new_case(ts_env, engine, settings, **always_open()) as h:
        assert (await refused(CaseWorkflow.resume, ResumeCase(OLE))).type == "Conflict"
        assert (await refused(CaseWorkflow.pause, PauseCase(OLE, "  "))).type == "Invalid"
        assert (await refused(CaseWorkflow.pause, PauseCase(Actor("dora"), "x"))).type == (
            "Forbidden"
        )
        await h.execute_update(CaseWorkflow.pause, PauseCase(OLE, "Waiting"))
        assert (await refused(CaseWorkflow.pause, PauseCase(OLE, "again"))).type == "Conflict"
        # Waiting is not a first action: the open deadline is paused, not met.
        assert (await view(h)).first_action_at is None
        await ts_env.sleep(timedelta(hours=5))
        assert kinds(engine, h.id) == ["opened", "paused"]


async def test_a_program_that_pauses_nothing_refuses(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with new_case(ts_env, engine, settings, **always_open(pause_metrics=[])) as h:
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await h.execute_update(CaseWorkflow.pause, PauseCase(OLE, "Waiting"))
        assert isinstance(err.value.cause, ApplicationError)
        assert "does not pause" in str(err.value.cause)


async def test_a_new_priority_keeps_the_time_paused_before(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with new_case(ts_env, engine, settings, **always_open()) as h:
        await started(h)
        created = (await view(h)).created_at
        await h.execute_update(CaseWorkflow.pause, PauseCase(OLE, "Waiting"))
        await ts_env.sleep(timedelta(hours=3))
        await h.execute_update(CaseWorkflow.resume, ResumeCase(OLE))
        paused = (await view(h)).paused_seconds
        await h.execute_update(
            CaseWorkflow.reclassify, Reclassify(Actor("mia"), "VIP", priority=Priority.URGENT)
        )
        v = await view(h)
    # Urgent halves the day from the case's start; the pause still counts.
    assert v.resolve_due_at == created + timedelta(hours=12, seconds=paused)


async def test_a_reassignment_while_paused_moves_only_the_new_clock(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with new_case(ts_env, engine, settings, **always_open()) as h:
        await started(h)
        await h.execute_update(CaseWorkflow.pause, PauseCase(OLE, "Waiting"))
        await ts_env.sleep(timedelta(hours=2))
        await h.execute_update(CaseWorkflow.reassign, Reassign(OLE, "alex", "Billing"))
        fresh = (await view(h)).resolve_due_at
        await ts_env.sleep(timedelta(hours=3))
        await h.execute_update(CaseWorkflow.resume, ResumeCase(Actor("alex")))
        v = await view(h)
    moved = v.resolve_due_at - fresh
    assert timedelta(hours=3) <= moved < timedelta(hours=3, seconds=2)
    assert v.paused_seconds >= 5 * 3600  # the ledger counts the whole pause


def test_shift_deadlines_counts_business_time_only() -> None:
    # Friday 15:00 to Monday 11:00 in Oslo: 2 + 2 business hours; a Friday 16:00 deadline
    # moves 4 business hours on, to Monday 12:00.
    oslo = CalendarSpec(timezone="Europe/Oslo")
    at = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)  # Friday 15:00 CET
    shifted = shift_deadlines(
        ShiftRequest(
            oslo,
            at,
            datetime(2026, 12, 7, 10, 0, tzinfo=UTC),  # Monday 11:00 CET
            Deadlines(None, None, datetime(2026, 12, 4, 15, 0, tzinfo=UTC), None),
        )
    )
    assert shifted.business_seconds == 4 * 3600
    assert shifted.deadlines.resolve_due_at == datetime(2026, 12, 7, 11, 0, tzinfo=UTC)
    assert shifted.deadlines.open_due_at is None


async def test_a_run_continued_while_paused_keeps_its_pause_and_ledger(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    """A case that continued as new while waiting (CarriedState): the next run still waits,
    resumes at the same limit, and its ledger holds the earlier pause too."""
    seed(engine, **always_open())
    now = await ts_env.get_current_time()
    inp = case_input(engine, new_id(), now - timedelta(hours=6))
    view_ = initial_view(inp)
    view_.version, view_.status, view_.first_action_at = 3, CaseStatus.IN_PROGRESS, now
    view_.open_due_at = inp.created_at + timedelta(hours=4)
    view_.resolve_due_at = inp.created_at + timedelta(days=1, hours=1)
    view_.paused_since, view_.pause_resumes_at = now, now + timedelta(hours=2)
    view_.paused_seconds = 3600
    earlier = PauseInterval(inp.created_at, inp.created_at + timedelta(hours=1), 3600, "ole")
    inp.carried = CarriedState(
        view=view_,
        open_warn_at=None,
        resolve_warn_at=view_.resolve_due_at - timedelta(hours=1),
        deadline_gen=1,
        fired=[],
        events=3,
        unprojected=[],
        projection_failed=False,
        projected=True,
        resolve_clock_start=inp.created_at,
        pauses=[earlier],
    )
    async with running_worker(ts_env.client, engine, settings):
        await start_case_workflow(ts_env.client, settings, inp)
        h = ts_env.client.get_workflow_handle_for(CaseWorkflow.run, inp.case_id)
        await ts_env.sleep(timedelta(hours=1))
        assert (await view(h)).paused_since == now  # still waiting in the new run
        await ts_env.sleep(timedelta(hours=1, minutes=1))
        v = await view(h)
        await h.terminate("test finished")
    assert v.paused_since is None and v.paused_seconds == 3600 + 2 * 3600
    assert v.resolve_due_at == inp.created_at + timedelta(days=1, hours=3)
    assert [m.kind for m in outbox(engine, inp.case_id)] == ["pause_expired"]
