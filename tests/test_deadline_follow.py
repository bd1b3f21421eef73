"""Deadlines follow a program's change (issue 16): a holiday or a shorter SLA applied to the open
cases too moves their deadlines, keeping the business time used; "new cases only" leaves them.
On Temporal's time-skipping server with the real fan-out workflow, activities and SQLite.

The unit's calendar: Europe/Oslo, Monday to Friday 09:00-17:00, no public holidays. Each case
opens on a Monday at 10:00: first action due Tuesday 10:00, resolved Wednesday 10:00.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from domain.audit import operator
from domain.program import ConfigDoc
from domain.vocabulary import ApplyTo, CaseStatus
from models.audit import AuditEntry
from models.case import CaseEvent
from services.case_start import start_case_workflow
from services.deadline_follow import (
    ProgramChange,
    apply_program,
    fanout_input,
    reschedule_open_cases,
)
from tests.conftest import terminate_cases
from tests.factories import case_input, case_row, config, running_worker, seed
from tests.live import eventually
from tests.test_case_workflow import OLE, close_cmd, view
from workflows.case import CaseWorkflow
from workflows.messages import AddNote, FanoutResult, PolicyChanged
from workflows.policy_fanout import PolicyFanoutWorkflow

OSLO = ZoneInfo("Europe/Oslo")
Handle = WorkflowHandle[CaseWorkflow, Any]
SLA = {
    "open_within": "1 business day",
    "resolve_within": "2 business days",
    "warn_before": "4 business hours",
}
PROGRAM: dict[str, Any] = {"calendar": {}, "sla": SLA, "escalation": {"max_level": 2}}


def at(monday: date, days: int, hour: int, minute: int = 0) -> datetime:
    """`hour`:`minute` in Oslo, `days` after the Monday."""
    return datetime.combine(monday + timedelta(days=days), time(hour, minute), OSLO)


@asynccontextmanager
async def business_week(
    env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> AsyncIterator[date]:
    """The program seeded, a worker running, the server's clock at the next Monday 10:00."""
    seed(engine, **PROGRAM)
    now = await env.get_current_time()
    local = now.astimezone(OSLO).date()
    monday = local + timedelta(days=7 - local.weekday())
    await env.sleep(at(monday, 0, 10) - now)
    async with running_worker(env.client, engine, settings):
        try:
            yield monday
        finally:
            await terminate_cases(env, engine)


async def open_case(env: WorkflowEnvironment, engine: Engine, settings: Settings) -> Handle:
    """A case opened Monday 10:00 sharp (the server's clock is a moment past it)."""
    now = await env.get_current_time()
    opened = now.astimezone(OSLO).replace(minute=0, second=0, microsecond=0)
    case_id = f"F-{uuid.uuid4().hex[:8]}"
    await start_case_workflow(env.client, settings, case_input(engine, case_id, opened))
    handle = env.client.get_workflow_handle_for(CaseWorkflow.run, case_id)

    async def projected() -> bool:
        return (await view(handle)).version >= 1

    await eventually(projected, within=10, what="the first projection", every=0.02)
    return handle


def change(engine: Engine, apply_to: ApplyTo, **program: Any) -> ProgramChange:
    doc = config(**(PROGRAM | program))
    only = ConfigDoc.model_construct(users=[], units=[], programs=doc.programs)
    return apply_program(engine, only, operator("admin"), apply_to)


async def follow(
    env: WorkflowEnvironment, settings: Settings, engine: Engine, ch: ProgramChange
) -> FanoutResult:
    """Start the fan-out and wait for it (the clock held still meanwhile)."""
    workflow_id = await reschedule_open_cases(env.client, settings, engine, ch)
    assert workflow_id is not None
    with env.auto_time_skipping_disabled():
        handle = env.client.get_workflow_handle_for(PolicyFanoutWorkflow.run, workflow_id)
        result: FanoutResult = await handle.result()
        return result


async def moved(h: Handle, times: int = 1) -> Any:
    """The case once it has recorded `times` deadline moves."""

    async def done() -> Any:
        v = await h.query(CaseWorkflow.state)
        return v if [e.kind for e in v.timeline].count("deadline_moved") >= times else None

    return (await eventually(done, within=10, what="the deadline moved")).view


def events(engine: Engine, case_id: str, kind: str) -> list[CaseEvent]:
    with Session(engine) as s:
        query = select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == kind)
        return list(s.exec(query.order_by(col(CaseEvent.seq))))


def audit_choice(engine: Engine, audit_id: int | None) -> str | None:
    with Session(engine) as s:
        entry = s.get(AuditEntry, audit_id)
        assert entry is not None
        return entry.apply_to


async def signal_handled(h: Handle) -> bool:
    """The case's last signal was taken up by a workflow task that completed."""
    history = await h.fetch_history()
    kinds_ = [
        "signal"
        if e.HasField("workflow_execution_signaled_event_attributes")
        else "done"
        if e.HasField("workflow_task_completed_event_attributes")
        else ""
        for e in history.events
    ]
    last = len(kinds_) - 1 - kinds_[::-1].index("signal")
    return "done" in kinds_[last:]


async def test_a_holiday_for_open_cases_moves_the_due_dates_and_says_why(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with business_week(ts_env, engine, settings) as monday:
        h = await open_case(ts_env, engine, settings)
        v = await view(h)
        assert (v.open_due_at, v.resolve_due_at) == (at(monday, 1, 10), at(monday, 2, 10))
        tuesday = monday + timedelta(days=1)
        ch = change(engine, ApplyTo.OPEN, calendar={"extra_holidays": [tuesday.isoformat()]})
        assert ch.reason == f"program calendar changed (holiday added: {tuesday})"
        assert audit_choice(engine, ch.audit_id) == "open"
        assert (await follow(ts_env, settings, engine, ch)) == FanoutResult(1, 0)
        v = await moved(h)
        # Monday 10:00-17:00 and Wednesday 09:00-10:00 were left of the first action's day,
        # Monday, Tuesday and Wednesday morning of the resolution's two: Tuesday is skipped.
        assert v.open_due_at == at(monday, 2, 10)
        assert v.resolve_due_at == at(monday, 3, 10)
        assert v.status == CaseStatus.NEW
    row = case_row(engine, h.id)
    assert (row.open_due_at, row.resolve_due_at) == (at(monday, 2, 10), at(monday, 3, 10))
    assert row.next_due_at == at(monday, 2, 10)  # the inbox sorts on it
    [event] = events(engine, h.id, "deadline_moved")
    assert event.actor == "system"
    assert event.summary == (
        f"Deadline moved: program calendar changed (holiday added: {tuesday}); "
        f"open due {_utc(at(monday, 1, 10))} → {_utc(at(monday, 2, 10))}; "
        f"resolve due {_utc(at(monday, 2, 10))} → {_utc(at(monday, 3, 10))}"
    )
    assert event.data["ref"] == ch.ref


async def test_new_cases_only_leaves_the_open_case_and_the_next_case_has_the_holiday(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with business_week(ts_env, engine, settings) as monday:
        h = await open_case(ts_env, engine, settings)
        tuesday = monday + timedelta(days=1)
        ch = change(engine, ApplyTo.NEW, calendar={"extra_holidays": [tuesday.isoformat()]})
        assert audit_choice(engine, ch.audit_id) == "new"
        assert await reschedule_open_cases(ts_env.client, settings, engine, ch) is None
        later = await open_case(ts_env, engine, settings)
        assert (await view(later)).resolve_due_at == at(monday, 3, 10)
        v = await view(h)
        assert (v.open_due_at, v.resolve_due_at) == (at(monday, 1, 10), at(monday, 2, 10))
        # The first action is due on the holiday: the open case kept its calendar.
        await ts_env.sleep(at(monday, 1, 10, 1) - await ts_env.get_current_time())
        assert (await view(h)).status == CaseStatus.OVERDUE
        assert (await view(later)).status == CaseStatus.NEW
    assert events(engine, h.id, "deadline_moved") == []
    assert case_row(engine, h.id).resolve_due_at == at(monday, 2, 10)


async def test_a_shorter_sla_keeps_the_time_used_and_escalates_at_the_new_time(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with business_week(ts_env, engine, settings) as monday:
        h = await open_case(ts_env, engine, settings)
        await h.execute_update(CaseWorkflow.add_note, AddNote(OLE, "Called the guest"))
        await ts_env.sleep(timedelta(hours=2))  # two business hours of sixteen used
        ch = change(engine, ApplyTo.OPEN, sla=SLA | {"resolve_within": "1 business day"})
        assert ch.reason == (
            "program SLA changed (resolve within 2 business days → 1 business day)"
        )
        await follow(ts_env, settings, engine, ch)
        v = await moved(h)
        # Six of the new eight hours are left at noon: Monday until 17:00, Tuesday 09:00-10:00.
        assert v.resolve_due_at == at(monday, 1, 10)
        await ts_env.sleep(at(monday, 1, 9, 59) - await ts_env.get_current_time())
        assert (await view(h)).escalation_level == 0
        await ts_env.sleep(at(monday, 1, 10, 2) - await ts_env.get_current_time())
        v = await view(h)
        assert (v.escalation_level, v.owner_id, v.status) == (1, "mia", CaseStatus.OVERDUE)
    [escalated] = events(engine, h.id, "escalated")
    assert at(monday, 1, 10) <= escalated.at < at(monday, 1, 10, 2)


async def test_a_later_deadline_escalates_at_the_new_time_not_the_old(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with business_week(ts_env, engine, settings) as monday:
        h = await open_case(ts_env, engine, settings)
        await h.execute_update(CaseWorkflow.add_note, AddNote(OLE, "Called the guest"))
        tuesday = monday + timedelta(days=1)
        ch = change(engine, ApplyTo.OPEN, calendar={"extra_holidays": [tuesday.isoformat()]})
        await follow(ts_env, settings, engine, ch)
        assert (await moved(h)).resolve_due_at == at(monday, 3, 10)
        # Past the old deadline (Wednesday 10:00): nothing fires.
        await ts_env.sleep(at(monday, 2, 10, 5) - await ts_env.get_current_time())
        v = await view(h)
        assert (v.escalation_level, v.status) == (0, CaseStatus.IN_PROGRESS)
        await ts_env.sleep(at(monday, 3, 10, 5) - await ts_env.get_current_time())
        assert (await view(h)).escalation_level == 1
    [escalated] = events(engine, h.id, "escalated")
    assert at(monday, 3, 10) <= escalated.at < at(monday, 3, 10, 5)
    # The warning 4 business hours before the new deadline: Wednesday 14:00.
    warnings = [e.at for e in events(engine, h.id, "warning")]
    assert any(at(monday, 2, 14) <= w < at(monday, 2, 14, 5) for w in warnings)


async def test_a_closed_case_is_untouched(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with business_week(ts_env, engine, settings) as monday:
        h = await open_case(ts_env, engine, settings)
        await h.execute_update(CaseWorkflow.close, close_cmd())
        before = await view(h)
        tuesday = monday + timedelta(days=1)
        ch = change(engine, ApplyTo.OPEN, calendar={"extra_holidays": [tuesday.isoformat()]})
        # The fan-out does not find it (closed in the read model) ...
        assert (await follow(ts_env, settings, engine, ch)) == FanoutResult(0, 0)
        # ... and the case ignores the change when told anyway (its survey is still out).
        inp = fanout_input(engine, "recovery", ch.ref, ch.reason or "")
        await h.signal(
            CaseWorkflow.policy_changed, PolicyChanged(inp.policies["4723"], ch.ref, "x")
        )
        await eventually(partial(signal_handled, h), within=10, what="the signal handled")
        after = await view(h)
        assert (after.version, after.resolve_due_at) == (before.version, before.resolve_due_at)
        assert after.status == CaseStatus.CLOSED
    assert events(engine, h.id, "deadline_moved") == []


async def test_the_fan_out_is_idempotent_and_continues_as_new_for_many_cases(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    async with business_week(ts_env, engine, settings) as monday:
        cases = [await open_case(ts_env, engine, settings) for _ in range(3)]
        tuesday = monday + timedelta(days=1)
        ch = change(engine, ApplyTo.OPEN, calendar={"extra_holidays": [tuesday.isoformat()]})
        # A page of one case per run: three runs, each continued as new from the one before.
        inp = dataclasses.replace(
            fanout_input(engine, "recovery", ch.ref, ch.reason or ""),
            page_size=1,
            pages_per_run=1,
        )
        first = await ts_env.client.start_workflow(
            PolicyFanoutWorkflow.run,
            inp,
            id=f"fanout-{uuid.uuid4().hex[:6]}",
            task_queue=settings.task_queue,
        )
        with ts_env.auto_time_skipping_disabled():
            assert await first.result() == FanoutResult(3, 0)
        run = ts_env.client.get_workflow_handle(first.id, run_id=first.result_run_id)
        assert (await run.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
        for h in cases:
            assert (await moved(h)).resolve_due_at == at(monday, 3, 10)
        # The change's own fan-out, started twice (and once more after it finished): every
        # case was told before and moves no further.
        assert await follow(ts_env, settings, engine, ch) == FanoutResult(3, 0)
        assert await reschedule_open_cases(ts_env.client, settings, engine, ch) is not None
        for h in cases:
            await eventually(partial(signal_handled, h), within=10, what="signals handled")
            assert (await view(h)).resolve_due_at == at(monday, 3, 10)
    for h in cases:
        assert len(events(engine, h.id, "deadline_moved")) == 1


def _utc(t: datetime) -> str:
    return t.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M UTC")
