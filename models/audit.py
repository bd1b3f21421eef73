"""The audit log: one row per configuration or permission change (domain/audit.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from models.types import JSONType, UTCDateTime, utcnow


class AuditEntry(SQLModel, table=True):
    """Who (`actor_kind`/`actor_id`/`actor_name`) changed what (`object_kind`/`object_id`),
    when, through what (`via`), with the diff and the object as it was after (`snapshot`,
    secrets masked), from which a program's earlier version can be restored."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor_kind: str = Field(max_length=20)
    actor_id: str = Field(max_length=64, index=True)
    actor_name: str = Field(max_length=200)
    via: str = Field(max_length=20)
    object_kind: str = Field(max_length=20, index=True)
    object_id: str = Field(max_length=64, index=True)
    action: str = Field(max_length=20)
    diff: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType))
    snapshot: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    restored_from: int | None = None
    # A program's calendar or SLA changed: for new cases only, or the open ones too (ApplyTo).
    apply_to: str | None = Field(default=None, max_length=10)
