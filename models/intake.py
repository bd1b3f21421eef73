"""Intake records: survey returns (one row per response id), FYIs, and routing counters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import JSONType, UTCDateTime, utcnow


class SurveyResponse(SQLModel, table=True):
    """A survey return and what the alert rules made of it; replays find this row."""

    __tablename__ = "survey_response"
    __table_args__ = (
        UniqueConstraint("program_id", "response_id", name="uq_survey_response_program_ref"),
    )

    id: int | None = Field(default=None, primary_key=True)
    program_id: str = Field(max_length=64)
    unit_id: str = Field(max_length=64, index=True)
    response_id: str = Field(max_length=200)
    channel: str = Field(max_length=40)
    customer_id: int | None = Field(default=None, index=True)
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType))
    comments: str = ""
    outcome: str = Field(max_length=10)  # case | fyi | none
    case_id: str | None = Field(default=None, max_length=20, index=True)
    fyi_id: int | None = None
    matched_rules: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Fyi(SQLModel, table=True):
    """A compliment or suggestion shared with the unit's team: no follow-up, no case."""

    id: int | None = Field(default=None, primary_key=True)
    program_id: str = Field(max_length=64)
    unit_id: str = Field(max_length=64, index=True)
    survey_response_id: int | None = Field(default=None, index=True)
    customer_id: int | None = None
    customer_name: str = Field(default="", max_length=200)
    fyi_type: str = Field(max_length=20)  # compliment | suggestion
    text: str = ""
    rule_ids: list[str] = Field(default_factory=list, sa_column=Column(JSONType))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)

    @property
    def ref(self) -> str:
        """Its key in the outbox (which is keyed by case id)."""
        return f"FYI-{self.id or 0:06d}"


class RoutingCounter(SQLModel, table=True):
    """Round-robin position per program; bumped atomically in the intake transaction."""

    __tablename__ = "routing_counter"

    program_id: str = Field(primary_key=True, max_length=64)
    value: int = 0


class ActionKey(SQLModel, table=True):
    """An Idempotency-Key an API client sent with a case action, and what the request was.

    The key is the client's own (per client and case); the same key with another request is
    refused, the same request again is the same Temporal update (deduplicated by its id).
    """

    __tablename__ = "action_key"

    client_id: str = Field(primary_key=True, max_length=64)
    case_id: str = Field(primary_key=True, max_length=20)
    idempotency_key: str = Field(primary_key=True, max_length=200)
    # SHA-256 of the operation and its request body.
    request_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
