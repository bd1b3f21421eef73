"""Rate limits: a client's burst over its limit is answered 429 problem+json with Retry-After
and the RateLimit fields, while another client goes on; public pages are limited per address;
health checks never."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from core.settings import Settings
from services.tokens import create_client
from tests.api.conftest import bearer


@pytest.fixture
def limited(settings: Settings, engine: Engine) -> Any:
    from api import create_app

    return create_app(
        settings.model_copy(
            update={
                "rate_limit_enabled": True,
                "rate_limit_api": "5/minute",
                "rate_limit_public": "3/minute",
            }
        ),
        engine=engine,
    )


@pytest.fixture
async def client_from(limited: Any) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """An HTTP client of the app, from the given IP address."""
    made: list[httpx.AsyncClient] = []

    def make(ip: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=limited, client=(ip, 40000))
        made.append(httpx.AsyncClient(transport=transport, base_url="http://testserver"))
        return made[-1]

    yield make
    for c in made:
        await c.aclose()


async def test_a_burst_over_the_client_limit_is_429_and_others_go_on(
    client_from: Callable[[str], httpx.AsyncClient], engine: Engine
) -> None:
    one = bearer(create_client(engine, "one", ["webhooks:manage"]).token)
    two = bearer(create_client(engine, "two", ["webhooks:manage"]).token)
    http = client_from("10.0.0.1")
    answers = [await http.get("/api/v1/webhooks", headers=one) for _ in range(6)]
    assert [r.status_code for r in answers] == [200] * 5 + [429]
    ok, over = answers[0], answers[-1]
    assert ok.headers["RateLimit-Policy"] == '"api";q=5;w=60'
    assert re.fullmatch(r'"api";r=4;t=\d+', ok.headers["RateLimit"])
    assert over.headers["content-type"] == "application/problem+json"
    assert over.json()["status"] == 429
    retry = int(over.headers["Retry-After"])
    assert 1 <= retry <= 60
    assert over.headers["RateLimit-Policy"] == '"api";q=5;w=60'
    assert re.fullmatch(r'"api";r=0;t=\d+', over.headers["RateLimit"])
    # Another client, from the same address, is not slowed.
    assert (await http.get("/api/v1/webhooks", headers=two)).status_code == 200


async def test_public_pages_are_limited_per_address(
    client_from: Callable[[str], httpx.AsyncClient],
) -> None:
    first, other = client_from("203.0.113.7"), client_from("203.0.113.8")
    codes = [(await first.get("/survey/not-a-token")).status_code for _ in range(3)]
    assert 429 not in codes
    over = await first.get("/login")  # one count for every public page of an address
    assert over.status_code == 429 and int(over.headers["Retry-After"]) >= 1
    assert over.headers["RateLimit-Policy"] == '"public";q=3;w=60'
    assert (await other.get("/survey/not-a-token")).status_code != 429
    # Health checks are never limited.
    assert all([(await first.get("/healthz")).status_code == 200 for _ in range(5)])
