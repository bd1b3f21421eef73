"""In-app notifications: what the header's badge counts and the notifications page lists.

A notice belongs to one user and is only ever read or marked by that user: every query here
takes the signed-in user's id, never a notice id alone.
"""

from __future__ import annotations

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from models.case import Notice
from models.changes import record_notices
from models.types import utcnow

PAGE_SIZE = 50


def unseen_count(session: Session, user_id: str) -> int:
    stmt = select(func.count()).where(col(Notice.user_id) == user_id, col(Notice.seen_at).is_(None))
    return int(session.exec(stmt).one())


def latest(session: Session, user_id: str, limit: int = PAGE_SIZE) -> list[Notice]:
    stmt = (
        select(Notice)
        .where(col(Notice.user_id) == user_id)
        .order_by(col(Notice.id).desc())
        .limit(limit)
    )
    return list(session.exec(stmt).all())


def mark_seen(session: Session, user_id: str, up_to_id: int) -> int:
    """Mark the user's notices up to `up_to_id` seen (what the page showed); idempotent."""
    result = session.exec(
        update(Notice)
        .where(
            col(Notice.user_id) == user_id,
            col(Notice.id) <= up_to_id,
            col(Notice.seen_at).is_(None),
        )
        .values(seen_at=utcnow())
    )
    if result.rowcount:  # the badge in the user's other tabs
        record_notices(session.connection(), None, [user_id])
    session.commit()
    return int(result.rowcount or 0)
