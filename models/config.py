"""Reference data: programs, units, users and API clients (configuration as data)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from models.types import JSONType, UTCDateTime, utcnow


class Program(SQLModel, table=True):
    """One closed-loop program; its policy pieces are JSON shaped like `workflows.messages`."""

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    ownership_model: str = Field(default="field", max_length=20)  # field | corporate | blended
    calendar: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType))
    sla: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType))
    escalation: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType))
    remeasure: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType))
    root_causes: list[str] = Field(default_factory=list, sa_column=Column(JSONType))
    resolution_methods: list[str] = Field(default_factory=list, sa_column=Column(JSONType))
    alert_rules: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType))
    routing_rules: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType))
    default_owner_id: str | None = Field(default=None, max_length=64)
    # Survey questions the alert rules read; corporate routing's central team.
    questions: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType))
    central_team: list[str] = Field(default_factory=list, sa_column=Column(JSONType))
    team_assignment: str = Field(
        default="round_robin", max_length=20, sa_column_kwargs={"server_default": "round_robin"}
    )
    # Messaging: closing summary setting, template overrides, scripted replies (services.templates).
    notifications: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType))
    # Categories and what closing requires (domain/taxonomy.py); empty: the defaults.
    taxonomy: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType))
    # Months after close before a case's personal data is anonymised (None: kept until erased).
    retention_months: int | None = None
    # Where customers open cases themselves: the intake mailbox and the public web form
    # (domain/program.py `IntakeIn`); empty: neither.
    intake: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Unit(SQLModel, table=True):
    """A frontline location; its people drive field routing."""

    id: str = Field(primary_key=True, max_length=64)  # the unit code, e.g. "4723"
    name: str = Field(max_length=200)
    timezone: str = Field(default="UTC", max_length=64)
    holiday_country: str | None = Field(default=None, max_length=8)
    holiday_subdivision: str | None = Field(default=None, max_length=16)
    frontline_owner_id: str | None = Field(default=None, max_length=64, index=True)
    manager_id: str | None = Field(default=None, max_length=64, index=True)
    field_manager_id: str | None = Field(default=None, max_length=64, index=True)


class User(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)  # the sign-in name
    name: str = Field(max_length=200)
    email: str = Field(default="", max_length=320)
    role: str = Field(default="agent", max_length=20)  # agent | manager | admin
    manager_id: str | None = Field(default=None, max_length=64, index=True)
    password_hash: str | None = Field(default=None, max_length=200)
    active: bool = True
    # The pages' language ("en", "nb"); None: the browser's Accept-Language decides.
    locale: str | None = Field(default=None, max_length=16)


class ApiClient(SQLModel, table=True):
    """A named client holding a token; only the token's hash is kept.

    With `user_id` it is that user's personal token (it acts only as them); without, a service
    client (it acts for a user only with the `delegate` scope). `programs` and `units` limit
    the cases it reads and writes (empty: no limit of that kind).
    """

    __tablename__ = "api_client"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, index=True)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSONType))
    token_hash: str = Field(max_length=128, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    user_id: str | None = Field(default=None, max_length=64, index=True)
    programs: list[str] = Field(default_factory=list, sa_column=Column(JSONType))
    units: list[str] = Field(default_factory=list, sa_column=Column(JSONType))
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Rotation: the secret before the last one, still accepted until `previous_valid_until`.
    previous_token_hash: str | None = Field(default=None, max_length=128, index=True)
    previous_valid_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
