"""Tasks on a case (issue 18) on Temporal's time-skipping server with real activities and
SQLite: due times, reminders and overdue notices in business hours of the case's calendar."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from domain.case import Actor, CaseTask
from domain.vocabulary import CaseStatus, ClosingStatus
from models.case import CaseEvent, CaseTaskRow, Notice
from services.case_start import start_case_workflow
from tests.factories import case_input, running_worker, seed, start_case
from tests.test_case_workflow import OLE, close_cmd, kinds, new_id, outbox, view
from workflows.case import CaseWorkflow
from workflows.messages import AddTask, CarriedState, CompleteTask, ReopenTask, initial_view

OSLO = ZoneInfo("Europe/Oslo")
MIA, FRED = Actor("mia"), Actor("fred")
# Monday to Friday 09:00-17:00 Oslo time; the case's own deadlines far away.
BUSINESS = {
    "calendar": {"timezone": "Europe/Oslo"},
    "sla": {
        "open_within": "20 business days",
        "resolve_within": "40 business days",
        "warn_before": "4 business hours",
    },
}


def oslo(at: datetime) -> datetime:
    return at.astimezone(OSLO)


async def friday_afternoon(env: WorkflowEnvironment) -> datetime:
    """Move the server's clock to the next Friday, 14:00 in Oslo."""
    now = oslo(await env.get_current_time())
    days = (4 - now.weekday()) % 7 or 7
    target = (now + timedelta(days=days)).replace(hour=14, minute=0, second=0, microsecond=0)
    await env.sleep(target - now)
    return target


async def until(env: WorkflowEnvironment, at: datetime) -> None:
    now = await env.get_current_time()
    if at > now:
        await env.sleep(at - now)


def events(engine: Engine, case_id: str, kind: str) -> list[CaseEvent]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(CaseEvent)
                .where(CaseEvent.case_id == case_id, CaseEvent.kind == kind)
                .order_by(col(CaseEvent.seq))
            ).all()
        )


def task_rows(engine: Engine, case_id: str) -> list[CaseTaskRow]:
    with Session(engine) as s:
        return list(s.exec(select(CaseTaskRow).where(CaseTaskRow.case_id == case_id)).all())


def notices(engine: Engine, case_id: str, user_id: str) -> list[str]:
    with Session(engine) as s:
        return [
            n.kind
            for n in s.exec(
                select(Notice).where(Notice.case_id == case_id, Notice.user_id == user_id)
            ).all()
        ]


async def test_a_task_reminds_then_goes_overdue_in_business_hours_across_a_weekend(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    seed(engine, **BUSINESS)
    async with running_worker(ts_env.client, engine, settings):
        added = await friday_afternoon(ts_env)
        h = await start_case(ts_env, engine, settings, new_id())
        await h.execute_update(
            CaseWorkflow.add_task, AddTask(OLE, "Call the customer back", "mia", "8 business hours")
        )
        [task] = (await view(h)).tasks
        # 3 business hours on Friday (to 17:00), 5 on Monday: due Monday 14:00 (the seconds
        # the update took move it by as much).
        due, remind = oslo(task.due_at), oslo(task.remind_at)
        monday = (added + timedelta(days=3)).date()
        assert due.date() == monday and (due.hour, due.minute) == (14, 0)
        # Reminded after 80 % of the business time (6 h 24 min): Monday 12:24.
        assert remind.date() == monday and (remind.hour, remind.minute) == (12, 24)
        [row] = task_rows(engine, h.id)
        assert (row.title, row.assignee_id, row.is_open) == ("Call the customer back", "mia", True)

        await until(ts_env, remind - timedelta(minutes=1))
        assert events(engine, h.id, "task_reminded") == []
        await until(ts_env, remind + timedelta(minutes=1))
        [reminded] = events(engine, h.id, "task_reminded")
        assert timedelta(0) <= reminded.at - remind < timedelta(seconds=1)
        assert events(engine, h.id, "task_overdue") == []

        await until(ts_env, due + timedelta(minutes=1))
        [overdue] = events(engine, h.id, "task_overdue")
        assert timedelta(0) <= overdue.at - due < timedelta(seconds=1)
        assert task_rows(engine, h.id)[0].overdue
    mails = {m.kind: m for m in outbox(engine, h.id)}
    assert mails["task_reminder"].to_addrs == ["mia@example.com"]
    assert "Call the customer back" in mails["task_reminder"].subject
    assert mails["task_overdue"].to_addrs == ["mia@example.com"]
    assert sorted(notices(engine, h.id, "mia")) == ["alert", "task_overdue", "task_reminder"]
    assert [k for k in kinds(engine, h.id) if k.startswith("task")] == [
        "task_added",
        "task_reminded",
        "task_overdue",
    ]


async def test_a_task_done_before_its_reminder_never_reminds(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    seed(engine, **BUSINESS)
    async with running_worker(ts_env.client, engine, settings):
        await friday_afternoon(ts_env)
        h = await start_case(ts_env, engine, settings, new_id())
        # Fred only reads the case (a limited watcher), yet may tick his own task.
        await h.execute_update(
            CaseWorkflow.add_task, AddTask(OLE, "Check the CCTV", "fred", "2 business hours")
        )
        await ts_env.sleep(timedelta(hours=1))
        await h.execute_update(CaseWorkflow.complete_task, CompleteTask(FRED, "1"))
        # He may not tick anybody else's, nor anyone untick a task that is not done.
        await h.execute_update(CaseWorkflow.add_task, AddTask(OLE, "Refund", "ole"))
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await h.execute_update(CaseWorkflow.complete_task, CompleteTask(FRED, "2"))
        assert isinstance(refused.value.cause, ApplicationError)
        assert refused.value.cause.type == "Forbidden"
        with pytest.raises(WorkflowUpdateFailedError):
            await h.execute_update(CaseWorkflow.reopen_task, ReopenTask(OLE, "2"))
        await ts_env.sleep(timedelta(days=4))
        [done, refund] = (await view(h)).tasks
        assert done.done_by == "fred" and not done.reminded and not done.overdue
        assert refund.due_at is None and refund.remind_at is None
        rows = {r.task_id: r for r in task_rows(engine, h.id)}
        assert not rows["1"].is_open and rows["1"].done_by == "fred" and rows["2"].is_open
    assert [k for k in kinds(engine, h.id) if k.startswith("task")] == [
        "task_added",
        "task_done",
        "task_added",
    ]
    assert not [m for m in outbox(engine, h.id) if m.kind.startswith("task")]


async def test_a_reopened_task_past_its_due_time_goes_overdue(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    seed(engine)  # always open: wall-clock hours
    async with running_worker(ts_env.client, engine, settings):
        h = await start_case(ts_env, engine, settings, new_id())
        await h.execute_update(
            CaseWorkflow.add_task, AddTask(MIA, "Send the voucher", "ole", "PT1H")
        )
        await h.execute_update(CaseWorkflow.complete_task, CompleteTask(OLE, "1"))
        await ts_env.sleep(timedelta(hours=2))
        assert events(engine, h.id, "task_overdue") == []
        await h.execute_update(CaseWorkflow.reopen_task, ReopenTask(OLE, "1"))
        await ts_env.sleep(timedelta(minutes=1))
        assert len(events(engine, h.id, "task_overdue")) == 1
        assert (await view(h)).tasks[0].done_at is None


async def test_tasks_and_their_timers_survive_a_new_run(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    """A case that continued as new (CarriedState) keeps its tasks: one already reminded is not
    reminded again and goes overdue on time in the new run."""
    seed(engine)
    now = await ts_env.get_current_time()
    inp = case_input(engine, new_id(), now - timedelta(hours=1))
    view_ = initial_view(inp)
    view_.version, view_.status, view_.first_action_at = 3, CaseStatus.IN_PROGRESS, now
    view_.resolve_due_at = now + timedelta(days=1)
    view_.tasks = [
        CaseTask(
            "1",
            "Call back",
            "mia",
            "ole",
            inp.created_at,
            due_at=now + timedelta(hours=2),
            remind_at=now - timedelta(minutes=5),
            reminded=True,
        )
    ]
    inp.carried = CarriedState(
        view=view_,
        open_warn_at=None,
        resolve_warn_at=None,
        deadline_gen=1,
        fired=[],
        events=3,
        unprojected=[],
        projection_failed=False,
        projected=True,
    )
    async with running_worker(ts_env.client, engine, settings):
        await start_case_workflow(ts_env.client, settings, inp)
        h = ts_env.client.get_workflow_handle_for(CaseWorkflow.run, inp.case_id)
        await ts_env.sleep(timedelta(hours=1))
        await h.execute_update(CaseWorkflow.add_task, AddTask(OLE, "Refund", "ole", "PT2H"))
        await ts_env.sleep(timedelta(hours=1, minutes=1))
        v = await view(h)
        await h.terminate("test finished")
    assert [t.title for t in v.tasks] == ["Call back", "Refund"]
    assert v.tasks[0].overdue and not v.tasks[1].reminded
    timeline = [e.kind for e in events_of(engine, inp.case_id)]
    assert timeline == ["task_added", "task_overdue"]
    assert [m.kind for m in outbox(engine, inp.case_id)] == ["task_overdue"]


def events_of(engine: Engine, case_id: str) -> list[CaseEvent]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.seq))
            ).all()
        )


# Last in the module: the resolved case's survey keeps the time-skipping clock from moving on.
async def test_a_resolved_close_waits_for_the_programs_required_tasks(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    seed(engine, require_tasks_done_to_resolve=True)
    async with running_worker(ts_env.client, engine, settings):
        h = await start_case(ts_env, engine, settings, new_id())
        await h.execute_update(CaseWorkflow.add_task, AddTask(OLE, "Refund the room", "ole"))
        before = (await view(h)).version
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await h.execute_update(CaseWorkflow.close, close_cmd())
        assert isinstance(refused.value.cause, ApplicationError)
        assert "Finish the case's tasks" in refused.value.cause.message
        v = await view(h)
        assert v.status != CaseStatus.CLOSED and v.version == before  # nothing recorded
        await h.execute_update(CaseWorkflow.complete_task, CompleteTask(OLE, "1"))
        ack = await h.execute_update(CaseWorkflow.close, close_cmd())
        assert ack.status == CaseStatus.CLOSED
        assert (await view(h)).closing_status == ClosingStatus.RESOLVED
