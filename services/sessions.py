"""Server-side sign-in sessions: start one, find it again from the cookie's token, end it.

The token is 32 random bytes held only by the browser (inside the signed session cookie); the
table keeps its SHA-256. Ending a session deletes the row, so a copy of the cookie taken before
signing out (a shared computer, a proxy log) is worth nothing afterwards.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from models.sessions import WebSession
from models.types import utcnow

CHUNK = 500  # ids in one IN list


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, user_id: str, fingerprint: str, max_age: float) -> str:
    """A new session for `user_id`; returns the token for the cookie. Prunes expired rows."""
    now = utcnow()
    session.exec(delete(WebSession).where(col(WebSession.expires_at) < now))
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id=_key(token),
            user_id=user_id,
            password_fingerprint=fingerprint,
            created_at=now,
            expires_at=now + timedelta(seconds=max_age),
        )
    )
    session.commit()
    return token


def find(session: Session, token: object) -> WebSession | None:
    """The live session this cookie token names; None when unknown, ended or expired."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    found = session.get(WebSession, _key(token))
    if found is None:
        return None
    expires = found.expires_at
    expires = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
    return found if expires > datetime.now(UTC) else None


def find_many(session: Session, tokens: Iterable[object]) -> dict[str, WebSession]:
    """`find` for many tokens in one query a chunk: the live sessions, by token."""
    keys = {_key(t): t for t in tokens if isinstance(t, str) and 20 <= len(t) <= 100}
    now = datetime.now(UTC)
    found: dict[str, WebSession] = {}
    ids = sorted(keys)
    for i in range(0, len(ids), CHUNK):
        rows = session.exec(select(WebSession).where(col(WebSession.id).in_(ids[i : i + CHUNK])))
        for row in rows:
            expires = (
                row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
            )
            if expires > now:
                found[keys[row.id]] = row
    return found


def end(engine: Engine, token: object) -> None:
    """Sign this session out (idempotent: ending an ended session changes nothing)."""
    if not isinstance(token, str):
        return
    with Session(engine) as session:
        session.exec(delete(WebSession).where(col(WebSession.id) == _key(token)))
        session.commit()


def end_all(session: Session, user_id: str) -> None:
    """Sign every session of this user out (a deactivated user); the caller commits."""
    session.exec(delete(WebSession).where(col(WebSession.user_id) == user_id))
