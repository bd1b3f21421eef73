"""Fixtures for the JSON API tests: the real app over ASGI, a real worker, scoped tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from domain.program import ConfigDoc
from services.configuration import apply_config
from services.tokens import create_client
from tests.conftest import terminate_cases
from tests.factories import FYI_RULES, LTR_QUESTION, SUGGESTION_QUESTION, config

# Who gets which scopes; every test module can ask for any of these tokens.
CLIENTS: dict[str, list[str]] = {
    "admin": ["admin"],
    "rw": ["cases:write", "cases:read", "delegate"],
    "writer": ["cases:write", "delegate"],
    "reader": ["cases:read"],
    "reports": ["reports:read"],
}

QUESTIONS = [
    {"id": "concern", "text": "Did you have a concern during your stay?", "type": "yes_no"},
    {"id": "concern_text", "text": "Tell us what happened", "type": "text"},
    LTR_QUESTION,
    {"id": "clean", "text": "Cleanliness of your room", "type": "score", "min": 1, "max": 5},
    SUGGESTION_QUESTION,
]
ALERT_RULES = [
    {"id": "concern-yes", "kind": "concern", "question": "concern", "explanation": "concern_text"},
    {"id": "ltr-low", "kind": "low_score", "question": "ltr", "at_most": 6},
    {
        "id": "clean-low",
        "kind": "low_score",
        "question": "clean",
        "at_most": 2,
        "priority": "high",
        "category": "Housekeeping",
    },
    *FYI_RULES,
]
ROUTING_RULES = [
    {"id": "urgent-to-director", "priorities": ["urgent"], "route_to": "user", "user": "dora"},
    {"id": "social-central", "channels": ["social_media", "chat"], "route_to": "corporate"},
    {
        "id": "calls-to-mia",
        "channels": ["contact_center", "phone"],
        "route_to": "user",
        "user": "mia",
    },
    {
        "id": "digital-suggestions",
        "channels": ["web_form", "email", "digital_contact_card"],
        "feedback_types": ["suggestion"],
        "route_to": "user",
        "user": "alex",
    },
    {"id": "billing-central", "categories": ["Billing"], "route_to": "corporate"},
]


def api_config() -> ConfigDoc:
    """The factories' field program with survey rules, plus corporate and blended programs."""
    doc = config(questions=QUESTIONS, alert_rules=ALERT_RULES).model_dump(mode="json")
    base = doc["programs"][0]
    doc["units"].append({"id": "9000", "name": "Bergen Airport", "timezone": "Europe/Oslo"})
    doc["programs"] += [
        {
            **base,
            "id": "central",
            "name": "Central Care",
            "ownership_model": "corporate",
            "central_team": ["alex", "mia"],
        },
        {
            **base,
            "id": "central-ll",
            "name": "Central Care (least loaded)",
            "ownership_model": "corporate",
            "central_team": ["alex", "mia"],
            "team_assignment": "least_loaded",
        },
        {
            **base,
            "id": "blended",
            "name": "Blended Care",
            "ownership_model": "blended",
            "central_team": ["alex", "mia"],
            "routing_rules": ROUTING_RULES,
        },
    ]
    return ConfigDoc.model_validate(doc)


@pytest.fixture
def tokens(engine: Engine) -> dict[str, str]:
    return {name: create_client(engine, name, scopes).token for name, scopes in CLIENTS.items()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def app(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> AsyncIterator[Any]:
    """The real app with a real worker on the time-skipping server and SQLite."""
    from api import create_app
    from tests.factories import running_worker

    apply_config(engine, api_config())
    app = create_app(settings, temporal=ts_env.client, engine=engine)
    async with running_worker(ts_env.client, engine, settings):
        yield app
        await terminate_cases(ts_env, engine)


@pytest.fixture
async def api(app: Any, tokens: dict[str, str]) -> AsyncIterator[Any]:
    """An HTTP client holding a cases:write + cases:read token (other tokens: `tokens`)."""
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=bearer(tokens["rw"])
    ) as client:
        yield client
