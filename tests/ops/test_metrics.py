"""The app's /metrics: request, intake, outbox and projection figures, and who may read them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from models.case import Outbox
from services.configuration import apply_config
from services.tokens import create_client
from tests.api.conftest import api_config, bearer
from tests.api.test_cases import BODY
from tests.conftest import terminate_cases
from tests.factories import running_worker
from tests.live import eventually


@pytest.fixture
def app(engine: Engine, settings: Settings, ts_env: WorkflowEnvironment) -> Any:
    from api import create_app

    apply_config(engine, api_config())
    return create_app(settings, temporal=ts_env.client, engine=engine)


def _client(app: Any, peer: str = "127.0.0.1", **headers: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


def _value(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{series} not in the scrape")


@pytest.fixture
async def api(app: Any, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    token = create_client(engine, "intake-bot", ["cases:write", "cases:read"]).token
    async with _client(app, **bearer(token)) as client:
        yield client


async def test_requests_intake_and_backlogs_are_counted(
    api: httpx.AsyncClient,
    app: Any,
    engine: Engine,
    settings: Settings,
    ts_env: WorkflowEnvironment,
) -> None:
    # No worker yet: the case is acknowledged but its workflow has not projected it.
    first = await api.post("/api/v1/cases", json={**BODY, "external_ref": "M-1"})
    again = await api.post("/api/v1/cases", json={**BODY, "external_ref": "M-1"})
    bad = await api.post("/api/v1/cases", json={**BODY, "unit_id": "nope"})
    assert (first.status_code, again.status_code, bad.status_code) == (201, 200, 422)
    await api.get("/api/v1/cases/C-999999")  # a 404 on a route template
    await api.get("/no/such/page")
    await api.request("BREW", "/no/such/pot")
    with Session(engine) as s:
        s.add(Outbox(case_id="C-000001", event_key="manual", kind="test", to_addrs=["x@y.z"]))
        s.commit()

    text = (await api.get("/metrics")).text
    assert _value(text, 'caseloop_intake_requests_total{outcome="opened"}') == 1
    assert _value(text, 'caseloop_intake_requests_total{outcome="duplicate"}') == 1
    assert _value(text, 'caseloop_intake_requests_total{outcome="rejected"}') == 1
    count = "caseloop_http_request_duration_seconds_count"
    assert _value(text, f'{count}{{method="POST",route="/api/v1/cases",status="201"}}') == 1
    assert _value(text, f'{count}{{method="GET",route="/api/v1/cases/{{case_id}}",status="404"}}')
    assert _value(text, f'{count}{{method="GET",route="unmatched",status="404"}}') == 1
    assert "/no/such/page" not in text and "BREW" not in text  # bounded label values
    assert _value(text, f'{count}{{method="OTHER",route="unmatched",status="404"}}') == 1
    assert _value(text, 'caseloop_outbox_unsent{status="pending"}') == 1
    assert _value(text, "caseloop_outbox_oldest_unsent_age_seconds") >= 0
    assert _value(text, "caseloop_projection_pending_cases") == 1
    assert _value(text, "caseloop_projection_oldest_pending_age_seconds") > 0

    # A worker comes: the workflow projects the case and the lag is gone.
    async with running_worker(ts_env.client, engine, settings):

        async def projected() -> bool:
            scrape = (await api.get("/metrics")).text
            return _value(scrape, "caseloop_projection_pending_cases") == 0

        await eventually(projected, within=20, what="the projection lag back to 0")
        await terminate_cases(ts_env, engine)


async def test_metrics_are_for_local_scrapers_and_metrics_tokens(app: Any, engine: Engine) -> None:
    tokens = {
        scope: create_client(engine, f"m-{scope.replace(':', '-')}", [scope]).token
        for scope in ("metrics:read", "cases:read", "admin")
    }
    async with _client(app) as local:
        assert (await local.get("/metrics")).status_code == 200
        # Through a reverse proxy on this host, a visitor is not local.
        proxied = await local.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert proxied.status_code == 401
    async with _client(app, peer="203.0.113.9") as remote:
        refused = await remote.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["field"] == "Authorization"
        wrong = await remote.get("/metrics", headers=bearer(tokens["cases:read"]))
        assert wrong.status_code == 403 and wrong.json()["required_scope"] == "metrics:read"
        for scope in ("metrics:read", "admin"):
            ok = await remote.get("/metrics", headers=bearer(tokens[scope]))
            assert ok.status_code == 200 and "caseloop_http_request_duration_seconds" in ok.text
    # Not part of the API's OpenAPI document.
    async with _client(app) as local:
        assert "/metrics" not in (await local.get("/openapi.json")).json()["paths"]
