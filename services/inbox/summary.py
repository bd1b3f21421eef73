"""The summary strip: per owner, how many cases are open, due today, past due and escalated.

Each figure is the count of the list its link opens (the same clauses: services.inbox.listing),
so a number never disagrees with the page behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, true
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from models.case import Case
from models.config import Unit, User
from services.inbox.listing import due_today_clause, past_due_clause


@dataclass(frozen=True)
class OwnerSummary:
    owner_id: str
    name: str
    open: int
    due_today: int
    past_due: int
    escalated: int


def _count(clause: Any) -> Any:
    return func.coalesce(func.sum(case((clause, 1), else_=0)), 0)


def owner_summaries(
    session: Session, scope: Any, now: datetime, day_ends: datetime, limit: int = 100
) -> list[OwnerSummary]:
    """One line per owner of an open case in `scope` (None: every case), busiest first."""
    is_open = col(Case.is_open) == true()
    stmt: Any = sql_select(
        col(Case.owner_id),
        func.count(),
        _count(due_today_clause(now, day_ends)),
        _count(past_due_clause(now)),
        _count(col(Case.escalation_level) > 0),
    ).where(is_open)
    if scope is not None:
        stmt = stmt.where(scope)
    stmt = stmt.group_by(col(Case.owner_id)).order_by(func.count().desc(), col(Case.owner_id))
    rows = session.execute(stmt.limit(limit)).all()
    ids = [r[0] for r in rows]
    names = dict(session.exec(select(User.id, User.name).where(col(User.id).in_(ids))).all())
    return [
        OwnerSummary(o, names.get(o, o), int(n), int(today), int(past), int(esc))
        for o, n, today, past, esc in rows
    ]


def my_summary(
    session: Session, user_id: str, name: str, now: datetime, day_ends: datetime
) -> OwnerSummary:
    """The viewer's own strip (zeros when they own nothing open)."""
    found = owner_summaries(session, col(Case.owner_id) == user_id, now, day_ends, limit=1)
    return found[0] if found else OwnerSummary(user_id, name, 0, 0, 0, 0)


def viewer_timezone(session: Session, user_id: str) -> str:
    """The time zone of the viewer's day ("due today"): their unit's (as frontline owner, else
    as a manager), UTC when they have none."""
    rows = session.exec(
        select(Unit.timezone)
        .where(
            (col(Unit.frontline_owner_id) == user_id)
            | (col(Unit.manager_id) == user_id)
            | (col(Unit.field_manager_id) == user_id)
        )
        .order_by(col(Unit.frontline_owner_id) == user_id, col(Unit.id))
    ).all()
    return rows[-1] if rows else "UTC"
