"""Each channel is routed as the program's rules say; corporate teams; default-owner fallback."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from models.case import Case, CaseIntake
from tests.api.test_cases import BODY, wait_version
from workflows.case import CaseWorkflow

# channel -> (owner, rule that decides) in the "blended" program of tests/api/conftest.py
EXPECTED = {
    "contact_center": ("mia", "calls-to-mia"),
    "phone": ("mia", "calls-to-mia"),
    "social_media": ("alex", "social-central"),  # round-robin: first turn
    "chat": ("alex", "social-central"),
    "web_form": ("alex", "digital-suggestions"),
    "email": ("alex", "digital-suggestions"),
    "digital_contact_card": ("alex", "digital-suggestions"),
    "location_survey": ("ole", None),  # no rule: the field model
}


@pytest.mark.parametrize("channel", sorted(EXPECTED))
async def test_each_channel_is_routed_by_its_rule(api: httpx.AsyncClient, channel: str) -> None:
    body = {**BODY, "program_id": "blended", "channel": channel, "feedback_type": "suggestion"}
    r = await api.post("/api/v1/cases", json=body)
    assert r.status_code == 201, r.text
    owner, rule = EXPECTED[channel]
    case = r.json()
    assert case["owner_id"] == owner
    opened = (await wait_version(api, case["id"], 1))["timeline"][0]
    assert opened["kind"] == "opened" and opened["data"]["owner"] == owner
    routing = opened["data"]["routing"]
    if rule:
        assert f"blended rule {rule!r}" in routing
    else:
        assert routing.startswith("blended: no rule matched, field model")
        assert {w["user_id"] for w in case["watchers"]} == {"mia", "fred"}


async def test_rules_on_type_category_and_priority(api: httpx.AsyncClient) -> None:
    base = {**BODY, "program_id": "blended", "channel": "email"}

    async def owner(**extra: Any) -> tuple[str, str]:
        r = await api.post("/api/v1/cases", json={**base, **extra})
        assert r.status_code == 201, r.text
        case = await wait_version(api, r.json()["id"], 1)
        return case["owner_id"], case["timeline"][0]["data"]["routing"]

    # a complaint by email matches no channel rule -> field owner
    assert (await owner())[0] == "ole"
    # urgent comes first, whatever the channel
    who, why = await owner(priority="urgent", feedback_type="suggestion")
    assert who == "dora" and "urgent-to-director" in why
    # category match is case-insensitive
    who, why = await owner(category="billing")
    assert who == "alex" and "billing-central" in why


async def test_corporate_round_robin(api: httpx.AsyncClient) -> None:
    owners = []
    for _ in range(4):
        r = await api.post("/api/v1/cases", json={**BODY, "program_id": "central"})
        assert r.status_code == 201, r.text
        owners.append(r.json()["owner_id"])
        assert {(w["user_id"], w["access"]) for w in r.json()["watchers"]} == {
            ("mia", "limited")
        } - {(r.json()["owner_id"], "limited")}
    assert owners == ["alex", "mia", "alex", "mia"]


async def test_corporate_least_loaded(api: httpx.AsyncClient) -> None:
    # The team is alex, mia; each new case goes to whoever has fewer open cases.
    owners = []
    for _ in range(3):
        r = await api.post("/api/v1/cases", json={**BODY, "program_id": "central-ll"})
        owners.append(r.json()["owner_id"])
    # alex (0) -> mia (0 vs 1) -> alex: ties go to the team's order
    assert owners == ["alex", "mia", "alex"]
    r = await api.post("/api/v1/cases", json={**BODY, "program_id": "central-ll"})
    assert (
        "least-loaded"
        in (await wait_version(api, r.json()["id"], 1))["timeline"][0]["data"]["routing"]
    )


async def test_unit_without_owner_falls_back_to_program_default(api: httpx.AsyncClient) -> None:
    r = await api.post("/api/v1/cases", json={**BODY, "unit_id": "9000"})
    assert r.status_code == 201, r.text
    assert r.json()["owner_id"] == "dora"
    case = await wait_version(api, r.json()["id"], 1)
    assert "has no owner, program default owner" in case["timeline"][0]["data"]["routing"]


async def test_twenty_racing_posts_make_one_case_and_one_workflow(
    api: httpx.AsyncClient, engine: Engine, ts_env: WorkflowEnvironment
) -> None:
    body = {**BODY, "channel": "social_media", "external_ref": "tweet-42"}
    results = await asyncio.gather(*(api.post("/api/v1/cases", json=body) for _ in range(20)))
    assert sorted(r.status_code for r in results) == [200] * 19 + [201]
    (case_id,) = {r.json()["id"] for r in results}
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(CaseIntake)).one() == 1
        assert session.exec(select(func.count()).select_from(Case)).one() == 1
    # One case number was allocated, so one workflow id; and that workflow opened once.
    await wait_version(api, case_id, 1)
    handle = ts_env.client.get_workflow_handle_for(CaseWorkflow.run, case_id)
    state = await handle.query(CaseWorkflow.state)
    assert [e.kind for e in state.timeline].count("opened") == 1
