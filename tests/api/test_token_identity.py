"""Who a token is: a personal token acts only as its user; a service client acts for a user only
with `delegate`, within its programs/units, and the timeline names both."""

from __future__ import annotations

import httpx
from sqlalchemy import Engine

from services.tokens import create_client
from tests.api.conftest import bearer
from tests.api.test_auth import problem
from tests.api.test_cases import BODY


async def open_case(api: httpx.AsyncClient, **changes: str) -> str:
    r = await api.post("/api/v1/cases", json={**BODY, **changes})
    assert r.status_code == 201, r.text
    case_id: str = r.json()["id"]
    return case_id


async def test_a_personal_write_token_cannot_act_as_another_user(
    api: httpx.AsyncClient, engine: Engine
) -> None:
    case_id = await open_case(api)  # owned by ole; mia watches with full access
    ole = bearer(create_client(engine, "ole's token", ["cases:write"], user_id="ole").token)
    url = f"/api/v1/cases/{case_id}/notes"
    r = await api.post(url, json={"acting_user": "root", "text": "as the admin"}, headers=ole)
    body = problem(r, 403)
    assert body["field"] == "acting_user" and "ole" in body["detail"]
    r = await api.post(url, json={"acting_user": "mia", "text": "as mia"}, headers=ole)
    problem(r, 403)
    # Its own user, named or not.
    r = await api.post(url, json={"text": "Called the guest"}, headers=ole)
    assert r.status_code == 200, r.text
    r = await api.post(url, json={"acting_user": "ole", "text": "Again"}, headers=ole)
    assert r.status_code == 200, r.text
    notes = [e for e in r.json()["timeline"] if e["kind"] == "note"]
    assert [(e["actor"], e["via"]) for e in notes] == [("ole", None), ("ole", None)]


async def test_a_write_token_without_delegate_cannot_act_for_anyone(
    api: httpx.AsyncClient, engine: Engine
) -> None:
    case_id = await open_case(api)
    plain = bearer(create_client(engine, "plain", ["cases:write"]).token)
    r = await api.post(
        f"/api/v1/cases/{case_id}/notes",
        json={"acting_user": "ole", "text": "x"},
        headers=plain,
    )
    assert problem(r, 403)["field"] == "acting_user"
    r = await api.post(f"/api/v1/cases/{case_id}/notes", json={"text": "x"}, headers=plain)
    assert problem(r, 422)["field"] == "acting_user"


async def test_a_delegate_clients_note_shows_both_names(
    api: httpx.AsyncClient, engine: Engine
) -> None:
    case_id = await open_case(api)
    crm = bearer(
        create_client(
            engine, "CRM connector", ["cases:write", "cases:read", "delegate"], units=["4723"]
        ).token
    )
    url = f"/api/v1/cases/{case_id}/notes"
    r = await api.post(url, json={"acting_user": "ole", "text": "Guest called back"}, headers=crm)
    assert r.status_code == 200, r.text
    (note,) = [e for e in r.json()["timeline"] if e["kind"] == "note"]
    assert note["actor"] == "ole" and note["via"] == "CRM connector"
    # Only for the people of its units: dora (the program's default owner) is not one.
    r = await api.post(url, json={"acting_user": "dora", "text": "x"}, headers=crm)
    assert problem(r, 403)["field"] == "acting_user"
