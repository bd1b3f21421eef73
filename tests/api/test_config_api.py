"""Configuration as data through the admin API: same validation as the YAML loader."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import bearer
from tests.api.test_cases import BODY


@pytest.fixture
def admin(tokens: dict[str, str]) -> dict[str, str]:
    return bearer(tokens["admin"])


async def test_read_the_configuration(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    doc = (await api.get("/api/v1/config", headers=admin)).json()
    assert {p["id"] for p in doc["programs"]} == {"recovery", "central", "central-ll", "blended"}
    assert all(u["password"] is None for u in doc["users"])
    blended = (await api.get("/api/v1/config/programs/blended", headers=admin)).json()
    assert blended["routing_rules"][0]["id"] == "urgent-to-director"
    unit = (await api.get("/api/v1/config/units/4723", headers=admin)).json()
    assert unit["frontline_owner"] == "ole"
    r = await api.get("/api/v1/config/users/nobody", headers=admin)
    assert r.status_code == 404


async def test_write_a_unit_and_a_program(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    unit = (await api.get("/api/v1/config/units/9000", headers=admin)).json()
    r = await api.put(
        "/api/v1/config/units/9000", json={**unit, "frontline_owner": "alex"}, headers=admin
    )
    assert r.status_code == 200 and r.json() == {"users": 0, "units": 1, "programs": 0}
    case = (await api.post("/api/v1/cases", json={**BODY, "unit_id": "9000"})).json()
    assert case["owner_id"] == "alex"

    read = await api.get("/api/v1/config/programs/central", headers=admin)
    program = read.json()
    program["central_team"] = ["mia"]
    r = await api.put(
        "/api/v1/config/programs/central",
        json=program,
        headers={**admin, "If-Match": read.headers["etag"]},
    )
    assert r.status_code == 200, r.text
    case = (await api.post("/api/v1/cases", json={**BODY, "program_id": "central"})).json()
    assert case["owner_id"] == "mia"


@pytest.mark.parametrize(
    ("path", "change", "field"),
    [
        ("units/4723", {"frontline_owner": "ghost"}, "body"),
        ("units/4723", {"timezone": "Mars/Olympus"}, "timezone"),
        ("units/4723", {"id": "4724"}, "id"),
        (
            "programs/recovery",
            {"alert_rules": [{"id": "x", "kind": "low_score", "question": "nope", "at_most": 3}]},
            "alert_rules",
        ),
        ("programs/recovery", {"ownership_model": "corporate", "central_team": []}, "body"),
        ("programs/recovery", {"sla": {"open_within": "soonish"}}, "sla.open_within"),
        ("users/ole", {"manager": "ghost"}, "body"),
    ],
)
async def test_invalid_writes_are_422_and_change_nothing(
    api: httpx.AsyncClient, admin: dict[str, str], path: str, change: dict[str, Any], field: str
) -> None:
    before = (await api.get("/api/v1/config", headers=admin)).json()
    read = await api.get(f"/api/v1/config/{path}", headers=admin)
    current = read.json()
    r = await api.put(
        f"/api/v1/config/{path}",
        json={**current, **change},
        headers={**admin, "If-Match": read.headers["etag"]},
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"].startswith(field) or field == "body"
    assert (await api.get("/api/v1/config", headers=admin)).json() == before


async def test_put_a_whole_document(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    doc = (await api.get("/api/v1/config", headers=admin)).json()
    doc["users"] = [
        {**u, "name": "Ole Nordmann", "password": "a-long-password"} if u["id"] == "ole" else u
        for u in doc["users"]
    ]
    r = await api.put("/api/v1/config", json=doc, headers=admin)
    assert r.status_code == 200, r.text
    user = (await api.get("/api/v1/config/users/ole", headers=admin)).json()
    assert user["name"] == "Ole Nordmann" and user["password"] is None


async def test_body_over_the_limit_is_413(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    big = {**BODY, "verbatim": "x" * (1024 * 1024)}
    r = await api.post("/api/v1/cases", json=big)
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == "body"

    async def chunks() -> Any:  # no Content-Length: a chunked upload
        for _ in range(40):
            yield b"x" * 32_768

    r = await api.post(
        "/api/v1/cases", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    # A chunked body under the limit still works.
    import json

    async def small() -> Any:
        yield json.dumps(BODY).encode()

    r = await api.post(
        "/api/v1/cases", content=small(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 201, r.text


async def test_a_stale_if_match_is_412_and_changes_nothing(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    url = "/api/v1/config/programs/central"
    read = await api.get(url, headers=admin)
    tag, program = read.headers["etag"], read.json()
    # Someone else changes the program after we read it.
    r = await api.patch(
        url,
        json={"name": "Central Care (theirs)"},
        headers={**admin, "If-Match": tag, "Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["etag"] != tag
    before = (await api.get("/api/v1/config", headers=admin)).json()
    for method, body, ctype in (
        ("PUT", {**program, "name": "Ours"}, "application/json"),
        ("PATCH", {"name": "Ours"}, "application/merge-patch+json"),
    ):
        r = await api.request(
            method, url, json=body, headers={**admin, "If-Match": tag, "Content-Type": ctype}
        )
        assert r.status_code == 412, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["field"] == "If-Match"
    assert (await api.get("/api/v1/config", headers=admin)).json() == before
    # Units and users are guarded the same way when the client sends If-Match.
    r = await api.put(
        "/api/v1/config/units/9000",
        json=(await api.get("/api/v1/config/units/9000", headers=admin)).json(),
        headers={**admin, "If-Match": '"not-its-tag"'},
    )
    assert r.status_code == 412, r.text


async def test_a_whole_program_put_needs_a_precondition(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    url = "/api/v1/config/programs/central"
    program = (await api.get(url, headers=admin)).json()
    r = await api.put(url, json={**program, "name": "Blind"}, headers=admin)
    assert r.status_code == 428, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == "If-Match"
    assert (await api.get(url, headers=admin)).json()["name"] == program["name"]
    # A new program: If-None-Match: * creates it, and refuses to replace one that exists.
    new = {**program, "id": "central-2", "name": "Central Two"}
    create = {**admin, "If-None-Match": "*"}
    r = await api.put("/api/v1/config/programs/central-2", json=new, headers=create)
    assert r.status_code == 200, r.text
    fetched = await api.get("/api/v1/config/programs/central-2", headers=admin)
    assert fetched.headers["etag"] == r.headers["etag"]
    r = await api.put("/api/v1/config/programs/central-2", json=new, headers=create)
    assert r.status_code == 412, r.text


async def test_patch_changes_only_the_fields_it_names(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    url = "/api/v1/config/programs/recovery"
    before = (await api.get(url, headers=admin)).json()
    patch = {"sla": {"resolve_within": "P2D"}, "retention_months": 24}
    r = await api.patch(
        url, json=patch, headers={**admin, "Content-Type": "application/merge-patch+json"}
    )
    assert r.status_code == 200, r.text
    after = (await api.get(url, headers=admin)).json()
    assert after["sla"] == {**before["sla"], "resolve_within": "P2D"}
    assert after["retention_months"] == 24
    assert {k: v for k, v in after.items() if k not in patch} == {
        k: v for k, v in before.items() if k not in patch
    }
    # null removes a field (back to its default); an invalid result is a 422 naming the field.
    r = await api.patch(url, json={"retention_months": None}, headers=admin)
    assert r.status_code == 200, r.text
    assert (await api.get(url, headers=admin)).json()["retention_months"] is None
    r = await api.patch(url, json={"sla": {"open_within": "soonish"}}, headers=admin)
    assert r.status_code == 422 and r.json()["field"].startswith("sla.open_within"), r.text
    r = await api.patch(url, json={"id": "other"}, headers=admin)
    assert r.status_code == 422 and r.json()["field"] == "id"
    r = await api.patch("/api/v1/config/programs/nope", json={"name": "x"}, headers=admin)
    assert r.status_code == 404
