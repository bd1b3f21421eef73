"""The audit log: every configuration and permission change, by whom, through what, with a
diff; nothing for a reload that changes nothing; secrets never written down."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from domain.audit import SECRET, Actor
from domain.vocabulary import AuditActor, AuditVia
from models.audit import AuditEntry
from services.audit import AuditFilter, list_entries, restore_program
from tests.api.conftest import bearer

ROOT = Path(__file__).resolve().parents[2]


def entries(engine: Engine, **where: Any) -> list[AuditEntry]:
    with Session(engine) as session:
        query = select(AuditEntry).order_by(col(AuditEntry.id))
        for field, value in where.items():
            query = query.where(getattr(AuditEntry, field) == value)
        return list(session.exec(query).all())


def load_config(url: str, doc: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    done = subprocess.run(
        [sys.executable, "-m", "cli", "load-config", str(path)],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url, "USER": "ops-anna", "LOGNAME": "ops-anna"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


async def test_api_then_cli_changes_are_two_entries_with_actor_channel_and_diff(
    api: httpx.AsyncClient,
    tokens: dict[str, str],
    engine: Engine,
    sqlite_url: str,
    tmp_path: Path,
) -> None:
    admin = bearer(tokens["admin"])
    start = len(entries(engine, object_kind="program", object_id="central"))
    read = await api.get("/api/v1/config/programs/central", headers=admin)
    program = read.json()
    program["central_team"] = ["mia"]
    r = await api.put(
        "/api/v1/config/programs/central",
        json=program,
        headers={**admin, "If-Match": read.headers["ETag"]},
    )
    assert r.status_code == 200, r.text

    doc = (await api.get("/api/v1/config", headers=admin)).json()
    for p in doc["programs"]:
        if p["id"] == "central":
            p["sla"] = {**p["sla"], "resolve_within": "P3D"}
    load_config(sqlite_url, doc, tmp_path)

    found = entries(engine, object_kind="program", object_id="central")[start:]
    assert len(found) == 2
    by_api, by_cli = found
    assert (by_api.actor_kind, by_api.actor_name, by_api.via) == ("client", "admin", "api")
    assert by_api.action == "update"
    assert by_api.diff == [{"field": "central_team", "before": ["alex", "mia"], "after": ["mia"]}]
    assert (by_cli.actor_kind, by_cli.actor_id, by_cli.via) == ("operator", "ops-anna", "cli")
    [change] = by_cli.diff
    assert change["field"] == "sla"
    assert change["before"]["resolve_within"] == "P1D"
    assert change["after"]["resolve_within"] == "P3D"
    assert by_cli.snapshot is not None and by_cli.snapshot["central_team"] == ["mia"]

    # Loading the same file again changes nothing, so records nothing.
    total = len(entries(engine))
    load_config(sqlite_url, doc, tmp_path)
    r = await api.put("/api/v1/config", json=doc, headers=admin)
    assert r.status_code == 200
    assert len(entries(engine)) == total

    page = list_entries(engine, AuditFilter(kind="program", object_id="central", actor="ops-anna"))
    assert [e.id for e in page["rows"]] == [by_cli.id]

    # Restore the version the API wrote: read back through the API, and itself audited.
    admin_page = Actor(AuditActor.USER, "root", "Ada Admin", AuditVia.PAGE)
    restored = restore_program(engine, by_api.id, admin_page)  # type: ignore[arg-type]
    program = (await api.get("/api/v1/config/programs/central", headers=admin)).json()
    assert program["sla"]["resolve_within"] == "P1D" and program["central_team"] == ["mia"]
    assert restored is not None and restored.restored_from == by_api.id
    assert entries(engine, object_id="central")[-1].id == restored.id
    assert restored.diff[0]["field"] == "sla"


async def test_user_changes_are_audited_without_secrets(
    api: httpx.AsyncClient, tokens: dict[str, str], engine: Engine
) -> None:
    admin = bearer(tokens["admin"])
    ole = (await api.get("/api/v1/config/users/ole", headers=admin)).json()
    body = {**ole, "role": "manager", "password": "a-long-new-password"}
    assert (await api.put("/api/v1/config/users/ole", json=body, headers=admin)).status_code == 200
    [entry] = entries(engine, object_kind="user", object_id="ole", action="update")
    fields = {c["field"]: c for c in entry.diff}
    assert set(fields) == {"role", "password_hash"}
    assert fields["role"] == {"field": "role", "before": "agent", "after": "manager"}
    assert fields["password_hash"]["after"] == SECRET
    assert entry.snapshot is not None and entry.snapshot["password_hash"] == SECRET
    assert "argon2" not in str(entry.diff) + str(entry.snapshot)


async def test_api_clients_created_rotated_and_revoked_are_audited(
    api: httpx.AsyncClient, tokens: dict[str, str], engine: Engine
) -> None:
    admin = bearer(tokens["admin"])
    r = await api.post(
        "/api/v1/api-clients", json={"name": "crm", "scopes": ["cases:read"]}, headers=admin
    )
    assert r.status_code == 201
    created = r.json()
    r = await api.post(
        f"/api/v1/api-clients/{created['id']}/rotate", json={"overlap_seconds": 60}, headers=admin
    )
    assert r.status_code == 200
    rotated_token = r.json()["token"]
    assert (
        await api.delete(f"/api/v1/api-clients/{created['id']}", headers=admin)
    ).status_code == 200
    made, rotated, revoked = entries(engine, object_kind="api_client", object_id=str(created["id"]))
    assert (made.action, made.actor_name, made.via) == ("create", "admin", "api")
    changed = {c["field"]: c["after"] for c in made.diff}
    assert changed["name"] == "crm" and changed["scopes"] == ["cases:read"]
    assert (rotated.action, rotated.actor_name) == ("rotate", "admin")
    assert [c["field"] for c in rotated.diff] == ["previous_secret_valid_until"]
    assert revoked.action == "revoke"
    assert [c["field"] for c in revoked.diff] == ["revoked_at"]
    everything = "".join(str(e.diff) + str(e.snapshot) for e in (made, rotated, revoked))
    assert created["token"] not in everything and rotated_token not in everything


async def test_message_templates_changed_through_the_api_are_audited(
    api: httpx.AsyncClient, tokens: dict[str, str], engine: Engine
) -> None:
    admin = bearer(tokens["admin"])
    url = "/api/v1/templates/recovery/alert"
    r = await api.put(url, json={"subject": "ALERT {{ case.id }}"}, headers=admin)
    assert r.status_code == 200, r.text
    rejected = await api.put(url, json={"subject": "{{ settings.x }}"}, headers=admin)
    assert rejected.status_code == 422
    assert (await api.delete(url, headers=admin)).status_code == 200
    changed = [e for e in entries(engine, object_id="recovery") if e.actor_name == "admin"]
    assert [(e.via, [c["field"] for c in e.diff]) for e in changed] == [
        ("api", ["notifications"]),
        ("api", ["notifications"]),
    ]
    assert changed[0].diff[0]["after"]["templates"]["alert"]["subject"] == "ALERT {{ case.id }}"


async def test_the_audit_log_through_the_api(
    api: httpx.AsyncClient, tokens: dict[str, str], engine: Engine
) -> None:
    admin = bearer(tokens["admin"])
    read = await api.get("/api/v1/config/programs/blended", headers=admin)
    program = read.json()
    first = (await api.get("/api/v1/audit", headers=admin, params={"object_id": "blended"})).json()
    r = await api.put(
        "/api/v1/config/programs/blended",
        json={**program, "name": "Blended 2"},
        headers={**admin, "If-Match": read.headers["ETag"]},
    )
    assert r.status_code == 200
    log = (await api.get("/api/v1/audit", headers=admin, params={"object_id": "blended"})).json()
    assert log["total"] == first["total"] + 1
    newest = log["entries"][0]
    assert (newest["actor_name"], newest["via"], newest["action"]) == ("admin", "api", "update")
    assert newest["diff"] == [{"field": "name", "before": "Blended Care", "after": "Blended 2"}]

    earlier = log["entries"][1]["id"]
    r = await api.post(f"/api/v1/audit/{earlier}/restore", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["restored_from"] == earlier and r.json()["action"] == "restore"
    again = (await api.get("/api/v1/config/programs/blended", headers=admin)).json()
    assert again["name"] == "Blended Care"
    assert (await api.post(f"/api/v1/audit/{earlier}/restore", headers=admin)).json() is None

    unit = (await api.get("/api/v1/audit", headers=admin, params={"kind": "unit"})).json()
    r = await api.post(f"/api/v1/audit/{unit['entries'][0]['id']}/restore", headers=admin)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert (await api.post("/api/v1/audit/999999/restore", headers=admin)).status_code == 404
    assert (await api.get("/api/v1/audit", headers=bearer(tokens["rw"]))).status_code == 403
    r = await api.get("/api/v1/audit", headers=admin, params={"since": "yesterday"})
    assert r.status_code == 422
