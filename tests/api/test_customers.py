"""Customers: found or created at intake; their cases; a case lists the earlier ones."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, select

from models.intake import SurveyResponse
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


# ---------------------------------------------------------------- identity (issue 14)

ANN = {"name": "Ann Berg", "email": "ann@example.com", "phone": "+47 555 00 001"}


async def open_for(api: httpx.AsyncClient, customer: dict[str, Any], **body: Any) -> dict[str, Any]:
    r = await api.post("/api/v1/cases", json={**BODY, "customer": customer, **body})
    assert r.status_code == 201, r.text
    case: dict[str, Any] = r.json()
    return case


async def test_shared_phone_with_another_email_is_another_customer(
    api: httpx.AsyncClient,
) -> None:
    ann = await open_for(api, ANN)
    bob = await open_for(api, {**ANN, "name": "Bob Dahl", "email": "bob@example.com"})
    assert bob["customer_id"] != ann["customer_id"]
    assert bob["customer_name"] == "Bob Dahl"
    assert bob["contact"] == {
        "name": "Bob Dahl",
        "email": "bob@example.com",
        "phone": "+4755500001",
    }
    detail = (await api.get(f"/api/v1/cases/{bob['id']}")).json()
    assert detail["contact"]["email"] == "bob@example.com" and detail["earlier_cases"] == []
    # Ann's record is untouched by Bob's contact.
    profile = (await api.get(f"/api/v1/customers/{ann['customer_id']}")).json()
    assert (profile["name"], profile["email"]) == ("Ann Berg", "ann@example.com")
    assert [c["id"] for c in profile["cases"]] == [ann["id"]]


async def test_email_match_with_another_phone_is_the_same_customer(api: httpx.AsyncClient) -> None:
    first = await open_for(api, ANN)
    second = await open_for(api, {"name": "A. Berg", "email": "ANN@example.com", "phone": "+4799"})
    assert second["customer_id"] == first["customer_id"]
    # The case keeps the contact it was given; the profile keeps its own phone.
    assert second["contact"] == {"name": "A. Berg", "email": "ann@example.com", "phone": "+4799"}
    profile = (await api.get(f"/api/v1/customers/{first['customer_id']}")).json()
    assert (profile["name"], profile["phone"]) == ("Ann Berg", "+4755500001")
    detail = (await api.get(f"/api/v1/cases/{second['id']}")).json()
    assert [c["id"] for c in detail["earlier_cases"]] == [first["id"]]


async def test_survey_return_from_a_shared_phone_is_its_own_customer(
    api: httpx.AsyncClient, engine: Engine
) -> None:
    ann = await open_for(api, ANN)
    r = await api.post(
        "/api/v1/survey-responses",
        json={
            "program_id": "recovery",
            "unit_id": "4723",
            "response_id": "R-shared-phone",
            "customer": {"name": "Bob Dahl", "email": "bob@example.com", "phone": ANN["phone"]},
            "answers": {"concern": "yes", "concern_text": "Cold shower"},
        },
    )
    assert r.status_code == 201, r.text
    case = (await api.get(f"/api/v1/cases/{r.json()['case_id']}")).json()
    assert case["customer_id"] != ann["customer_id"]
    assert case["contact"]["email"] == "bob@example.com"
    with Session(engine) as s:
        response = s.exec(select(SurveyResponse)).one()
        assert response.customer_id == case["customer_id"]
