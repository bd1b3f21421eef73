"""Tasks on a case in the API (issue 18): list, add, tick and untick.

The same service as the case page (services/tasks.py); who acts is checked as for every case
action (the token's identity, the case's visibility), and the workflow decides who may act:
anyone who may act on the case, and a task's assignee on their own task.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlmodel import Session

from domain.case import Actor
from models.api import TaskActionIn, TaskIn, TaskListPublic, TaskPublic
from services.case_actions import ActionRejected, run_update
from services.tasks import add_task_command, assignable, tasks_of
from web.api_auth import CasesRead
from web.deps import SessionDep
from web.problems import Problem
from web.routes.api_v1.cases import (
    PENDING,
    PROBLEMS,
    READ,
    WRITE,
    CaseActionDep,
    IdempotencyKey,
    _actor_on_case,
    _read,
    _visible,
    scoped_key,
)
from workflows.case import CaseWorkflow
from workflows.messages import CompleteTask, ReopenTask

router = APIRouter(prefix="/cases", tags=["tasks"], responses=PROBLEMS)


def _list(session: Session, case_id: str) -> TaskListPublic:
    return TaskListPublic(
        case_id=case_id,
        items=[
            TaskPublic.model_validate(t, from_attributes=True) for t in tasks_of(session, case_id)
        ],
    )


@router.get("/{case_id}/tasks", response_model=TaskListPublic, dependencies=READ)
def read_tasks(case_id: str, client: CasesRead, session: SessionDep) -> TaskListPublic:
    """The case's tasks, open first."""
    _visible(session, client, case_id)
    return _list(session, case_id)


def _assignable_ids(session: Session, action: Any) -> set[str]:
    return {uid for uid, _ in assignable(session, _visible(session, action.client, action.case_id))}


async def _act(
    action: Any, update: Any, build: Any, acting_user: str | None, key: str | None, body: Any
) -> TaskListPublic:
    case_id, engine = action.case_id, action.engine
    try:
        actor: Actor = await _read(engine, _actor_on_case, case_id, action.client, acting_user)
        cmd = await _read(engine, build, actor)
        scoped = await scoped_key(engine, action.client_id, case_id, update.__name__, key, body)
        await run_update(
            action.temporal,
            case_id,
            update,
            cmd,
            idempotency_key=scoped,
            wait_seconds=action.settings.update_wait_seconds,
        )
    except ActionRejected as exc:
        extra = {"field": exc.field} if exc.field else {}
        raise Problem(exc.status, "Action rejected", exc.message, **extra) from exc
    return await _read(engine, _list, case_id)


@router.post(
    "/{case_id}/tasks", response_model=TaskListPublic, responses=PENDING, dependencies=WRITE
)
async def add_task(
    body: TaskIn, action: CaseActionDep, idempotency_key: IdempotencyKey = None
) -> TaskListPublic:
    """A task for someone who may see the case, due in business time of the case's unit."""

    def build(session: Session, actor: Actor) -> Any:
        return add_task_command(
            _assignable_ids(session, action),
            actor,
            title=body.title,
            assignee_id=body.assignee_id,
            due_in=body.due_in or "",
            due_on=body.due_on,
        )

    return await _act(action, CaseWorkflow.add_task, build, body.acting_user, idempotency_key, body)


@router.post(
    "/{case_id}/tasks/{task_id}/done",
    response_model=TaskListPublic,
    responses=PENDING,
    dependencies=WRITE,
)
async def task_done(
    task_id: str,
    body: TaskActionIn,
    action: CaseActionDep,
    idempotency_key: IdempotencyKey = None,
) -> TaskListPublic:
    """Tick a task done."""
    return await _act(
        action,
        CaseWorkflow.complete_task,
        lambda session, actor: CompleteTask(actor, task_id[:20]),
        body.acting_user,
        idempotency_key,
        {"task": task_id, **body.model_dump(mode="json")},
    )


@router.post(
    "/{case_id}/tasks/{task_id}/undone",
    response_model=TaskListPublic,
    responses=PENDING,
    dependencies=WRITE,
)
async def task_undone(
    task_id: str,
    body: TaskActionIn,
    action: CaseActionDep,
    idempotency_key: IdempotencyKey = None,
) -> TaskListPublic:
    """Untick a task: open again."""
    return await _act(
        action,
        CaseWorkflow.reopen_task,
        lambda session, actor: ReopenTask(actor, task_id[:20]),
        body.acting_user,
        idempotency_key,
        {"task": task_id, **body.model_dump(mode="json")},
    )
