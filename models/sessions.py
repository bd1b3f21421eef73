"""Signed-in browser sessions, kept server-side so that signing out really ends one."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


class WebSession(SQLModel, table=True):
    """One sign-in. The cookie carries a random token; only its SHA-256 is stored, so a copy of
    the table signs nobody in. Signing out deletes the row: a replayed cookie finds nothing."""

    __tablename__ = "web_session"

    id: str = Field(primary_key=True, max_length=64)  # sha256 hex of the cookie's token
    user_id: str = Field(max_length=64, index=True)
    # Of the password hash at sign-in: a new password ends the sessions made with the old one.
    password_fingerprint: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
