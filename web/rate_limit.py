"""Rate limits: per API client on /api/v1 (`client_limit`), per IP address on the public
pages (`public_limit`: survey links, sign-in; `form_limit`: sending a public web form). Health
and metrics are never limited.

Counted with the `limits` library (sliding window counter) in this process's memory, or in
Redis when RATE_LIMIT_STORAGE_URI is set (every API process then shares the count). Over the
limit: 429 problem+json with Retry-After, and RateLimit / RateLimit-Policy as in the IETF
draft "RateLimit header fields for HTTP" (draft-ietf-httpapi-ratelimit-headers); answers under
the limit carry the two RateLimit fields too. One client or address over its limit slows
nobody else: the keys are per client and per address.

Use as a dependency: `dependencies=[Depends(public_limit)]` on a public route.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from limits import RateLimitItem, parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from core.settings import Settings
from models.config import ApiClient
from web.api_auth import api_client
from web.problems import problem_response


class RateLimited(Exception):
    def __init__(self, policy: str, retry_after: int, headers: dict[str, str]) -> None:
        super().__init__(policy)
        self.policy, self.retry_after, self.headers = policy, retry_after, headers


@dataclass
class Policy:
    name: str
    item: RateLimitItem

    def header(self) -> str:
        return f'"{self.name}";q={self.item.amount};w={self.item.get_expiry()}'


class Limiter:
    """The app's limiter: one storage, the policies of its settings."""

    def __init__(self, settings: Settings) -> None:
        uri = settings.rate_limit_storage_uri
        self.enabled = settings.rate_limit_enabled
        self.strategy = SlidingWindowCounterRateLimiter(
            storage_from_string(uri if uri.startswith("async+") else f"async+{uri}")
        )
        self.api = Policy("api", parse(settings.rate_limit_api))
        self.public = Policy("public", parse(settings.rate_limit_public))
        self.form = Policy("form", parse(settings.form_rate_limit))

    async def hit(self, policy: Policy, key: str) -> dict[str, str]:
        """Count one request; the RateLimit headers, or RateLimited when over the limit."""
        allowed = await self.strategy.hit(policy.item, policy.name, key)
        stats = await self.strategy.get_window_stats(policy.item, policy.name, key)
        reset = max(1, math.ceil(stats.reset_time - time.time()))
        headers = {
            "RateLimit-Policy": policy.header(),
            "RateLimit": f'"{policy.name}";r={stats.remaining};t={reset}',
        }
        if not allowed:
            raise RateLimited(policy.name, reset, headers | {"Retry-After": str(reset)})
        return headers


def limiter(request: Request) -> Limiter:
    state = request.app.state
    found: Limiter | None = getattr(state, "rate_limiter", None)
    if found is None:
        found = state.rate_limiter = Limiter(state.settings)
    return found


def client_ip(request: Request) -> str:
    """The TCP peer, or what a TRUSTED_PROXIES proxy forwarded (api.py's proxy middleware)."""
    return request.client.host if request.client else "unknown"


async def public_limit(request: Request, response: Response) -> None:
    """Per IP address: for public routes anyone may call without signing in."""
    limits = limiter(request)
    if limits.enabled:
        response.headers.update(await limits.hit(limits.public, client_ip(request)))


async def form_limit(request: Request, response: Response) -> None:
    """Per IP address, on sending a public web form (FORM_RATE_LIMIT): a brake on one address
    flooding a program with cases. Always on (RATE_LIMIT_ENABLED governs the other two);
    over it, the form's page says so (429, in the page's language) with the same headers."""
    if request.method != "POST":
        return
    try:
        response.headers.update(
            await limiter(request).hit(limiter(request).form, client_ip(request))
        )
    except RateLimited as exc:
        raise HTTPException(
            429, "Too many forms sent from this address; try again later.", headers=exc.headers
        ) from exc


async def client_limit(
    response: Response,
    request: Request,
    client: Annotated[ApiClient, Depends(api_client)],
) -> ApiClient:
    """Per API client (after its token is checked): one busy client never slows another."""
    limits = limiter(request)
    if limits.enabled:
        response.headers.update(await limits.hit(limits.api, f"client:{client.id}"))
    return client


def install(app: FastAPI) -> None:
    @app.exception_handler(RateLimited)
    async def _limited(_: Request, exc: RateLimited) -> JSONResponse:
        response = problem_response(
            429,
            "Too many requests",
            f"Over the {exc.policy} rate limit: try again in {exc.retry_after} s",
            retry_after=exc.retry_after,
        )
        response.headers.update(exc.headers)
        return response
