"""What a case's timeline says: the summary and data of the events CaseWorkflow records.

The words are recorded in the case's history (and projected to its page), so a change here is
a change of what new events say, never of what a replay does: a replay takes the recorded
commands' inputs from the history, not from these functions. The timeline's data keys are read
by the projection and the pages; keep them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.case import CaseTask, CaseView
from domain.vocabulary import EventKind, MessageKind

Said = tuple[str, dict[str, Any]]  # an event's summary and its data


def fmt(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "—"


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def escalated(late_owner: str, designee: str, level: int) -> Said:
    return (
        f"Resolve deadline missed by {late_owner}; escalated to {designee} (level {level})",
        {"from": late_owner, "to": designee, "level": level},
    )


def not_escalated(level: int, max_level: int) -> Said:
    why = (
        "maximum escalation level reached" if level >= max_level else "no designee above the owner"
    )
    return f"Resolve deadline missed; {why}", {"level": level}


def remeasured(satisfaction: int, resolved: bool, comment: str, failed: bool) -> Said:
    return (
        f"Customer rated the resolution {satisfaction}/5; "
        f"issue resolved: {'yes' if resolved else 'no'}" + ("; recovery failed" if failed else ""),
        {"score": satisfaction, "resolved": resolved, "comment": comment},
    )


def paused(limit: datetime | None, note: str) -> Said:
    return (
        "Waiting on the customer"
        + (f" until {fmt(limit)} at the latest" if limit else "")
        + (f": {note}" if note else ""),
        {"note": note, "resumes_at": limit.isoformat() if limit else None},
    )


def resumed(
    why: str,
    business_seconds: int,
    ended_by: str,
    open_due: datetime | None,
    resolve_due: datetime | None,
    resolve_moved: bool,
) -> Said:
    """`open_due` / `resolve_due`: the deadlines that moved (None: did not)."""
    minutes = business_seconds // 60
    return (
        f"{why}; paused {minutes // 60} h {minutes % 60:02d} min of business time"
        + (f"; resolve due {fmt(resolve_due)}" if resolve_moved else ""),
        {
            "paused_seconds": business_seconds,
            "ended_by": ended_by,
            "open_due": iso(open_due),
            "resolve_due": iso(resolve_due),
        },
    )


def reclassified(before: tuple[str, str, str], after: tuple[str, str, str], reason: str) -> Said:
    """(category, subcategory, priority) before and after."""
    changes = {
        name: [old, new]
        for name, old, new in zip(
            ("category", "subcategory", "priority"), before, after, strict=True
        )
        if old != new
    }
    said = "; ".join(f"{k} {old or '—'} → {new or '—'}" for k, (old, new) in changes.items())
    return f"Reclassified: {said}: {reason}", {"changes": changes, "reason": reason}


def reopened_by(name: str, by: str, reason: str, action_id: str) -> Said:
    return (
        f"Reopened by {name}: {reason}",
        {"reason": reason, "by": by} | ({"action": action_id} if action_id else {}),
    )


def contact_attempt(method: str, outcome: str, note: str) -> Said:
    summary = f"Contact attempt by {method}: {outcome.replace('_', ' ')}"
    if note.strip():
        summary += f" — {note.strip()}"
    return summary, {"method": method, "outcome": outcome, "note": note}


def document(document_id: str, filename: str, content_type: str, size: int) -> Said:
    return (
        f"Attached {filename}",
        {
            "document_id": document_id,
            "filename": filename,
            "content_type": content_type,
            "size": size,
        },
    )


def reassigned(previous: str, new_owner: str, reason: str) -> Said:
    return (
        f"Reassigned from {previous} to {new_owner}: {reason.strip()}",
        {"from": previous, "to": new_owner, "reason": reason},
    )


def closed(view: CaseView) -> Said:
    """The view just closed: its closing status, causes, methods and final note."""
    assert view.closing_status is not None
    return (
        f"Closed as {view.closing_status.value}; root causes: "
        + (", ".join(view.root_causes) or "none given"),
        {
            "closing_status": view.closing_status.value,
            "root_causes": view.root_causes,
            "resolution_methods": view.resolution_methods,
            "final_note": view.final_note,
        },
    )


def task_added(task: CaseTask) -> Said:
    return (
        f"Task for {task.assignee_id}: {task.title}"
        + (f" (due {fmt(task.due_at)})" if task.due_at else ""),
        {
            "task_id": task.task_id,
            "title": task.title,
            "user_id": task.assignee_id,
            "due_at": iso(task.due_at),
        },
    )


def task_data(task: CaseTask) -> dict[str, Any]:
    return {"task_id": task.task_id, "title": task.title, "user_id": task.assignee_id}


def task_due(task: CaseTask, reminder: bool) -> tuple[EventKind, MessageKind, str]:
    """A task's reminder (`reminder`) or its overdue notice: the event, the message, the words."""
    if reminder:
        said = f"Task due {fmt(task.due_at)}: reminded {task.assignee_id}: {task.title}"
        return EventKind.TASK_REMINDED, MessageKind.TASK_REMINDER, said
    said = f"Task overdue since {fmt(task.due_at)}: {task.title}"
    return EventKind.TASK_OVERDUE, MessageKind.TASK_OVERDUE, said


def deadlines_moved(
    reason: str, ref: str, moved: list[tuple[str, datetime | None, datetime | None]]
) -> Said:
    """The program's change moved these deadlines: (which, from, to)."""
    said = "; ".join(f"{k} due {fmt(old)} → {fmt(new)}" for k, old, new in moved)
    return (
        f"Deadline moved: {reason}; {said}",
        {"reason": reason, "ref": ref}
        | {f"{k}_due": [iso(old), iso(new)] for k, old, new in moved},
    )


def current_details(view: CaseView) -> str:
    """The case at a glance, for admins in the Temporal UI (ids and times only)."""
    return (
        f"**{view.case_id}** · {view.status.value}"
        + (f" ({view.closing_status.value})" if view.closing_status else "")
        + f"\n\nowner: {view.owner_id} · escalation level {view.escalation_level}"
        + f"\n\nopen due: {fmt(view.open_due_at)} · resolve due: {fmt(view.resolve_due_at)}"
    )
