"""What an anonymised case keeps: the rules of GDPR erasure and retention, without I/O.

A case's statistics stay (status, dates, deadlines, owner, unit, category, root causes, scores),
so the dashboards still add up; what a person wrote or said, and how to reach them, goes. The
timeline keeps each event's kind, time and actor, with a summary rebuilt from the facts that
remain (`scrub_event`). Applied by `activities.erasure` to the read model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.vocabulary import EventKind

ERASED = "[erased]"

# Per event kind: the data keys that hold no personal data (ids, choices, numbers).
_KEEP: dict[str, tuple[str, ...]] = {
    EventKind.OPENED: ("routing", "owner"),
    EventKind.NOTE: (),
    EventKind.CONTACT_ATTEMPT: ("method", "outcome"),
    EventKind.DOCUMENT: ("content_type", "size"),
    EventKind.REPLY: ("template",),
    EventKind.REASSIGNED: ("from", "to"),
    EventKind.WATCHER_ADDED: ("user_id", "access"),
    EventKind.WATCHER_REMOVED: ("user_id",),
    EventKind.WARNING: (),
    EventKind.OVERDUE: ("level",),
    EventKind.ESCALATED: ("from", "to", "level"),
    EventKind.CLOSED: ("closing_status", "root_causes", "resolution_methods"),
    EventKind.REMEASURE_SENT: (),
    EventKind.REMEASURE_REMINDER: (),
    EventKind.REMEASURE_EXPIRED: (),
    EventKind.REMEASURED: ("score", "resolved"),
    EventKind.REOPENED: (),
    EventKind.CUSTOMER_REPLY: ("inbound",),
    EventKind.AUTO_REPLY: ("inbound",),
    # Tasks and mentions (issue 18): which task and whose; a task's title is free text.
    EventKind.TASK_ADDED: ("task_id", "user_id", "due_at"),
    EventKind.TASK_DONE: ("task_id", "user_id"),
    EventKind.TASK_REOPENED: ("task_id", "user_id"),
    EventKind.TASK_REMINDED: ("task_id", "user_id"),
    EventKind.TASK_OVERDUE: ("task_id", "user_id"),
    EventKind.MENTIONED: ("user_id",),
}
# Kinds whose summary is written by the system from ids and choices only: kept as it is.
_SYSTEM_SUMMARY = frozenset(
    {
        EventKind.OPENED,
        EventKind.WATCHER_ADDED,
        EventKind.WATCHER_REMOVED,
        EventKind.WARNING,
        EventKind.OVERDUE,
        EventKind.ESCALATED,
        EventKind.CLOSED,
        EventKind.REMEASURE_SENT,
        EventKind.REMEASURE_REMINDER,
        EventKind.REMEASURE_EXPIRED,
        EventKind.REMEASURED,
        EventKind.REOPENED,
        EventKind.AUTO_REPLY,
    }
)


def scrub_event(kind: str, summary: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A timeline event's summary and data without personal data (an unknown kind keeps none)."""
    kept = {k: data[k] for k in _KEEP.get(kind, ()) if k in data}
    if kind in _SYSTEM_SUMMARY:
        return summary, kept
    if kind == EventKind.CONTACT_ATTEMPT:
        method = str(kept.get("method", ""))
        outcome = str(kept.get("outcome", "")).replace("_", " ")
        return f"Contact attempt by {method}: {outcome} ({ERASED})", kept
    if kind == EventKind.REASSIGNED:
        return f"Reassigned from {kept.get('from', '')} to {kept.get('to', '')} ({ERASED})", kept
    words: dict[str, str] = {
        EventKind.NOTE: "Note",
        EventKind.DOCUMENT: "Document attached",
        EventKind.REPLY: "Reply sent to the customer",
        EventKind.CUSTOMER_REPLY: "The customer answered by email",
        EventKind.TASK_ADDED: "Task added",
        EventKind.TASK_DONE: "Task done",
        EventKind.TASK_REOPENED: "Task open again",
        EventKind.TASK_REMINDED: "Task reminder",
        EventKind.TASK_OVERDUE: "Task overdue",
        EventKind.MENTIONED: "Mentioned",
    }
    return f"{words.get(kind, 'Event')} ({ERASED})", kept


def scrub_answers(answers: dict[str, Any]) -> dict[str, Any]:
    """A survey return's answers without free text: scores and yes/no answers stay."""
    return {k: v for k, v in answers.items() if isinstance(v, bool | int | float)}


def scrub_matched_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The alert rules a survey return matched, without the answer text they quoted."""
    return [{"id": r.get("id", ""), "kind": r.get("kind", ""), "detail": ""} for r in rules]


def retention_cutoff(now: datetime, months: int) -> datetime:
    """Cases closed before this instant are past a retention of `months` calendar months.

    The same day of the month `months` earlier (the month's last day when it has fewer days).
    """
    if months < 1:
        raise ValueError("a retention is at least one month")
    total = now.year * 12 + (now.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    last = _days_in_month(year, month)
    return now.replace(year=year, month=month, day=min(now.day, last))


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (datetime(year, month + 1, 1) - datetime(year, month, 1)).days
