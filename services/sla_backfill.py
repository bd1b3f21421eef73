"""Measure the SLA figures of cases the projection wrote before it measured them (migration
0022 adds the columns empty): from each row and its `case_event` timeline, on the calendar the
case's program and unit give today (a case carries its own snapshot of it in its workflow; the
read model does not, so a calendar changed since then measures an old case on the new one).
"""

from __future__ import annotations

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from activities.sla import pause_metrics, sla_events
from domain.sla import measure
from models.case import Case
from services.configuration import load_program, load_unit, policy_for


def backfill_sla(engine: Engine, *, only_missing: bool = True) -> int:
    """Measure every case (or those never measured); the number of rows written. Guarded by
    the row's version, so a projection that wrote the case meanwhile wins."""
    written = 0
    with Session(engine) as session:
        query = select(Case.id, Case.version)
        if only_missing:
            query = query.where(col(Case.sla_paused_seconds).is_(None))
        keys = list(session.exec(query).all())
    for case_id, version in keys:
        with Session(engine) as session, session.begin():
            case = session.get(Case, case_id)
            if case is None or case.version != version:
                continue
            program, unit = load_program(session, case.program_id), load_unit(session, case.unit_id)
            calendar = policy_for(program, unit).calendar if program and unit else None
            conn = session.connection()
            figures = measure(
                created_at=case.created_at,
                first_action_at=case.first_action_at,
                closed_at=case.closed_at,
                open_due_at=case.open_due_at,
                resolve_due_at=case.resolve_due_at,
                owner_id=case.owner_id,
                events=sla_events(conn, case_id),
                calendar=calendar,
                pause_metrics=pause_metrics(conn, case.program_id),
            )
            result = session.exec(
                update(Case)
                .where(col(Case.id) == case_id, col(Case.version) == version)
                .values(**figures.columns())
            )
            written += result.rowcount or 0
    return written
