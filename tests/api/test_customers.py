"""Customers: found or created at intake; their cases; a case lists the earlier ones."""

from __future__ import annotations

import httpx

from tests.api.test_cases import BODY


async def test_customer_is_matched_and_lists_cases(api: httpx.AsyncClient) -> None:
    first = (await api.post("/api/v1/cases", json=BODY)).json()
    # Same email, no phone, other name spelling: the same customer.
    second = (
        await api.post(
            "/api/v1/cases",
            json={**BODY, "customer": {"name": "K. Nordmann", "email": "KARI@example.com"}},
        )
    ).json()
    # Matched on the phone only.
    third = (
        await api.post("/api/v1/cases", json={**BODY, "customer": {"phone": "+4755501234"}})
    ).json()
    other = (
        await api.post("/api/v1/cases", json={**BODY, "customer": {"email": "ola@example.com"}})
    ).json()
    assert first["customer_id"] == second["customer_id"] == third["customer_id"]
    assert other["customer_id"] != first["customer_id"]

    r = await api.get(f"/api/v1/customers/{first['customer_id']}")
    assert r.status_code == 200
    customer = r.json()
    assert customer["name"] == "Kari Nordmann" and customer["email"] == "kari@example.com"
    assert [c["id"] for c in customer["cases"]] == [third["id"], second["id"], first["id"]]
    assert customer["cases"][0]["links"]["self"] == f"/api/v1/cases/{third['id']}"

    detail = (await api.get(f"/api/v1/cases/{third['id']}")).json()
    assert [c["id"] for c in detail["earlier_cases"]] == [second["id"], first["id"]]
    assert (await api.get(f"/api/v1/cases/{first['id']}")).json()["earlier_cases"] == []


async def test_external_ref_matches_first(api: httpx.AsyncClient) -> None:
    a = (
        await api.post(
            "/api/v1/cases",
            json={**BODY, "customer": {"external_ref": "CRM-7", "email": "a@example.com"}},
        )
    ).json()
    b = (
        await api.post(
            "/api/v1/cases",
            json={**BODY, "customer": {"external_ref": "CRM-7", "email": "b@example.com"}},
        )
    ).json()
    assert a["customer_id"] == b["customer_id"]


async def test_unknown_customer_is_404(api: httpx.AsyncClient) -> None:
    r = await api.get("/api/v1/customers/424242")
    assert r.status_code == 404 and r.json()["field"] == "customer_id"
    r = await api.get("/api/v1/customers/0")
    assert r.status_code == 422 and r.json()["field"] == "customer_id"
