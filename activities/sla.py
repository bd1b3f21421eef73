"""The SLA figures of a case as the projection writes them: measured (domain/sla.py) from the
view, the case's timeline in the read model and its program's pausing metrics.

Read in the projection's own transaction, after the request's events are inserted, so the
figures and the timeline they come from are written together.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select
from sqlmodel import col

from domain.case import CaseView
from domain.policy import CalendarSpec, SlaPolicy
from domain.sla import SLA_EVENT_KINDS, SlaEvent, SlaFigures, measure
from models.case import CaseEvent
from models.config import Program


def sla_events(conn: Connection, case_id: str) -> list[SlaEvent]:
    rows = conn.execute(
        select(col(CaseEvent.at), col(CaseEvent.kind), col(CaseEvent.data))
        .where(col(CaseEvent.case_id) == case_id)
        .where(col(CaseEvent.kind).in_([k.value for k in SLA_EVENT_KINDS]))
        .order_by(col(CaseEvent.seq))
    )
    return [SlaEvent(at, kind, data or {}) for at, kind, data in rows]


def pause_metrics(conn: Connection, program_id: str) -> list[str]:
    """The program's pausing metrics as configured now (a program without the setting pauses
    the default ones)."""
    sla: dict[str, Any] | None = conn.execute(
        select(col(Program.sla)).where(col(Program.id) == program_id)
    ).scalar()
    return list((sla or {}).get("pause_metrics", SlaPolicy().pause_metrics))


def measure_case(conn: Connection, view: CaseView, calendar: CalendarSpec | None) -> SlaFigures:
    return measure(
        created_at=view.created_at,
        first_action_at=view.first_action_at,
        closed_at=view.closed_at,
        open_due_at=view.open_due_at,
        resolve_due_at=view.resolve_due_at,
        owner_id=view.owner_id,
        events=sla_events(conn, view.case_id),
        calendar=calendar,
        pause_metrics=pause_metrics(conn, view.program_id),
    )
