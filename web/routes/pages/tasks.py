"""Tasks on a case in the pages (issue 18): add one on the case page, tick and untick it there
or in "My tasks" (the inbox's list of the viewer's open tasks).

The assignee may tick their own task without the right to act on the case (a read-only
watcher, a unit manager); the workflow checks the same rule.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session
from starlette.datastructures import FormData

from core.threads import in_thread
from domain.case import Actor
from services.case_actions import ActionPending, ActionRejected
from services.inbox.summary import viewer_timezone
from services.tasks import add_task_command, my_tasks
from web.auth import CurrentUser
from web.deps import EngineDep
from web.i18n import N_, gettext
from web.routes.pages.cases import (
    ActionDep,
    FormState,
    _action,
    _field,
    _read_only_reason,
    _redirect,
)
from web.storable import form_problems
from web.templating import FLASH, is_htmx, render
from workflows.case import CaseWorkflow
from workflows.messages import CompleteTask, ReopenTask

router = APIRouter()

# The timeline's words for tasks and mentions (the `label` filter translates event kinds).
WORDS = (
    N_("task added"),
    N_("task done"),
    N_("task reopened"),
    N_("task reminded"),
    N_("task overdue"),
    N_("mentioned"),
    # services/tasks.py's refusals.
    N_("Say what the task is."),
    N_("A task is limited to 200 characters."),
    N_("Choose someone who can see this case to do the task."),
    N_("Give a due time or a due date, not both."),
    N_("A task is due within a year."),
)
MAX_HOURS = 2000


def _due(f: FormData, st: FormState) -> tuple[str, date | None]:
    """The form's due time: business hours from now, or a day (its close of business)."""
    hours, day = _field(f, "due_hours", 10), _field(f, "due_on", 10)
    st.values |= {"due_hours": hours, "due_on": day}
    due_in, due_on = "", None
    if hours:
        try:
            n = float(hours.replace(",", "."))
        except ValueError:
            n = -1
        if not 0 < n <= MAX_HOURS:
            st.errors["due_hours"] = gettext("Give a number of business hours, e.g. 8.")
        else:
            due_in = f"{n:g} business hours"
    if day:
        try:
            due_on = date.fromisoformat(day)
        except ValueError:
            st.errors["due_on"] = gettext("Give the due date as a date.")
    if due_in and due_on:
        st.errors["due_on"] = gettext("Give business hours or a date, not both.")
    return due_in, due_on


@_action("/tasks", "task", N_("Task added."))
def add_task(ctx: dict[str, Any], f: FormData, actor: Actor, st: FormState) -> Any:
    title, assignee = _field(f, "title", 201), _field(f, "assignee_id", 64)
    st.values = {"title": title, "assignee_id": assignee}
    due_in, due_on = _due(f, st)
    try:
        cmd = add_task_command(
            {uid for uid, _ in ctx["assignable"]},
            actor,
            title=title,
            assignee_id=assignee,
            due_in=due_in,
            due_on=due_on,
        )
    except ActionRejected as exc:
        st.errors[exc.field or "title"] = gettext(exc.message)
        return None
    if st.errors:
        return None
    return CaseWorkflow.add_task, cmd


@router.post("/cases/{case_id}/tasks/done")
async def task_done(action: ActionDep) -> Response:
    """Tick a task: its assignee, or anyone who may act on the case."""
    return await _tick(action, done=True)


@router.post("/cases/{case_id}/tasks/undone")
async def task_undone(action: ActionDep) -> Response:
    """Untick a task: it is open again."""
    return await _tick(action, done=False)


async def _tick(action: ActionDep, *, done: bool) -> Response:
    form = await action.request.form()
    ctx = await action.load()
    state = FormState(name="tasks")
    if unstorable := form_problems(form):  # before any field is read: nothing written
        state.errors = unstorable
        state.rejected = " ".join(unstorable.values())
        return action.respond(ctx, state, 422)
    task_id = _field(form, "task_id", 20)
    task = next((t for t in ctx["tasks"] if t.task_id == task_id), None)
    if task is None:
        state.rejected = gettext("That task is not on this case.")
        return action.respond(ctx, state, 422)
    case = ctx["case"]
    if not case.is_open or not (ctx["can_act"] or task.assignee_id == action.viewer.user_id):
        state.rejected = _read_only_reason(ctx)
        return action.respond(ctx, state, 403 if case.is_open else 409)
    cmd = CompleteTask(action.actor, task_id) if done else ReopenTask(action.actor, task_id)
    update = CaseWorkflow.complete_task if done else CaseWorkflow.reopen_task
    try:
        await action.update(update, cmd, _field(form, "action_id", 100) or None)
    except ActionRejected as exc:
        return await action.rejected(state, exc)
    except ActionPending as exc:
        return await action.pending(exc)
    said = N_("Task done.") if done else N_("Task open again.")
    if _field(form, "back", 10) == "tasks":  # ticked in "My tasks": back there
        action.request.session[FLASH] = gettext(said)
        return _redirect(action.request, "/inbox/tasks")
    return await action.after_success(said)


def _my_tasks(engine: Any, viewer: Any) -> tuple[list[Any], str]:
    """The viewer's open tasks, and the time zone their due times are shown in (their unit's)."""
    with Session(engine) as session:
        return my_tasks(session, viewer), viewer_timezone(session, viewer.user_id)


@router.get("/inbox/tasks")
async def tasks_page(request: Request, viewer: CurrentUser, engine: EngineDep) -> Response:
    """My tasks: the viewer's open tasks on open cases, soonest due first."""
    found, tz = await in_thread(_my_tasks, engine, viewer)
    flash = None if is_htmx(request) else request.session.pop(FLASH, None)
    return render(
        request,
        "inbox_tasks.html",
        {
            "tasks": found,
            "tz": tz,
            "title": gettext("My tasks · Inbox"),
            "flash": flash if isinstance(flash, str) else "",
        },
    )
