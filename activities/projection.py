"""Writes the workflow's view of a case into the SQL read model.

Idempotent and order-safe: the case row only moves forward in `version`, watchers follow the row,
and timeline events are keyed (case_id, seq), so a retried or late activity changes nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col
from temporalio import activity

from activities.failures import classify_errors
from activities.rollup import ROW_COLUMNS, move_rollups
from activities.sla import measure_case
from activities.webhooks import NewEvent, enqueue_case_events
from domain.case import CaseView, TimelineEvent
from domain.case_row import case_row
from domain.policy import CalendarSpec
from models.case import Case, CaseEvent, CaseFailure, CaseTaskRow, CaseWatcher
from models.changes import record_case_change
from models.types import utcnow


@dataclass
class ProjectRequest:
    view: CaseView
    events: list[TimelineEvent]
    # The case's business calendar: the projection measures business time with it.
    calendar: CalendarSpec | None = None
    # The case is flagged for a failed projection: this one, when it succeeds, clears the flag.
    clear_failure: bool = False


def _insert(engine: Engine, table: Any) -> Any:
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


# Columns an update never changes: the key, and the customer record, which intake sets and only
# an admin's merge moves (services/customer_merge.py); the workflow keeps the id it started with.
_WRITTEN_ONCE = frozenset({"id", "customer_id"})


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
        set_={k: excluded[k] for k in columns if k not in _WRITTEN_ONCE},
        where=table.c.version < excluded.version,
    ).returning(table.c.version)


# Built once: the statement, its compiled form is cached by SQLAlchemy under its shape.
_LOCK_ROW = (
    update(Case)
    .where(col(Case.id) == bindparam("case_id"))
    .values(version=col(Case.version))
    .returning(*[Case.__table__.c[name] for name in ROW_COLUMNS])  # type: ignore[attr-defined]
)


def apply_projection(engine: Engine, req: ProjectRequest) -> bool:
    """Apply one projection; True when the case row moved forward."""
    row = case_row(req.view, utcnow(), req.calendar)
    added: set[int] = set()
    with engine.begin() as conn:
        # The row before (its status for the webhooks of a status change, its contribution to
        # the rollups), read under the row's write lock (a no-op update takes it and answers
        # with the row: one statement), so two projections of a case never both see the same
        # "before".
        found = conn.execute(_LOCK_ROW, {"case_id": req.view.case_id}).first()
        old = None if found is None else dict(found._mapping)
        old_status = old["status"] if old else None
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
            added = set(
                conn.execute(
                    events.on_conflict_do_nothing(index_elements=["case_id", "seq"]).returning(
                        events.table.c.seq
                    )
                ).scalars()
            )
        # Measured from the whole timeline, this request's events included (activities/sla.py).
        row |= measure_case(conn, req.view, req.calendar).columns()
        stmt = _case_upsert(engine.dialect.name, tuple(row))
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
        if applied:
            _write_tasks(engine, conn, req.view)
        if applied and req.clear_failure:  # caught up: the case is no longer behind
            conn.execute(
                delete(CaseFailure).where(
                    col(CaseFailure.case_id) == req.view.case_id,
                    col(CaseFailure.step) == "projection",
                )
            )
        new = [NewEvent(e.seq, e.kind, e.at) for e in req.events if e.seq in added]
        # Webhooks of what is new (each once: an event inserted once, a status moved once).
        enqueue_case_events(conn, req.view.case_id, row, new, old_status if applied else None)
        if applied:  # the dashboard's rollups follow the row (activities/rollup.py); late in
            # the transaction: their rows are shared by many cases, so their locks are held short
            move_rollups(conn, old, {k: row[k] for k in ROW_COLUMNS})
        if applied or added:  # last in the transaction: see models.changes
            record_case_change(conn, req.view.case_id, req.view.version)
    return applied


def _write_tasks(engine: Engine, conn: Any, view: CaseView) -> None:
    """The case's tasks as the view holds them (tasks are never removed: a case without any
    writes nothing)."""
    if not view.tasks:
        return
    conn.execute(delete(CaseTaskRow).where(col(CaseTaskRow.case_id) == view.case_id))
    conn.execute(
        _insert(engine, CaseTaskRow.__table__),  # type: ignore[attr-defined]
        [
            {
                "case_id": view.case_id,
                "task_id": t.task_id,
                "title": t.title,
                "assignee_id": t.assignee_id,
                "created_by": t.created_by,
                "created_at": t.created_at,
                "due_at": t.due_at,
                "remind_at": t.remind_at,
                "done_at": t.done_at,
                "done_by": t.done_by,
                "is_open": t.done_at is None,
                "overdue": t.overdue,
            }
            for t in view.tasks
        ],
    )


def current_version(engine: Engine, case_id: str) -> int | None:
    with engine.connect() as conn:
        return conn.execute(select(col(Case.version)).where(col(Case.id) == case_id)).scalar()


class ProjectionActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn(name="project_case")
    @classify_errors("projection")
    def project_case(self, req: ProjectRequest) -> None:
        apply_projection(self.engine, req)
