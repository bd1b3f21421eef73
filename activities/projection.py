"""Writes the workflow's view of a case into the SQL read model.

Idempotent and order-safe: the case row only moves forward in `version`, watchers follow the row,
and timeline events are keyed (case_id, seq), so a retried or late activity changes nothing.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col
from temporalio import activity

from activities.calendar import business_minutes
from activities.failures import classify_errors
from models.case import Case, CaseEvent, CaseFailure, CaseWatcher
from models.changes import record_case_change
from models.types import utcnow
from workflows.messages import ActivityName, CalendarSpec, CaseStatus, CaseView, ProjectRequest


def case_row(view: CaseView, calendar: CalendarSpec | None = None) -> dict[str, Any]:
    """The projection's column values for one view (business time on `calendar`, when given)."""
    is_open = view.status != CaseStatus.CLOSED
    next_due = None
    if is_open:
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
        "updated_at": utcnow(),
    }


def _insert(engine: Engine, table: Any) -> Any:
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


@functools.cache
def _case_upsert(dialect_name: str, columns: tuple[str, ...]) -> Any:
    """The version-guarded upsert, built once per dialect (building it per call cost more CPU
    than running it); the row's values are bound at execution."""
    table = Case.__table__  # type: ignore[attr-defined]
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    excluded = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={k: excluded[k] for k in columns if k != "id"},
        where=table.c.version < excluded.version,
    ).returning(table.c.version)


def apply_projection(engine: Engine, req: ProjectRequest) -> bool:
    """Apply one projection; True when the case row moved forward."""
    row = case_row(req.view, req.calendar)
    stmt = _case_upsert(engine.dialect.name, tuple(row))
    with engine.begin() as conn:
        # RETURNING yields a row only when the insert or the guarded update happened.
        applied = conn.execute(stmt, row).first() is not None
        if applied:
            conn.execute(delete(CaseWatcher).where(col(CaseWatcher.case_id) == req.view.case_id))
            if req.view.watchers:
                conn.execute(
                    _insert(engine, CaseWatcher.__table__),  # type: ignore[attr-defined]
                    [
                        {
                            "case_id": req.view.case_id,
                            "user_id": w.user_id,
                            "access": w.access.value,
                        }
                        for w in req.view.watchers
                    ],
                )
        if applied and req.clear_failure:  # caught up: the case is no longer behind
            conn.execute(
                delete(CaseFailure).where(
                    col(CaseFailure.case_id) == req.view.case_id,
                    col(CaseFailure.step) == "projection",
                )
            )
        if req.events:
            events = _insert(engine, CaseEvent.__table__).values(  # type: ignore[attr-defined]
                [
                    {
                        "case_id": req.view.case_id,
                        "seq": e.seq,
                        "at": e.at,
                        "kind": e.kind,
                        "actor": e.actor,
                        "summary": e.summary,
                        "data": e.data,
                    }
                    for e in req.events
                ]
            )
            added = conn.execute(
                events.on_conflict_do_nothing(index_elements=["case_id", "seq"]).returning(
                    events.table.c.seq
                )
            ).first()
        if applied or (req.events and added):  # last in the transaction: see models.changes
            record_case_change(conn, req.view.case_id, req.view.version)
    return applied


def current_version(engine: Engine, case_id: str) -> int | None:
    with engine.connect() as conn:
        return conn.execute(select(col(Case.version)).where(col(Case.id) == case_id)).scalar()


class ProjectionActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn(name=ActivityName.PROJECT_CASE)
    @classify_errors("projection")
    def project_case(self, req: ProjectRequest) -> None:
        apply_projection(self.engine, req)
