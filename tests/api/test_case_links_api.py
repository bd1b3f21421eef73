"""Related and merged cases through the JSON API (issue 18): relate, list, unrelate, merge,
unmerge; refusals as problems; every write idempotent under retry."""

from __future__ import annotations

import httpx

from tests.api.test_cases import BODY


async def test_related_and_merged_cases_through_the_api(api: httpx.AsyncClient) -> None:
    first = (await api.post("/api/v1/cases", json=BODY)).json()["id"]
    second = (await api.post("/api/v1/cases", json=BODY)).json()["id"]
    links = f"/api/v1/cases/{first}/links"
    ole = {"acting_user": "ole"}

    r = await api.post(links, json={**ole, "other_id": "C-999999"})
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    r = await api.post(links, json={**ole, "other_id": first})
    assert r.status_code == 422 and r.json()["field"] == "other_id"
    r = await api.post(links, json={"acting_user": "alex", "other_id": second})
    assert r.status_code in (403, 404)
    for _ in range(2):  # a retry relates nothing twice
        r = await api.post(links, json={**ole, "other_id": second})
        assert r.status_code == 200, r.text
        assert r.json()["related"] == [second]
    assert (await api.get(f"/api/v1/cases/{second}/links")).json()["related"] == [first]
    for _ in range(2):
        r = await api.delete(f"{links}/{second}", params=ole)
        assert r.status_code == 200 and r.json()["related"] == []

    merge = f"/api/v1/cases/{second}/merge"
    r = await api.post(merge, json={**ole, "primary_id": second})
    assert r.status_code == 422
    r = await api.post(merge, json={"acting_user": "nobody", "primary_id": first})
    assert 400 <= r.status_code < 500 and r.headers["content-type"] == "application/problem+json"
    for _ in range(2):  # the same merge again repeats nothing
        r = await api.post(merge, json={**ole, "primary_id": first})
        assert r.status_code == 200, r.text
        assert r.json() == {
            "case_id": first,
            "related": [],
            "merged": [second],
            "merged_into": None,
            "reversible": False,
            "pending": False,
        }
    dup = (await api.get(f"/api/v1/cases/{second}/links")).json()
    assert dup["merged_into"] == first and dup["reversible"] and not dup["pending"]
    timeline = (await api.get(f"/api/v1/cases/{first}")).json()["timeline"]
    assert [e["kind"] for e in timeline].count("merged_from") == 1

    unmerge = f"/api/v1/cases/{second}/unmerge"
    r = await api.post(unmerge, json={"acting_user": "alex"})
    assert r.status_code in (403, 404)
    for _ in range(2):  # taken out once; the retry answers with the links as they are
        r = await api.post(unmerge, json=ole)
        assert r.status_code == 200, r.text
        assert r.json()["merged_into"] is None
    assert (await api.get(links)).json()["merged"] == []
    assert (await api.get(f"/api/v1/cases/{second}")).json()["status"] != "closed"
