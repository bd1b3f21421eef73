"""/api/v1/webhooks end to end: a case opened and closed through the API reaches the
client's receiver as signed `opened` and `closed` deliveries; the log, redelivery, scopes,
other clients, problem+json and the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from itertools import pairwise
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from standardwebhooks.webhooks import Webhook
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from models.audit import AuditEntry
from models.webhooks import WebhookDelivery
from services.tokens import create_client
from tests.api.conftest import bearer
from tests.api.test_cases import BODY
from tests.live import eventually
from tests.webhooks.conftest import Receiver, delivery_rows, dispatching, settled

CLOSE = {
    "acting_user": "ole",
    "closing_status": "resolved",
    "root_causes": ["staff"],
    "resolution_methods": ["apology"],
    "final_note": "Apologised",
}


@pytest.fixture
async def http(
    app: Any, ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the app, with the worker's webhook dispatcher running."""
    async with dispatching(ts_env.client, engine, settings):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def test_a_case_opened_and_closed_through_the_api_is_delivered(
    http: httpx.AsyncClient,
    engine: Engine,
    tokens: dict[str, str],
    receiver: Receiver,
) -> None:
    crm = bearer(create_client(engine, "crm", ["webhooks:manage"]).token)
    events = ["opened", "closed", "status_changed"]
    r = await http.post(
        "/api/v1/webhooks", json={"url": receiver.url, "events": events}, headers=crm
    )
    assert r.status_code == 201, r.text
    sub = r.json()
    secret = sub["secret"]
    assert secret.startswith("whsec_") and sub["events"] == events
    # The secret is never shown again.
    r = await http.get(f"/api/v1/webhooks/{sub['id']}", headers=crm)
    assert r.status_code == 200 and "secret" not in r.json()
    assert [s["id"] for s in (await http.get("/api/v1/webhooks", headers=crm)).json()] == [
        sub["id"]
    ]

    rw = bearer(tokens["rw"])
    r = await http.post("/api/v1/cases", json=BODY, headers=rw)
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    [opened] = await settled(engine, "opened")
    r = await http.post(f"/api/v1/cases/{case_id}/close", json=CLOSE, headers=rw)
    assert r.status_code in (200, 202), r.text
    [closed] = await settled(engine, "closed")

    # new -> (in progress ->) closed: each move once, in order.
    def status_moves() -> list[WebhookDelivery] | None:
        rows = delivery_rows(engine, "status_changed")
        done = all(d.status != "pending" for d in rows)
        closing = any(d.payload["data"]["status"] == "closed" for d in rows)
        return rows if done and closing else None

    moved = await eventually(status_moves, what="the status change to closed")
    assert {opened.status, closed.status, *(m.status for m in moved)} == {"delivered"}
    chain = [(m.payload["data"]["previous_status"], m.payload["data"]["status"]) for m in moved]
    assert chain[0][0] == "new" and chain[-1][1] == "closed"
    assert all(a[1] == b[0] for a, b in pairwise(chain)), chain
    for event in ("opened", "closed"):
        [hit] = receiver.of(event)
        payload = Webhook(secret).verify(hit.body, hit.headers)
        assert payload["type"] == f"case.{event}" and payload["data"]["case_id"] == case_id
        assert b"Kari" not in hit.body and b"smoke" not in hit.body  # no personal data
    assert {d.event for d in delivery_rows(engine)} == set(events)

    # The delivery log, and a redelivery: the same webhook-id once more.
    log = (await http.get(f"/api/v1/webhooks/{sub['id']}/deliveries", headers=crm)).json()
    assert [d["id"] for d in log] == sorted((d["id"] for d in log), reverse=True)
    assert log[-1]["event"] == "opened" and len(log) == 2 + len(moved)
    assert log[-1]["status"] == "delivered" and log[-1]["http_status"] == 200
    r = await http.post(
        f"/api/v1/webhooks/{sub['id']}/deliveries/{log[-1]['id']}/redeliver", headers=crm
    )
    assert r.status_code == 202, r.text
    assert r.json()["message_id"] == log[-1]["message_id"]
    await eventually(lambda: len(receiver.of("opened")) == 2, what="the redelivery")
    first, again = receiver.of("opened")
    assert first.headers["webhook-id"] == again.headers["webhook-id"]
    Webhook(secret).verify(again.body, again.headers)

    # Changes: the events, and the audit log has every change (never the secret).
    r = await http.patch(f"/api/v1/webhooks/{sub['id']}", json={"events": ["erased"]}, headers=crm)
    assert r.status_code == 200 and r.json()["events"] == ["erased"]
    r = await http.post(
        f"/api/v1/webhooks/{sub['id']}/rotate", json={"overlap_seconds": 60}, headers=crm
    )
    assert r.status_code == 200 and r.json()["secret"] != secret
    assert r.json()["previous_secret_valid_until"]
    with Session(engine) as s:
        entries = s.exec(select(AuditEntry).where(col(AuditEntry.object_kind) == "webhook")).all()
    assert [e.action for e in entries] == ["create", "redeliver", "update", "rotate"]
    assert not any("whsec_" in str(e.diff) + str(e.snapshot) for e in entries)


async def test_scopes_owners_and_bad_input(
    http: httpx.AsyncClient, engine: Engine, tokens: dict[str, str], receiver: Receiver
) -> None:
    crm = bearer(create_client(engine, "crm", ["webhooks:manage"]).token)
    other = bearer(create_client(engine, "other", ["webhooks:manage"]).token)
    r = await http.post(
        "/api/v1/webhooks", json={"url": receiver.url, "events": ["opened"]}, headers=crm
    )
    sub_id = r.json()["id"]
    # Another client does not see it; a token without the scope may not ask.
    assert (await http.get(f"/api/v1/webhooks/{sub_id}", headers=other)).status_code == 404
    assert (await http.get("/api/v1/webhooks", headers=other)).json() == []
    r = await http.get("/api/v1/webhooks", headers=bearer(tokens["rw"]))
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    # An admin token sees every subscription.
    r = await http.get(f"/api/v1/webhooks/{sub_id}", headers=bearer(tokens["admin"]))
    assert r.status_code == 200
    # A personal token has no endpoint of its own.
    personal = bearer(create_client(engine, "ole's", ["webhooks:manage"], user_id="ole").token)
    r = await http.post(
        "/api/v1/webhooks", json={"url": receiver.url, "events": ["opened"]}, headers=personal
    )
    assert r.status_code == 403
    for body, field in (
        ({"url": receiver.url, "events": ["nonsense"]}, "events"),
        ({"url": receiver.url, "events": []}, "events"),
        ({"url": "ftp://example.com/x", "events": ["opened"]}, "url"),
        ({"url": "https://user:pw@example.com/x", "events": ["opened"]}, "url"),
    ):
        r = await http.post("/api/v1/webhooks", json=body, headers=crm)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert field in r.text
    r = await http.post(f"/api/v1/webhooks/{sub_id}/deliveries/999/redeliver", headers=crm)
    assert r.status_code == 404
    # A rotation without a body keeps the old secret a day; with 0, not at all.
    r = await http.post(f"/api/v1/webhooks/{sub_id}/rotate", headers=crm)
    assert r.status_code == 200 and r.json()["previous_secret_valid_until"]
    r = await http.post(
        f"/api/v1/webhooks/{sub_id}/rotate", json={"overlap_seconds": 0}, headers=crm
    )
    assert r.status_code == 200 and r.json()["previous_secret_valid_until"] is None
    r = await http.post(
        f"/api/v1/webhooks/{sub_id}/rotate", json={"overlap_seconds": "60"}, headers=crm
    )
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
