"""A program's new SLA through the admin API: `?apply_to=open` moves the open cases' deadlines,
the default (`new`) leaves them; the audit entry records the choice."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from models.audit import AuditEntry
from tests.api.conftest import bearer
from tests.api.test_cases import BODY
from tests.live import eventually

PROGRAM = "/api/v1/config/programs/recovery"


def choices(engine: Engine) -> list[str | None]:
    """The program entries' recorded choice, oldest first."""
    with Session(engine) as s:
        query = select(AuditEntry.apply_to).where(col(AuditEntry.object_kind) == "program")
        return list(s.exec(query.order_by(col(AuditEntry.id))))


async def patch(
    api: httpx.AsyncClient, admin: dict[str, str], change: dict[str, Any], query: str = ""
) -> httpx.Response:
    etag = (await api.get(PROGRAM, headers=admin)).headers["etag"]
    return await api.patch(
        PROGRAM + query,
        json=change,
        headers={**admin, "If-Match": etag, "Content-Type": "application/merge-patch+json"},
    )


async def test_apply_to_open_moves_the_open_cases_and_new_leaves_them(
    api: httpx.AsyncClient, tokens: dict[str, str], engine: Engine
) -> None:
    admin = bearer(tokens["admin"])
    case = (await api.post("/api/v1/cases", json=BODY)).json()
    url = f"/api/v1/cases/{case['id']}"
    due = datetime.fromisoformat(case["resolve_due_at"])
    sla = (await api.get(PROGRAM, headers=admin)).json()["sla"]
    before = len(choices(engine))

    # The default: new cases only. The case keeps its deadline.
    r = await patch(api, admin, {"sla": {**sla, "resolve_within": "P2D"}})
    assert r.status_code == 200, r.text
    assert choices(engine)[before:] == ["new"]
    later = (await api.post("/api/v1/cases", json=BODY)).json()
    assert datetime.fromisoformat(later["resolve_due_at"]) - datetime.fromisoformat(
        later["created_at"]
    ) > timedelta(days=1, hours=23)
    assert datetime.fromisoformat((await api.get(url)).json()["resolve_due_at"]) == due

    # Also the open cases: P2D → P3D adds two days to the case's P1D.
    r = await patch(api, admin, {"sla": {**sla, "resolve_within": "P3D"}}, "?apply_to=open")
    assert r.status_code == 200, r.text
    assert choices(engine)[before:] == ["new", "open"]

    async def moved() -> Any:
        got = (await api.get(url)).json()
        return got if got["timeline"][-1]["kind"] == "deadline_moved" else None

    got = await eventually(moved, within=20, what="the open case's deadline moved")
    # One day used of one: the case had a day left, now three (within the second).
    new_due = datetime.fromisoformat(got["resolve_due_at"])
    assert abs(new_due - due - timedelta(days=2)) < timedelta(seconds=1)
    assert got["timeline"][-1]["summary"].startswith(
        "Deadline moved: program SLA changed (resolve within P2D → P3D)"
    )
    # The later case (opened on P2D) followed too (the fan-out signals one case after another).

    async def later_moved() -> Any:
        got = (await api.get(f"/api/v1/cases/{later['id']}")).json()
        return got if got["resolve_due_at"] != later["resolve_due_at"] else None

    await eventually(later_moved, within=20, what="the later case's deadline moved")

    # A change of no deadline records no choice; a choice that is not one is refused.
    r = await patch(api, admin, {"name": "Guest Recovery 2"}, "?apply_to=open")
    assert r.status_code == 200 and choices(engine)[-1] is None
    r = await patch(api, admin, {"name": "Guest Recovery 3"}, "?apply_to=everyone")
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
