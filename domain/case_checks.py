"""What an owner action on a case may not do: the checks of CaseWorkflow's update validators.

Each function answers the first problem it finds, in the order the owner should hear them, or
None. `Problem.conflict`: the case no longer takes the action (it changed meanwhile), rather
than the request being wrong. Who may act at all is `domain.permissions`; whether the case's
workflow knows the action yet (its patches) is the workflow's own question, asked before these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from domain.case import CaseTask, CaseView
from domain.policy import CasePolicy
from domain.tasks import TITLE_MAX, due_in_problem, due_on_problem
from domain.vocabulary import CaseStatus, ClosingStatus, Priority

# A scripted reply still holding a placeholder ("[[CUSTOMER NAME]]") must not reach a customer.
PLACEHOLDER = re.compile(r"\[\[[^\[\]]{1,60}\]\]")
NOTE_MAX = 2000  # a pause's or a resume's note, a reason
TEXT_MAX = 20_000  # a note, a reply
NAME_MAX = 200  # a category, a sub-category, a reply's subject
TASKS_MAX = 100  # tasks on one case
CASE_ID_MAX = 20


@dataclass(frozen=True)
class Problem:
    message: str
    conflict: bool = False


def _first(*checks: tuple[bool, str]) -> Problem | None:
    """The first check that fails (`ok` False), as a Problem."""
    for ok, message in checks:
        if not ok:
            return Problem(message)
    return None


def pause_problem(view: CaseView, policy: CasePolicy, note: str) -> Problem | None:
    if not policy.sla.pause_metrics:
        return Problem("This program does not pause its deadlines")
    if view.status == CaseStatus.CLOSED:
        return Problem("A closed case cannot wait")
    if view.paused_since is not None:
        return Problem("The case is already waiting on the customer", conflict=True)
    return _first(
        (bool(note.strip()), "Say what the case is waiting for"),
        (len(note) <= NOTE_MAX, "A note is limited to 2,000 characters"),
    )


def resume_problem(view: CaseView, note: str) -> Problem | None:
    if view.paused_since is None:
        return Problem("The case is not waiting on the customer", conflict=True)
    return _first((len(note) <= NOTE_MAX, "A note is limited to 2,000 characters"))


def reclassify_problem(
    view: CaseView,
    reason: str,
    category: str | None,
    subcategory: str | None,
    priority: Priority | None,
) -> Problem | None:
    """A reclassification needs a reason and must change something."""
    problem = _first(
        (bool(reason.strip()), "Give a reason for the change"),
        (len(reason) <= NOTE_MAX, "A reason is limited to 2,000 characters"),
    )
    if problem is None and category is not None:
        problem = _first(
            (bool(category.strip()), "Choose a category"),
            (len(category) <= NAME_MAX, "A category is limited to 200 characters"),
            (len(subcategory or "") <= NAME_MAX, "A sub-category is limited to 200 characters"),
        )
    if problem is not None:
        return problem
    new = (
        view.category if category is None else category.strip(),
        view.subcategory if category is None else (subcategory or "").strip(),
        priority or view.priority,
    )
    return _first((new != (view.category, view.subcategory, view.priority), "Nothing would change"))


def reopen_problem(reason: str) -> Problem | None:
    return _first(
        (bool(reason.strip()), "Give a reason for reopening the case"),
        (len(reason) <= NOTE_MAX, "A reason is limited to 2,000 characters"),
    )


def note_problem(text: str) -> Problem | None:
    return _first(
        (bool(text.strip()), "A note needs some text"),
        (len(text) <= TEXT_MAX, "A note is limited to 20,000 characters"),
    )


def contact_problem(method: str, outcome: str) -> Problem | None:
    return _first(
        (bool(method.strip()), "Say how the customer was contacted"),
        (bool(outcome.strip()), "Say what the outcome of the attempt was"),
    )


def attach_problem(document_id: str, filename: str) -> Problem | None:
    return _first((bool(document_id and filename), "A document needs an id and a file name"))


def reassign_problem(view: CaseView, new_owner_id: str, reason: str) -> Problem | None:
    return _first(
        (bool(new_owner_id.strip()), "Choose the new owner"),
        (new_owner_id != view.owner_id, "The case already belongs to that person"),
        (bool(reason.strip()), "Give a reason for the reassignment"),
    )


def add_watcher_problem(view: CaseView, user_id: str) -> Problem | None:
    return _first(
        (bool(user_id.strip()), "Choose who should watch the case"),
        (user_id != view.owner_id, "The owner already follows the case"),
    )


def remove_watcher_problem(view: CaseView, user_id: str) -> Problem | None:
    return _first(
        (
            any(w.user_id == user_id for w in view.watchers),
            f"{user_id} is not watching this case",
        )
    )


def reply_problem(subject: str, text: str) -> Problem | None:
    """A reply to the customer: a one-line subject, some text, no placeholder left in."""
    problem = _first(
        (bool(subject.strip()), "The reply needs a subject"),
        (len(subject) <= NAME_MAX, "A subject is limited to 200 characters"),
        ("\n" not in subject.strip(), "A subject is one line"),
        (bool(text.strip()), "The reply needs some text"),
        (len(text) <= TEXT_MAX, "A reply is limited to 20,000 characters"),
    )
    if problem is not None:
        return problem
    left = PLACEHOLDER.search(text) or PLACEHOLDER.search(subject)
    return Problem(f"Fill in {left.group(0)} before sending") if left else None


def close_problem(
    view: CaseView,
    policy: CasePolicy,
    closing_status: ClosingStatus,
    root_causes: list[str],
    resolution_methods: list[str],
    final_note: str,
) -> Problem | None:
    """The program's root causes and resolution methods, a final note, the tasks done.

    An erasure (services/gdpr.py, admins only) closes with no cause or method: none was found.
    """
    erasing = closing_status == ClosingStatus.ERASED
    needs_cause = policy.root_causes_required and not erasing
    allowed, tags = set(policy.root_causes), set(policy.resolution_methods)
    unknown = [r for r in root_causes if r not in allowed]
    bad = [m for m in resolution_methods if m not in tags]
    open_tasks = [t for t in view.tasks if t.done_at is None]
    return _first(
        (bool(root_causes) or not needs_cause, "Choose at least one root cause"),
        (not unknown, f"Unknown root cause(s) for this program: {', '.join(unknown)}"),
        (not bad, f"Unknown resolution method(s): {', '.join(bad)}"),
        (
            bool(resolution_methods) or not policy.resolution_methods_required or erasing,
            "Choose at least one resolution method",
        ),
        (bool(final_note.strip()), "A final note is required to close the case"),
        (
            not open_tasks
            or closing_status != ClosingStatus.RESOLVED
            or not policy.require_tasks_done_to_resolve,
            f"Finish the case's tasks before closing it as resolved ({len(open_tasks)} open)",
        ),
    )


def add_task_problem(
    view: CaseView, title: str, assignee_id: str, due_in: str, due_on: date | None, today: date
) -> Problem | None:
    problem = _first(
        (bool(title.strip()), "Say what the task is"),
        (len(title) <= TITLE_MAX, f"A task is limited to {TITLE_MAX} characters"),
        (bool(assignee_id.strip()), "Choose who does the task"),
        (not (due_in and due_on), "Give a due time or a due date, not both"),
    )
    if problem is None and due_in:
        problem = _problem(due_in_problem(due_in))
    if problem is None and due_on:
        problem = _problem(due_on_problem(due_on, today))
    return problem or _first((len(view.tasks) < TASKS_MAX, "A case has at most 100 tasks"))


def _problem(message: str | None) -> Problem | None:
    return Problem(message) if message is not None else None


def find_task(view: CaseView, task_id: str) -> CaseTask | Problem:
    """The case's task of that id, or the problem that there is none."""
    task = next((t for t in view.tasks if t.task_id == task_id), None)
    return task if task is not None else Problem(f"No task {task_id[:20]} on this case")


def task_done_problem(task: CaseTask, *, done: bool) -> Problem | None:
    """Ticking a task done (`done`) or open again finds it already so: a conflict."""
    if done and task.done_at is not None:
        return Problem("The task is done already", conflict=True)
    if not done and task.done_at is None:
        return Problem("The task is not done", conflict=True)
    return None


def merge_into_problem(view: CaseView, primary_id: str) -> Problem | None:
    return _first(
        (primary_id != view.case_id, "A case cannot be merged into itself"),
        (0 < len(primary_id) <= CASE_ID_MAX, "Name the case to merge into"),
    )


def merged_from_problem(view: CaseView, duplicate_id: str) -> Problem | None:
    return _first((duplicate_id != view.case_id, "A case cannot be merged into itself"))
