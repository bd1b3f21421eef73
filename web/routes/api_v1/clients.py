"""API clients: admins create (token shown once), list and revoke them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from core.threads import in_thread
from domain.fields import StorableStr
from services.audit import client_actor
from services.tokens import SCOPES, TokenError, create_client, describe, list_clients, revoke
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


class ApiClientPublic(BaseModel):
    id: int
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None
    active: bool


class ApiClientCreated(ApiClientPublic):
    token: str = Field(description="Shown in this response only; store it now")


@router.get("", response_model=list[ApiClientPublic])
async def read_clients(_: Admin, engine: EngineDep) -> list[ApiClientPublic]:
    clients = await in_thread(list_clients, engine)
    return [ApiClientPublic.model_validate(describe(c)) for c in clients]


@router.post("", status_code=201, response_model=ApiClientCreated)
async def create(body: ApiClientIn, me: Admin, engine: EngineDep) -> ApiClientCreated:
    """Create a client; the response holds its token, which is never shown again."""
    try:
        new = await in_thread(create_client, engine, body.name, body.scopes, actor=client_actor(me))
    except TokenError as exc:
        raise Problem(422, "Invalid request", str(exc), field="scopes") from exc
    return ApiClientCreated(**describe(new.client), token=new.token)  # type: ignore[arg-type]


@router.delete("/{client_id}", response_model=ApiClientPublic)
async def revoke_client(
    client_id: Annotated[int, Path(ge=1, le=2**63 - 1)], me: Admin, engine: EngineDep
) -> ApiClientPublic:
    """Revoke a client's token at once (a client cannot revoke itself)."""
    if client_id == me.id:
        raise Problem(409, "Cannot revoke yourself", "Use another admin token", field="client_id")
    revoked = await in_thread(revoke, engine, client_id, client_actor(me))
    if not revoked:
        raise Problem(
            404, "API client not found", f"No active client {client_id}", field="client_id"
        )
    return ApiClientPublic.model_validate(describe(revoked[0]))
