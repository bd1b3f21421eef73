"""Tasks on a case (issue 18): who may be given one, the checked command, the case's tasks and
a person's open tasks ("My tasks"). Shared by the case page, the inbox and the API; the
workflow keeps the tasks and checks who acts (services/case_actions.py runs the update)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import or_
from sqlmodel import Session, col, select

from domain.case import Actor
from domain.permissions import Viewer
from domain.tasks import TITLE_MAX, due_in_problem, due_on_problem
from domain.vocabulary import Role
from models.case import Case, CaseTaskRow, CaseWatcher
from models.config import Unit, User
from services.access import visible_clause
from services.case_actions import ActionRejected
from workflows.messages import AddTask


def assignable(session: Session, case: Case) -> list[tuple[str, str]]:
    """(id, name) of the active people who may see the case: its owner, its watchers, the
    managers of its unit and the admins; by name."""
    unit = session.get(Unit, case.unit_id)
    managers = {unit.manager_id, unit.field_manager_id} - {None} if unit else set()
    watchers = select(col(CaseWatcher.user_id)).where(col(CaseWatcher.case_id) == case.id)
    rows = session.exec(
        select(User.id, User.name)
        .where(
            col(User.active) == True,  # noqa: E712
            or_(
                col(User.id) == case.owner_id,
                col(User.id).in_(watchers),
                col(User.id).in_(managers),
                col(User.role) == Role.ADMIN,
            ),
        )
        .order_by(col(User.name), col(User.id))
    ).all()
    return [(uid, name) for uid, name in rows]


def add_task_command(
    assignable_ids: set[str],
    actor: Actor,
    *,
    title: str,
    assignee_id: str,
    due_in: str = "",
    due_on: date | None = None,
) -> AddTask:
    """The checked command (`assignable_ids`: who may do it, `assignable`); ActionRejected
    (422, with the field) when a field is wrong."""
    title = title.strip()
    if not title:
        raise ActionRejected(422, "Say what the task is.", field="title")
    if len(title) > TITLE_MAX:
        raise ActionRejected(422, "A task is limited to 200 characters.", field="title")
    if assignee_id not in assignable_ids:
        raise ActionRejected(
            422, "Choose someone who can see this case to do the task.", field="assignee_id"
        )
    if due_in and due_on:
        raise ActionRejected(422, "Give a due time or a due date, not both.", field="due_in")
    if due_in and (problem := due_in_problem(due_in)):
        raise ActionRejected(422, problem, field="due_in")
    if due_on and due_on_problem(due_on, datetime.now(UTC).date()):
        raise ActionRejected(422, "A task is due within a year.", field="due_on")
    return AddTask(actor, title, assignee_id, due_in, due_on)


def tasks_of(session: Session, case_id: str) -> list[CaseTaskRow]:
    """The case's tasks: open first, each kind in the order they were added."""
    rows = session.exec(select(CaseTaskRow).where(col(CaseTaskRow.case_id) == case_id)).all()
    return sorted(rows, key=lambda t: (not t.is_open, int(t.task_id) if t.task_id.isdigit() else 0))


@dataclass
class MyTask:
    task: CaseTaskRow
    case: Case


def my_tasks(session: Session, viewer: Viewer, limit: int = 200) -> list[MyTask]:
    """The viewer's open tasks on open cases they may still see, soonest due first."""
    query = (
        select(CaseTaskRow, Case)
        .join(Case, col(Case.id) == col(CaseTaskRow.case_id))
        .where(
            col(CaseTaskRow.assignee_id) == viewer.user_id,
            col(CaseTaskRow.is_open) == True,  # noqa: E712
            col(Case.is_open) == True,  # noqa: E712
        )
    )
    visible = visible_clause(viewer)
    if visible is not None:
        query = query.where(visible)
    rows = session.exec(query.limit(limit)).all()
    found = [MyTask(t, c) for t, c in rows]
    far = date.max.isoformat()
    return sorted(found, key=lambda m: m.task.due_at.isoformat() if m.task.due_at else far)
