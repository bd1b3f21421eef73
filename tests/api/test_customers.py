"""Customers: found or created at intake; their cases; a case lists the earlier ones."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, select

from models.case import CustomerMerge
from models.intake import SurveyResponse
from tests.api.conftest import bearer
from tests.api.test_cases import BODY, wait_version


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
    found = (await api.get("/api/v1/cases", params={"q": "bob@example.com"})).json()
    assert [c["id"] for c in found["items"]] == [bob["id"]]
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


async def test_merge_moves_cases_and_is_recorded(
    api: httpx.AsyncClient, engine: Engine, tokens: dict[str, str]
) -> None:
    admin = bearer(tokens["admin"])
    ann = await open_for(api, ANN)
    # Same person, new address: a phone-only match is not enough, so a second record.
    moved = await open_for(api, {**ANN, "email": "ann.berg@example.com"})
    keep, gone = ann["customer_id"], moved["customer_id"]
    assert keep != gone

    url = f"/api/v1/customers/{keep}/merge"
    r = await api.post(url, json={"merged_id": gone, "note": "same guest"}, headers=admin)
    assert r.status_code == 200, r.text
    merge = r.json()
    assert (merge["customer_id"], merge["merged_id"], merge["case_ids"]) == (
        keep,
        gone,
        [moved["id"]],
    )
    assert merge["merged_by"] == "admin" and merge["replayed"] is False

    profile = (await api.get(f"/api/v1/customers/{keep}")).json()
    assert [c["id"] for c in profile["cases"]] == [moved["id"], ann["id"]]
    old = (await api.get(f"/api/v1/customers/{gone}")).json()
    assert (old["merged_into"], old["cases"]) == (keep, [])
    # The moved case keeps its own contact; its earlier cases are the survivor's.
    detail = (await api.get(f"/api/v1/cases/{moved['id']}")).json()
    assert detail["contact"]["email"] == "ann.berg@example.com"
    assert [c["id"] for c in detail["earlier_cases"]] == [ann["id"]]

    # The workflow's next projection does not move the case back.
    r = await api.post(
        f"/api/v1/cases/{moved['id']}/notes", json={"acting_user": "ole", "text": "x"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["customer_id"] == keep
    assert (await wait_version(api, moved["id"], r.json()["version"]))["customer_id"] == keep
    # The merged record's address now leads to the survivor.
    later = await open_for(api, {"email": "ann.berg@example.com"})
    assert later["customer_id"] == keep and later["contact"]["name"] == "Ann Berg"

    # Again: the same answer, nothing done twice.
    r = await api.post(url, json={"merged_id": gone, "note": "same guest"}, headers=admin)
    assert r.status_code == 200 and r.json()["id"] == merge["id"] and r.json()["replayed"]
    with Session(engine) as s:
        [row] = s.exec(select(CustomerMerge)).all()
        assert (row.customer_id, row.merged_id, row.case_ids) == (keep, gone, [moved["id"]])
        assert row.merged_by == "admin" and row.note == "same guest"


async def test_merge_refuses_bad_input_with_problems(
    api: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    admin = bearer(tokens["admin"])
    a = (await open_for(api, ANN))["customer_id"]
    b = (await open_for(api, {"name": "Bob Dahl", "email": "bob@example.com"}))["customer_id"]
    c = (await open_for(api, {"name": "Cay Eik", "email": "cay@example.com"}))["customer_id"]

    async def merge(into: int | str, body: Any, headers: dict[str, str] = admin) -> httpx.Response:
        r = await api.post(f"/api/v1/customers/{into}/merge", json=body, headers=headers)
        assert r.headers["content-type"].startswith(
            "application/problem+json" if r.status_code >= 400 else "application/json"
        ), r.text
        return r

    r = await merge(a, {"merged_id": b})
    assert r.status_code == 200
    for headers, status in ((bearer(tokens["rw"]), 403), (bearer("not-a-token"), 401)):
        r = await api.post(f"/api/v1/customers/{a}/merge", json={"merged_id": c}, headers=headers)
        assert r.status_code == status and r.json()["field"] == "Authorization"
    problems = [
        (a, {"merged_id": a}, 422, "merged_id"),  # itself
        (a, {}, 422, "merged_id"),
        (a, {"merged_id": "b"}, 422, "merged_id"),
        (a, {"merged_id": c, "extra": 1}, 422, "extra"),
        (a, {"merged_id": c, "note": "x" * 501}, 422, "note"),
        (a, {"merged_id": 999_999}, 422, "merged_id"),  # no such record
        (999_999, {"merged_id": c}, 404, "customer_id"),
        (0, {"merged_id": c}, 422, "customer_id"),
        (b, {"merged_id": c}, 409, "customer_id"),  # b lives on as a
        (c, {"merged_id": b}, 409, "merged_id"),  # b was merged into a already
    ]
    for into, body, status, field in problems:
        r = await merge(into, body)
        assert (r.status_code, r.json()["field"]) == (status, field), (into, body, r.text)
        assert r.json()["detail"]
    # Nothing was half done: c is untouched.
    assert (await api.get(f"/api/v1/customers/{c}")).json()["merged_into"] is None


async def test_merge_is_documented_in_the_openapi_schema(api: httpx.AsyncClient) -> None:
    doc = (await api.get("/openapi.json")).json()
    op = doc["paths"]["/api/v1/customers/{customer_id}/merge"]["post"]
    assert {"200", "401", "403", "404", "409", "422"} <= set(op["responses"])
    assert "admin" in op["description"].lower()
