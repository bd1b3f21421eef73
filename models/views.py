"""Saved inbox views: a person's named filters and order, optionally shared with a unit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import JSONType, UTCDateTime, utcnow


class SavedView(SQLModel, table=True):
    """The inbox's query string as a dict (tab, status, q, sort, due, owner, escalated); saved
    again under the same name it is replaced. `unit_id` set: the unit's people see it too."""

    __tablename__ = "saved_view"
    __table_args__ = (UniqueConstraint("owner_id", "name", name="uq_saved_view_owner_name"),)

    id: int | None = Field(default=None, primary_key=True)
    owner_id: str = Field(max_length=64, index=True)
    name: str = Field(max_length=100)
    unit_id: str | None = Field(default=None, max_length=64, index=True)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
