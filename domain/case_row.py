"""The read model's row for a case: the columns the projection writes from the workflow's view.

Pure (intake writes the same row for version 0 before the workflow runs); business time is
measured on the case's own calendar.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.calendar import business_minutes
from domain.case import CaseView
from domain.policy import CalendarSpec
from domain.vocabulary import CaseStatus


def case_row(
    view: CaseView, updated_at: datetime, calendar: CalendarSpec | None = None
) -> dict[str, Any]:
    """The projection's column values for one view (business time on `calendar`, when given)."""
    is_open = view.status != CaseStatus.CLOSED
    next_due = None
    # A case waiting on the customer has no deadline running out: out of the due and overdue
    # lists until it resumes (its paused deadlines move on then).
    if is_open and view.paused_since is None:
        next_due = view.open_due_at if view.status == CaseStatus.NEW else view.resolve_due_at
    return {
        "id": view.case_id,
        "version": view.version,
        "program_id": view.program_id,
        "unit_id": view.unit_id,
        "channel": view.channel,
        "customer_id": view.customer_id,
        "customer_name": view.customer_name,
        "owner_id": view.owner_id,
        "status": view.status.value,
        "is_open": is_open,
        "closing_status": view.closing_status.value if view.closing_status else None,
        "priority": view.priority.value,
        "category": view.category,
        "subcategory": view.subcategory,
        "reason": view.reason,
        "verbatim": view.verbatim,
        "external_ref": view.external_ref,
        "created_at": view.created_at,
        "open_due_at": view.open_due_at,
        "resolve_due_at": view.resolve_due_at,
        "next_due_at": next_due,
        "escalation_level": view.escalation_level,
        "went_overdue": view.went_overdue,
        "open_breached": view.open_breached,
        "resolve_breached": view.resolve_breached,
        "first_action_at": view.first_action_at,
        "closed_at": view.closed_at,
        "business_minutes_to_first_action": (
            business_minutes(calendar, view.created_at, view.first_action_at) if calendar else None
        ),
        "business_minutes_to_close": (
            business_minutes(calendar, view.created_at, view.closed_at) if calendar else None
        ),
        "root_causes": view.root_causes,
        "resolution_methods": view.resolution_methods,
        "final_note": view.final_note,
        "reopened_count": view.reopened_count,
        "remeasure_status": view.remeasure_status.value,
        "remeasure_score": view.remeasure_score,
        "remeasure_resolved": view.remeasure_resolved,
        "remeasure_comment": view.remeasure_comment,
        "recovery_failed": view.recovery_failed,
        "paused_since": view.paused_since if is_open else None,
        "pause_resumes_at": view.pause_resumes_at if is_open else None,
        "paused_seconds": view.paused_seconds,
        "updated_at": updated_at,
    }
