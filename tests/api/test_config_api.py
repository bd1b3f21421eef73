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

    program = (await api.get("/api/v1/config/programs/central", headers=admin)).json()
    program["central_team"] = ["mia"]
    assert (
        await api.put("/api/v1/config/programs/central", json=program, headers=admin)
    ).status_code == 200
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
    current = (await api.get(f"/api/v1/config/{path}", headers=admin)).json()
    r = await api.put(f"/api/v1/config/{path}", json={**current, **change}, headers=admin)
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
