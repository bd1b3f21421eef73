"""The people picker: who a case may go to (reassign) or who may watch it, by name or id."""

from __future__ import annotations

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from models.config import User


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def find_people(session: Session, term: str, limit: int = 10) -> list[tuple[str, str]]:
    """Active users whose name or sign-in name contains `term` (any case), names first that
    begin with it; every active user may be given a case (as on the case page)."""
    term = term.strip()[:100]
    stmt = select(User.id, User.name).where(col(User.active) == True)  # noqa: E712
    if term:
        like = _like(term)
        stmt = stmt.where(
            or_(
                func.lower(col(User.name)).like(like, escape="\\"),
                func.lower(col(User.id)).like(like, escape="\\"),
            )
        )
    rows = session.exec(stmt.order_by(col(User.name), col(User.id)).limit(200)).all()
    lowered = term.lower()
    ranked = sorted(rows, key=lambda r: (not r[1].lower().startswith(lowered), r[1], r[0]))
    return [(u, n) for u, n in ranked[:limit]]


def active_user(session: Session, user_id: str) -> tuple[str, str] | None:
    user = session.get(User, user_id.strip()) if user_id.strip() else None
    return (user.id, user.name) if user is not None and user.active else None
