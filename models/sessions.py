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


class AccountLink(SQLModel, table=True):
    """A one-time link mailed to a person: an invitation to set a password, or a password
    reset. Only the SHA-256 of the link's token is kept; using it stamps `used_at`, so it
    works once."""

    __tablename__ = "account_link"

    id: str = Field(primary_key=True, max_length=64)  # sha256 hex of the link's token
    purpose: str = Field(max_length=20)  # invite | reset (domain.vocabulary.LinkPurpose)
    user_id: str = Field(max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
