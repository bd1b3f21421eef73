"""The codec server (/codec/encode, /codec/decode) and what Temporal holds of a case.

Temporal holds the customer's data encrypted only: the history is ciphertext, and workflow ids,
search attributes, summaries and memo carry nothing personal. Admins (a session, or a token
with the `codec` scope) read the payloads through the codec server, as the Temporal UI and CLI
do; browsers only from the Temporal UI's origin, and for the app's namespace only.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
from argon2 import PasswordHasher
from google.protobuf.json_format import MessageToDict
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.api.common.v1 import Payload
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from models.config import User
from services.tokens import create_client
from tests.api.conftest import bearer
from tests.api.test_cases import BODY, wait_version
from tests.live import log_in

UI = "http://localhost:8233"


def unique_case() -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    return {
        **BODY,
        "customer": {
            "name": f"Solveig Pii{tag}",
            "email": f"solveig.{tag}@example.com",
            "phone": "+47 555 77 123",
        },
        "reason": f"Reason-{tag} breakfast",
        "verbatim": f"Verbatim-{tag}: the coffee machine leaked on my laptop.",
    }


def wire(payloads: list[Payload]) -> dict[str, Any]:
    return {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                "data": base64.b64encode(p.data).decode(),
            }
            for p in payloads
        ]
    }


def texts(body: dict[str, Any]) -> str:
    return " ".join(
        base64.b64decode(p["data"]).decode("utf-8", "replace") for p in body["payloads"]
    )


async def created_case(api: httpx.AsyncClient) -> tuple[str, dict[str, Any], str]:
    body = unique_case()
    r = await api.post("/api/v1/cases", json=body)
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    await wait_version(api, case_id, 1)
    note = f"Note-{uuid.uuid4().hex}: called Solveig back"
    r = await api.post(f"/api/v1/cases/{case_id}/notes", json={"acting_user": "ole", "text": note})
    assert r.status_code in (200, 202), r.text
    await wait_version(api, case_id, 2)
    return case_id, body, note


def pii_of(body: dict[str, Any], note: str) -> list[str]:
    c = body["customer"]
    return [c["name"], c["email"], c["name"].split()[-1], body["reason"], body["verbatim"], note]


async def test_temporal_holds_no_personal_data_in_clear(
    api: httpx.AsyncClient, ts_env: WorkflowEnvironment
) -> None:
    case_id, body, note = await created_case(api)
    handle = ts_env.client.get_workflow_handle(case_id)
    described = await handle.describe()
    info = described.raw_description.workflow_execution_info
    visible = {
        "workflow id": described.id,
        "search attributes": json.dumps(MessageToDict(info.search_attributes)),
        "search attributes (decoded)": repr(described.typed_search_attributes),
        "memo": repr(await described.memo()),
        "static summary": await described.static_summary() or "",
        "static details": await described.static_details() or "",
    }
    assert visible["static summary"], "the summary is there (and says nothing personal)"
    history = (await handle.fetch_history()).to_json()
    for secret in pii_of(body, note):
        for where, text in visible.items():
            assert secret not in text, f"{secret!r} in the {where}"
        assert secret not in history, f"{secret!r} in clear in the history"


async def history_payloads(env: WorkflowEnvironment, case_id: str) -> list[Payload]:
    history = await env.client.get_workflow_handle(case_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    return list(started.input.payloads)


async def test_a_codec_token_or_an_admin_reads_the_history_through_the_codec_server(
    api: httpx.AsyncClient, app: Any, ts_env: WorkflowEnvironment, engine: Engine
) -> None:
    case_id, body, _ = await created_case(api)
    request = wire(await history_payloads(ts_env, case_id))
    assert body["verbatim"] not in texts(request), "Temporal holds ciphertext"

    codec_token = create_client(engine, "temporal-ui", ["codec"]).token
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for headers in (bearer(codec_token), {**bearer(codec_token), "X-Namespace": "default"}):
            r = await http.post("/codec/decode", json=request, headers=headers)
            assert r.status_code == 200, r.text
            decoded = texts(r.json())
            assert body["verbatim"] in decoded and body["customer"]["name"] in decoded
            assert r.headers["cache-control"] == "no-store"

        # Encode, then decode: the same payloads back; what encode gives is ciphertext.
        plain = r.json()
        sealed = await http.post("/codec/encode", json=plain, headers=bearer(codec_token))
        assert sealed.status_code == 200
        assert body["verbatim"] not in texts(sealed.json())
        metadata = sealed.json()["payloads"][0]["metadata"]
        assert base64.b64decode(metadata["encoding"]) == b"binary/encrypted"
        assert base64.b64decode(metadata["encryption-key-id"]) == b"test-1"
        again = await http.post("/codec/decode", json=sealed.json(), headers=bearer(codec_token))
        assert again.json() == plain

        # Nobody else: no credentials, a token without the scope, another namespace.
        r = await http.post("/codec/decode", json=request)
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
        r = await http.post("/codec/decode", json=request, headers=bearer("clp_nonsense"))
        assert r.status_code == 401
        reader = create_client(engine, "reader2", ["cases:read"]).token
        r = await http.post("/codec/decode", json=request, headers=bearer(reader))
        assert r.status_code == 403 and r.json()["required_scope"] == "codec"
        r = await http.post(
            "/codec/decode",
            json=request,
            headers={**bearer(codec_token), "X-Namespace": "someone-else"},
        )
        assert r.status_code == 403 and r.json()["field"] == "X-Namespace"

        # Bad input: 4xx problems, not 500s.
        bad = {"payloads": [{"metadata": {"encoding": "!!"}, "data": "x"}]}
        r = await http.post("/codec/decode", json=bad, headers=bearer(codec_token))
        assert r.status_code == 400 and r.json()["field"] == "payloads.0"
        r = await http.post("/codec/decode", json={"nope": 1}, headers=bearer(codec_token))
        assert r.status_code == 422
        foreign = json.loads(json.dumps(request))
        foreign["payloads"][0]["metadata"]["encryption-key-id"] = base64.b64encode(b"gone").decode()
        r = await http.post("/codec/decode", json=foreign, headers=bearer(codec_token))
        assert r.status_code == 422 and "'gone'" in r.json()["detail"]

    # An admin's session (the Temporal UI with credentials included); a non-admin's is not enough.
    password = "codec-test-password"
    with Session(engine) as session:
        for user_id in ("root", "ole"):
            user = session.get(User, user_id)
            assert user is not None
            user.password_hash = PasswordHasher().hash(password)
            session.add(user)
        session.commit()
    for user_id, status in (("ole", 401), ("root", 200)):
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            await log_in(http, user_id, password)
            r = await http.post("/codec/decode", json=request, headers={"Origin": UI})
            assert r.status_code == status, r.text
            assert r.headers["access-control-allow-origin"] == UI
            assert r.headers["access-control-allow-credentials"] == "true"


async def test_browsers_from_the_temporal_ui_only(app: Any, settings: Settings) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
        }
        r = await http.options("/codec/decode", headers={"Origin": UI, **preflight})
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == UI
        assert r.headers["access-control-allow-credentials"] == "true"
        allowed = r.headers["access-control-allow-headers"].lower()
        assert {"content-type", "x-namespace", "authorization"} <= {
            h.strip() for h in allowed.split(",")
        }
        assert "POST" in r.headers["access-control-allow-methods"]

        evil = "http://evil.example"
        r = await http.options("/codec/decode", headers={"Origin": evil, **preflight})
        assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
        r = await http.post("/codec/decode", json={"payloads": []}, headers={"Origin": evil})
        assert r.status_code == 403 and r.json()["field"] == "Origin"
        # CORS headers stay on /codec/: the rest of the app allows no other origin.
        r = await http.get("/healthz", headers={"Origin": UI})
        assert "access-control-allow-origin" not in r.headers
