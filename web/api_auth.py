"""Bearer-token authentication for /api/v1: typed dependencies per scope.

Use `CasesWrite`, `CasesRead`, `ReportsRead` or `Admin` as a parameter type (or
`require_scope(...)` in `dependencies=`); a missing or bad token is a 401 problem, a token
without the scope a 403 problem, both naming the `Authorization` header.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from core.logging import bind
from core.threads import in_thread
from models.config import ApiClient
from services.tokens import allows, authenticate_cached, recently_authenticated
from web.problems import PROBLEM_JSON, Problem

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiToken",
    description="An API client token: `python -m cli token create --name NAME --scope S`",
)

AUTH_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, unknown or revoked token", "content": {PROBLEM_JSON: {}}},
    403: {"description": "The token lacks the scope", "content": {PROBLEM_JSON: {}}},
}


async def api_client(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> ApiClient:
    if credentials is None or not credentials.credentials:
        raise Problem(
            401,
            "Authentication required",
            "Send an API token in the Authorization header: Bearer <token>",
            field="Authorization",
        )
    token = credentials.credentials
    client = recently_authenticated(token)  # no thread hop for a token seen just now
    if client is None:
        client = await in_thread(authenticate_cached, request.app.state.engine, token)
    if client is None:
        raise Problem(
            401,
            "Invalid token",
            "The API token is unknown, expired or revoked",
            field="Authorization",
        )
    request.state.api_client = client.name
    bind(api_client=client.name, api_client_id=client.id)
    return client


ApiClientDep = Annotated[ApiClient, Depends(api_client)]


def require_scope(scope: str) -> Any:
    """A dependency that returns the authenticated client when it holds `scope` (or admin)."""

    async def check(client: ApiClientDep) -> ApiClient:
        if not allows(list(client.scopes or []), scope):
            raise Problem(
                403,
                "Insufficient scope",
                f"This operation needs a token with the {scope!r} scope",
                field="Authorization",
                required_scope=scope,
            )
        return client

    check.__name__ = f"require_{scope.replace(':', '_')}"
    return Depends(check)


CasesWrite = Annotated[ApiClient, require_scope("cases:write")]
CasesRead = Annotated[ApiClient, require_scope("cases:read")]
ReportsRead = Annotated[ApiClient, require_scope("reports:read")]
Admin = Annotated[ApiClient, require_scope("admin")]
Webhooks = Annotated[ApiClient, require_scope("webhooks:manage")]
