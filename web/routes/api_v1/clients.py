"""API clients: admins create (token shown once), list and revoke them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from core.threads import in_thread
from domain.fields import StorableStr
from services.tokens import (
    SCOPES,
    TokenError,
    create_client,
    describe,
    list_clients,
    revoke,
    rotate,
)
from web.api_auth import Admin
from web.deps import EngineDep
from web.problems import Problem
from web.routes.api_v1.cases import PROBLEMS

router = APIRouter(prefix="/api-clients", tags=["api clients"], responses=PROBLEMS)


class ApiClientIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: StorableStr = Field(min_length=1, max_length=100)
    scopes: list[StorableStr] = Field(
        min_length=1, max_length=len(SCOPES), description=", ".join(sorted(SCOPES))
    )
    user_id: StorableStr | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="A personal token of this user (it acts only as them); none: a service client",
    )
    programs: list[StorableStr] = Field(
        default_factory=list, max_length=100, description="Only cases of these programs"
    )
    units: list[StorableStr] = Field(
        default_factory=list, max_length=1000, description="Only cases of these units"
    )
    expires_at: datetime | None = Field(default=None, description="Refused (401) from then on")


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_seconds: int = Field(
        default=0,
        ge=0,
        le=30 * 86400,
        strict=True,  # a number of seconds, never `false` read as 0
        description="How long the old secret stays valid (0: refused at once)",
    )


class ApiClientPublic(BaseModel):
    id: int
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None
    active: bool
    user_id: str | None = None
    programs: list[str] = []
    units: list[str] = []
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    previous_valid_until: datetime | None = None


class ApiClientCreated(ApiClientPublic):
    token: str = Field(description="Shown in this response only; store it now")


@router.get("", response_model=list[ApiClientPublic])
async def read_clients(_: Admin, engine: EngineDep) -> list[ApiClientPublic]:
    clients = await in_thread(list_clients, engine)
    return [ApiClientPublic.model_validate(describe(c)) for c in clients]


@router.post("", status_code=201, response_model=ApiClientCreated)
async def create(body: ApiClientIn, _: Admin, engine: EngineDep) -> ApiClientCreated:
    """Create a client; the response holds its token, which is never shown again."""
    if body.expires_at is not None and body.expires_at.tzinfo is None:
        raise Problem(
            422, "Invalid request", "Give expires_at with a time zone", field="expires_at"
        )
    try:
        new = await in_thread(
            lambda: create_client(
                engine,
                body.name,
                body.scopes,
                user_id=body.user_id,
                programs=body.programs,
                units=body.units,
                expires_at=body.expires_at,
            )
        )
    except TokenError as exc:
        field = "user_id" if "user" in str(exc) else "scopes"
        raise Problem(422, "Invalid request", str(exc), field=field) from exc
    return ApiClientCreated(**describe(new.client), token=new.token)  # type: ignore[arg-type]


@router.post("/{client_id}/rotate", response_model=ApiClientCreated)
async def rotate_client(
    client_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    _: Admin,
    engine: EngineDep,
    body: RotateIn | None = None,
) -> ApiClientCreated:
    """A new secret for the client (shown in this response only); the old one stays valid for
    `overlap_seconds`, so the integration can switch without a gap."""
    overlap = body.overlap_seconds if body is not None else 0
    new = await in_thread(rotate, engine, client_id, overlap)
    if new is None:
        raise Problem(
            404, "API client not found", f"No active client {client_id}", field="client_id"
        )
    return ApiClientCreated(**describe(new.client), token=new.token)  # type: ignore[arg-type]


@router.delete("/{client_id}", response_model=ApiClientPublic)
async def revoke_client(
    client_id: Annotated[int, Path(ge=1, le=2**63 - 1)], me: Admin, engine: EngineDep
) -> ApiClientPublic:
    """Revoke a client's token at once (a client cannot revoke itself)."""
    if client_id == me.id:
        raise Problem(409, "Cannot revoke yourself", "Use another admin token", field="client_id")
    revoked = await in_thread(revoke, engine, client_id)
    if not revoked:
        raise Problem(
            404, "API client not found", f"No active client {client_id}", field="client_id"
        )
    return ApiClientPublic.model_validate(describe(revoked[0]))
