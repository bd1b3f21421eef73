"""Reclassify and reopen through the JSON API: problems for bad input, the case afterwards."""

from __future__ import annotations

import httpx

from tests.api.test_cases import BODY, wait_version


async def test_reclassify_checks_the_taxonomy_and_the_priority(api: httpx.AsyncClient) -> None:
    case_id = (await api.post("/api/v1/cases", json=BODY)).json()["id"]
    await wait_version(api, case_id, 1)
    url = f"/api/v1/cases/{case_id}/reclassify"
    r = await api.post(url, json={"acting_user": "ole", "reason": "x", "priority": "soon"})
    assert r.status_code == 422
    r = await api.post(url, json={"acting_user": "ole", "reason": "x", "priority": "normal"})
    assert r.status_code == 422 and "Nothing would change" in r.json()["detail"]
    r = await api.post(url, json={"acting_user": "fred", "reason": "x", "priority": "high"})
    assert r.status_code == 403 and "read-only" in r.json()["detail"]
    before = (await api.get(f"/api/v1/cases/{case_id}")).json()
    r = await api.post(
        url,
        json={"acting_user": "ole", "reason": "VIP guest", "priority": "urgent"},
        headers={"Idempotency-Key": "r1"},
    )
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["priority"] == "urgent" and case["category"] == "Housekeeping"
    assert case["resolve_due_at"] < before["resolve_due_at"]
    event = case["timeline"][-1]
    assert (event["kind"], event["actor"]) == ("reclassified", "ole")
    # The same key again is the same change: no second event.
    again = await api.post(
        url,
        json={"acting_user": "ole", "reason": "VIP guest", "priority": "urgent"},
        headers={"Idempotency-Key": "r1"},
    )
    assert again.status_code == 200 and again.json()["version"] == case["version"]


async def test_reopen_a_closed_case(api: httpx.AsyncClient) -> None:
    case_id = (await api.post("/api/v1/cases", json=BODY)).json()["id"]
    await wait_version(api, case_id, 1)
    url = f"/api/v1/cases/{case_id}"
    r = await api.post(f"{url}/reopen", json={"acting_user": "ole", "reason": "again"})
    assert r.status_code == 409 and "not closed" in r.json()["detail"]
    close = {
        "acting_user": "ole",
        "closing_status": "unresolved",
        "root_causes": ["staff"],
        "final_note": "Unreachable",
    }
    assert (await api.post(f"{url}/close", json=close)).status_code == 200
    r = await api.post(f"{url}/reopen", json={"acting_user": "alex", "reason": "mine"})
    assert r.status_code == 403
    r = await api.post(f"{url}/reopen", json={"acting_user": "ghost", "reason": "x"})
    assert r.status_code == 422 and r.json()["field"] == "acting_user"
    r = await api.post(f"{url}/reopen", json={"acting_user": "ole", "reason": ""})
    assert r.status_code == 422
    # mia manages the case's unit.
    r = await api.post(
        f"{url}/reopen",
        json={"acting_user": "mia", "reason": "The guest wrote again"},
        headers={"Idempotency-Key": "o1"},
    )
    assert r.status_code == 200, r.text
    case = r.json()
    assert (case["status"], case["reopened_count"]) == ("in_progress", 1)
    assert case["timeline"][-1]["kind"] == "reopened" and case["timeline"][-1]["actor"] == "mia"
    again = await api.post(
        f"{url}/reopen",
        json={"acting_user": "mia", "reason": "The guest wrote again"},
        headers={"Idempotency-Key": "o1"},
    )
    assert again.status_code == 200 and again.json()["version"] == case["version"]
