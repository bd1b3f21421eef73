"""Bearer tokens: missing, wrong, revoked and under-scoped ones are refused; tokens stay secret."""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, select

from api import create_app
from core.settings import Settings
from models.config import ApiClient
from services.tokens import (
    authenticate,
    create_client,
    ensure_bootstrap,
    hash_token,
    list_clients,
    revoke,
    rotate,
)
from tests.api.conftest import bearer
from tests.api.test_cases import BODY


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    return body


async def test_missing_and_wrong_tokens_are_401(api: httpx.AsyncClient) -> None:
    for headers in (
        {"Authorization": ""},
        bearer("clp_not-a-real-token"),
        {"Authorization": "Basic eDp5"},
    ):
        r = await api.get("/api/v1/cases", headers=headers)
        body = problem(r, 401)
        assert body["field"] == "Authorization"
        assert r.headers["www-authenticate"] == "Bearer"


async def test_every_api_route_needs_a_token(app: Any) -> None:
    sample = {"case_id": "C-000001", "customer_id": "1", "client_id": "1"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as anon:
        for path, methods in app.openapi()["paths"].items():
            if not path.startswith("/api/"):
                continue
            # Every path parameter gets a plausible value; new routes need no edit here.
            url = re.sub(r"\{(\w+)\}", lambda m: sample.get(m[1], "x"), path)
            for method in methods:
                r = await anon.request(method.upper(), url, json={})
                assert r.status_code == 401, (method, path, r.status_code)


async def test_revoked_token_is_refused_at_once(
    api: httpx.AsyncClient, engine: Engine, tokens: dict[str, str]
) -> None:
    assert (await api.get("/api/v1/cases", headers=bearer(tokens["reader"]))).status_code == 200
    assert [c.name for c in revoke(engine, "reader")] == ["reader"]
    problem(await api.get("/api/v1/cases", headers=bearer(tokens["reader"])), 401)


@pytest.mark.parametrize(
    ("client", "method", "path", "needed"),
    [
        ("reader", "POST", "/api/v1/cases", "cases:write"),
        ("reports", "GET", "/api/v1/cases", "cases:read"),
        ("writer", "GET", "/api/v1/cases", "cases:read"),
        ("reader", "POST", "/api/v1/survey-responses", "cases:write"),
        ("rw", "GET", "/api/v1/config", "admin"),
        ("rw", "PUT", "/api/v1/config/units/4723", "admin"),
        ("rw", "GET", "/api/v1/api-clients", "admin"),
        ("writer", "GET", "/api/v1/customers/1", "cases:read"),
    ],
)
async def test_under_scoped_tokens_are_403(
    api: httpx.AsyncClient,
    tokens: dict[str, str],
    client: str,
    method: str,
    path: str,
    needed: str,
) -> None:
    r = await api.request(method, path, json=BODY, headers=bearer(tokens[client]))
    body = problem(r, 403)
    assert body["required_scope"] == needed and body["field"] == "Authorization"


async def test_scopes_grant_what_they_say(api: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    r = await api.post("/api/v1/cases", json=BODY, headers=bearer(tokens["writer"]))
    assert r.status_code == 201
    r = await api.get(f"/api/v1/cases/{r.json()['id']}", headers=bearer(tokens["reader"]))
    assert r.status_code == 200
    # admin implies every scope
    assert (await api.get("/api/v1/cases", headers=bearer(tokens["admin"]))).status_code == 200


async def test_tokens_never_logged_nor_shown_again(
    api: httpx.AsyncClient, tokens: dict[str, str], engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = bearer(tokens["admin"])
    r = await api.post(
        "/api/v1/api-clients",
        json={"name": "survey-hook", "scopes": ["cases:write"]},
        headers=admin,
    )
    assert r.status_code == 201
    created = r.json()
    token = created["token"]
    assert token.startswith("clp_") and len(token) > 40
    new = create_client(engine, "cli-made", ["cases:read"])
    # Use the tokens, fail with them, list the clients, revoke one.
    assert (await api.post("/api/v1/cases", json=BODY, headers=bearer(token))).status_code == 201
    assert (await api.get("/api/v1/cases", headers=bearer(token))).status_code == 403
    assert (await api.get("/api/v1/cases", headers=bearer(new.token))).status_code == 200
    listed = await api.get("/api/v1/api-clients", headers=admin)
    r = await api.delete(f"/api/v1/api-clients/{created['id']}", headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False
    assert (await api.get("/api/v1/cases", headers=bearer(token))).status_code == 401
    secrets = [token, new.token, *tokens.values()]
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in listed.text and secret not in r.text
        assert hash_token(secret) not in listed.text
    names = {c["name"] for c in listed.json()}
    assert {"survey-hook", "cli-made", "admin"} <= names
    assert all("token" not in c for c in listed.json())
    # Only hashes are stored.
    with Session(engine) as session:
        stored = {c.token_hash for c in session.exec(select(ApiClient))}
    assert hash_token(token) in stored and token not in stored


async def test_a_client_cannot_revoke_itself(
    api: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    admin = bearer(tokens["admin"])
    me = next(
        c
        for c in (await api.get("/api/v1/api-clients", headers=admin)).json()
        if c["name"] == "admin"
    )
    problem(await api.delete(f"/api/v1/api-clients/{me['id']}", headers=admin), 409)
    problem(await api.delete("/api/v1/api-clients/999999", headers=admin), 404)
    r = await api.post("/api/v1/api-clients", json={"name": "x", "scopes": ["root"]}, headers=admin)
    assert problem(r, 422)["field"] == "scopes"


async def test_bootstrap_token_makes_an_admin_client(
    engine: Engine, settings: Settings, app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "bootstrap-secret-for-the-test-0123456789"
    boot = settings.model_copy(update={"bootstrap_token": SecretStr(secret)})
    booted = create_app(boot, temporal=app.state.temporal, engine=engine)
    async with booted.router.lifespan_context(booted):  # start-up, as uvicorn runs it
        pass
    async with booted.router.lifespan_context(booted):  # a restart changes nothing
        pass
    transport = httpx.ASGITransport(app=booted)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/api/v1/api-clients", headers=bearer(secret))
    assert r.status_code == 200
    assert [c["name"] for c in r.json()].count("bootstrap-admin") == 1
    assert secret not in caplog.text and secret not in r.text
    # Rotated by an admin, the old secret is not made an admin again at start-up.
    (boot_client,) = [c for c in list_clients(engine) if c.name == "bootstrap-admin"]
    assert boot_client.id is not None
    rotated = rotate(engine, boot_client.id)
    assert rotated is not None
    assert ensure_bootstrap(engine, secret) is not None
    assert [c.name for c in list_clients(engine)].count("bootstrap-admin") == 1
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/api/v1/cases", headers=bearer(secret))).status_code == 401
        r = await client.get("/api/v1/cases", headers=bearer(rotated.token))
        assert r.status_code == 200
    # Revoked by an admin, it stays revoked across restarts.
    revoke(engine, "bootstrap-admin")
    assert ensure_bootstrap(engine, secret) is not None
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/api/v1/cases", headers=bearer(secret))).status_code == 401


def test_token_cli_prints_the_token_once(sqlite_url: str, engine: Engine) -> None:
    import os
    import subprocess
    import sys

    from core.settings import ROOT

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli", "token", *args],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": sqlite_url},
            capture_output=True,
            text=True,
            timeout=180,  # seven CLI starts: slow on a busy machine, never hung
        )

    made = cli("create", "--name", "contact-center", "--scope", "cases:write")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()  # stdout holds the token alone: TOKEN=$(... token create ...)
    assert token.startswith("clp_") and "\n" not in token
    with Session(engine) as session:
        (client,) = session.exec(select(ApiClient)).all()
    assert client.token_hash == hash_token(token) and client.scopes == ["cases:write"]
    listed = cli("list")
    assert "contact-center" in listed.stdout and token not in listed.stdout + listed.stderr
    assert cli("create", "--name", "x", "--scope", "root").returncode == 2
    rotated = cli("rotate", str(client.id), "--overlap", "60")
    assert rotated.returncode == 0, rotated.stderr
    new_token = rotated.stdout.strip()
    assert new_token.startswith("clp_") and new_token != token
    with Session(engine) as session:
        assert authenticate(session, token) is not None  # within the overlap
        assert authenticate(session, new_token) is not None
    assert cli("rotate", "999999").returncode == 1
    assert cli("revoke", "contact-center").returncode == 0
    assert cli("revoke", "contact-center").returncode == 1  # nothing active left
    assert "revoked" in cli("list").stdout
