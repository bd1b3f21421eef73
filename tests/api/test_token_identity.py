"""Who a token is: a personal token acts only as its user; a service client acts for a user only
with `delegate`, within its programs/units, and the timeline names both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Engine
from sqlmodel import Session

from models.config import ApiClient
from services import tokens as tokens_module
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


async def test_a_unit_scoped_read_token_sees_only_its_units_cases(
    api: httpx.AsyncClient, engine: Engine
) -> None:
    harbour = await open_case(api)  # unit 4723
    airport = await open_case(api, unit_id="9000", external_ref="airport-1")
    reader = bearer(create_client(engine, "airport desk", ["cases:read"], units=["9000"]).token)
    body = problem(await api.get(f"/api/v1/cases/{harbour}", headers=reader), 404)
    assert body["title"] == "Case not found"
    r = await api.get(f"/api/v1/cases/{airport}", headers=reader)
    assert r.status_code == 200 and r.json()["unit_id"] == "9000"
    assert r.json()["earlier_cases"] == []  # the same guest's harbour case is not shown
    listed = await api.get("/api/v1/cases", headers=reader)
    assert [c["id"] for c in listed.json()["items"]] == [airport]
    # Asking for the other unit by filter finds nothing either.
    listed = await api.get("/api/v1/cases", params={"unit": "4723"}, headers=reader)
    assert listed.json()["items"] == []
    # The customer shows only the unit's cases.
    customer_id = (await api.get(f"/api/v1/cases/{harbour}")).json()["customer_id"]
    r = await api.get(f"/api/v1/customers/{customer_id}", headers=reader)
    assert r.status_code == 200, r.text
    assert [c["id"] for c in r.json()["cases"]] == [airport]


async def test_a_unit_scoped_write_token_writes_only_in_its_units(
    api: httpx.AsyncClient, engine: Engine
) -> None:
    harbour = await open_case(api)
    writer = bearer(
        create_client(engine, "airport crm", ["cases:write", "delegate"], units=["9000"]).token
    )
    r = await api.post(
        f"/api/v1/cases/{harbour}/notes", json={"acting_user": "ole", "text": "x"}, headers=writer
    )
    problem(r, 404)
    r = await api.post("/api/v1/cases", json=BODY, headers=writer)
    assert problem(r, 403)["field"] == "unit_id"
    r = await api.post(
        "/api/v1/cases", json={**BODY, "unit_id": "9000", "external_ref": "a-2"}, headers=writer
    )
    assert r.status_code == 201, r.text


async def test_expired_tokens_are_401(api: httpx.AsyncClient, engine: Engine) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    old = bearer(create_client(engine, "old", ["cases:read"], expires_at=past).token)
    assert problem(await api.get("/api/v1/cases", headers=old), 401)["field"] == "Authorization"
    soon = datetime.now(UTC) + timedelta(hours=1)
    fresh = bearer(create_client(engine, "fresh", ["cases:read"], expires_at=soon).token)
    assert (await api.get("/api/v1/cases", headers=fresh)).status_code == 200


async def test_rotation_keeps_the_old_secret_for_the_overlap_only(
    api: httpx.AsyncClient, engine: Engine, tokens: dict[str, str]
) -> None:
    admin = bearer(tokens["admin"])
    made = await api.post(
        "/api/v1/api-clients", json={"name": "crm", "scopes": ["cases:read"]}, headers=admin
    )
    assert made.status_code == 201, made.text
    first, client_id = made.json()["token"], made.json()["id"]
    r = await api.post(
        f"/api/v1/api-clients/{client_id}/rotate", json={"overlap_seconds": 3600}, headers=admin
    )
    assert r.status_code == 200, r.text
    second = r.json()["token"]
    assert second != first and r.json()["previous_valid_until"] is not None
    for token in (first, second):  # both work during the overlap
        assert (await api.get("/api/v1/cases", headers=bearer(token))).status_code == 200
    r = await api.post(f"/api/v1/api-clients/{client_id}/rotate", headers=admin)  # no overlap
    third = r.json()["token"]
    for token in (first, second):
        problem(await api.get("/api/v1/cases", headers=bearer(token)), 401)
    assert (await api.get("/api/v1/cases", headers=bearer(third))).status_code == 200
    problem(await api.post("/api/v1/api-clients/999999/rotate", headers=admin), 404)


async def test_last_use_is_recorded_at_most_once_a_minute(
    api: httpx.AsyncClient, engine: Engine
) -> None:
    new = create_client(engine, "counted", ["cases:read"])
    assert new.client.last_used_at is None
    assert (await api.get("/api/v1/cases", headers=bearer(new.token))).status_code == 200

    def last_used() -> datetime | None:
        with Session(engine) as session:
            found = session.get(ApiClient, new.client.id)
            assert found is not None
            return found.last_used_at

    first = last_used()
    assert first is not None and datetime.now(UTC) - first < timedelta(minutes=1)
    tokens_module._recent.clear()  # the next request goes to the database again
    assert (await api.get("/api/v1/cases", headers=bearer(new.token))).status_code == 200
    assert last_used() == first  # not written again within the minute
    with Session(engine) as session:  # a minute later it is
        found = session.get(ApiClient, new.client.id)
        assert found is not None
        found.last_used_at = first - timedelta(minutes=2)
        session.add(found)
        session.commit()
    tokens_module._recent.clear()
    assert (await api.get("/api/v1/cases", headers=bearer(new.token))).status_code == 200
    assert (later := last_used()) is not None and later > first


async def test_a_personal_read_token_sees_what_its_user_sees(
    api: httpx.AsyncClient, engine: Engine
) -> None:
    mine = await open_case(api)  # ole owns it
    other = await open_case(api, unit_id="9000", external_ref="airport-9")  # not ole's
    ole = bearer(create_client(engine, "ole reads", ["cases:read"], user_id="ole").token)
    assert (await api.get(f"/api/v1/cases/{mine}", headers=ole)).status_code == 200
    problem(await api.get(f"/api/v1/cases/{other}", headers=ole), 404)
    listed = (await api.get("/api/v1/cases", headers=ole)).json()
    assert [c["id"] for c in listed["items"]] == [mine]
