"""Waiting on the customer through the JSON API: pause and resume, idempotent by key."""

from __future__ import annotations

import httpx

from tests.api.test_cases import BODY


async def test_pause_and_resume_a_case(api: httpx.AsyncClient) -> None:
    case_id = (await api.post("/api/v1/cases", json=BODY)).json()["id"]
    url = f"/api/v1/cases/{case_id}"
    r = await api.post(f"{url}/resume", json={"acting_user": "ole"})
    assert r.status_code == 409 and "not waiting" in r.json()["detail"]
    r = await api.post(f"{url}/pause", json={"acting_user": "ole", "note": ""})
    assert r.status_code == 422 and r.json()["field"] == "note"
    r = await api.post(f"{url}/pause", json={"acting_user": "fred", "note": "Asked for photos"})
    assert r.status_code == 403
    pause = {"acting_user": "ole", "note": "Asked for photos"}
    r = await api.post(f"{url}/pause", json=pause, headers={"Idempotency-Key": "p1"})
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["paused_since"] and case["pause_resumes_at"]
    assert case["timeline"][-1]["kind"] == "paused"
    # The same key again is the same pause: no error, no second event.
    r = await api.post(f"{url}/pause", json=pause, headers={"Idempotency-Key": "p1"})
    assert r.status_code == 200
    assert [e["kind"] for e in r.json()["timeline"]].count("paused") == 1
    # Another pause while waiting is a conflict.
    r = await api.post(f"{url}/pause", json={**pause, "note": "again"})
    assert r.status_code == 409
    r = await api.post(
        f"{url}/resume",
        json={"acting_user": "ole", "note": "Photos arrived"},
        headers={"Idempotency-Key": "r1"},
    )
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["paused_since"] is None and case["pause_resumes_at"] is None
    assert case["timeline"][-1]["kind"] == "resumed"
    r = await api.post(
        f"{url}/resume",
        json={"acting_user": "ole", "note": "Photos arrived"},
        headers={"Idempotency-Key": "r1"},
    )
    assert r.status_code == 200
    assert [e["kind"] for e in r.json()["timeline"]].count("resumed") == 1
