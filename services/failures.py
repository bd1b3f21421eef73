"""Cases whose workflow flagged a step that failed for good (activities.failures), for admins."""

from __future__ import annotations

from sqlmodel import Session, col, select

from models.case import CaseFailure

LIMIT = 50


def flagged(session: Session, limit: int = LIMIT) -> list[CaseFailure]:
    """The newest failures first (the outbox page's list)."""
    stmt = select(CaseFailure).order_by(col(CaseFailure.failed_at).desc()).limit(limit)
    return list(session.exec(stmt).all())


def failures_of(session: Session, case_id: str) -> list[CaseFailure]:
    stmt = select(CaseFailure).where(col(CaseFailure.case_id) == case_id)
    return list(session.exec(stmt.order_by(col(CaseFailure.step))).all())
