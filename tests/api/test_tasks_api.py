"""Tasks on a case through the JSON API (issue 18): add, list, tick, untick; who may."""

from __future__ import annotations

import httpx

from tests.api.test_cases import BODY


async def test_tasks_through_the_api(api: httpx.AsyncClient) -> None:
    case_id = (await api.post("/api/v1/cases", json=BODY)).json()["id"]
    url = f"/api/v1/cases/{case_id}/tasks"
    task = {"acting_user": "ole", "title": "Call back", "assignee_id": "ole"}
    # Only someone who may see the case is given a task; the due time must be one.
    r = await api.post(url, json={**task, "assignee_id": "alex"})
    assert r.status_code == 422 and r.json()["field"] == "assignee_id"
    r = await api.post(url, json={**task, "due_in": "soon"})
    assert r.status_code == 422 and r.json()["field"] == "due_in"
    # Only someone who may act on the case adds one.
    r = await api.post(url, json={**task, "acting_user": "alex"})
    assert r.status_code == 403
    assert (await api.get(url)).json()["items"] == []

    r = await api.post(
        url, json={**task, "due_in": "8 business hours"}, headers={"Idempotency-Key": "t1"}
    )
    assert r.status_code == 200, r.text
    [item] = r.json()["items"]
    assert item["task_id"] == "1" and item["is_open"] and item["assignee_id"] == "ole"
    assert item["created_at"] < item["remind_at"] < item["due_at"]
    # The same key again is the same task.
    r = await api.post(
        url, json={**task, "due_in": "8 business hours"}, headers={"Idempotency-Key": "t1"}
    )
    assert len(r.json()["items"]) == 1

    r = await api.post(f"{url}/1/done", json={"acting_user": "alex"})
    assert r.status_code == 403
    r = await api.post(f"{url}/1/done", json={"acting_user": "ole"})
    assert r.status_code == 200, r.text
    [item] = r.json()["items"]
    assert not item["is_open"] and item["done_by"] == "ole" and item["done_at"]
    r = await api.post(f"{url}/1/done", json={"acting_user": "ole"})
    assert r.status_code == 409
    r = await api.post(f"{url}/1/undone", json={"acting_user": "ole"})
    assert r.status_code == 200 and r.json()["items"][0]["is_open"]
    r = await api.post(f"{url}/7/done", json={"acting_user": "ole"})
    assert r.status_code == 422 and "No task 7" in r.json()["detail"]

    listed = (await api.get(url)).json()
    assert listed["case_id"] == case_id and [t["title"] for t in listed["items"]] == ["Call back"]
    kinds = [e["kind"] for e in (await api.get(f"/api/v1/cases/{case_id}")).json()["timeline"]]
    assert kinds[-3:] == ["task_added", "task_done", "task_reopened"]
