"""The knowledge-base API: scopes, drafts, programs, personal tokens of writers and readers,
search, publish and unpublish (audited)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from domain.vocabulary import AuditAction
from models.audit import AuditEntry
from services.tokens import create_client
from tests.api.conftest import bearer

URL = "/api/v1/kb/articles"
ARTICLE = {"program_id": "recovery", "title": "Refunds", "body": "Refund one **night**."}


async def test_writers_create_publish_and_readers_search(app: Any, engine: Engine) -> None:
    writer = create_client(engine, "kb-w", ["kb:write", "kb:read"]).token
    reader = create_client(engine, "kb-r", ["kb:read"]).token
    other_program = create_client(engine, "kb-care", ["kb:read"], programs=["care"]).token
    agent = create_client(engine, "kb-ole", ["kb:read", "kb:write"], user_id="ole").token
    manager = create_client(engine, "kb-mia", ["kb:read", "kb:write"], user_id="mia").token
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.post(URL, json=ARTICLE, headers=bearer(writer))
        assert r.status_code == 201, r.text
        draft = r.json()
        assert draft["status"] == "draft" and draft["published_at"] is None
        # A draft is the writers': a reader finds nothing and may not read it.
        r = await c.get(URL, params={"q": "night"}, headers=bearer(reader))
        assert r.status_code == 200 and r.json() == []
        r = await c.get(f"{URL}/{draft['id']}", headers=bearer(reader))
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"
        # Readers may not write; nor may an agent's personal token, whatever its scopes.
        assert (await c.post(URL, json=ARTICLE, headers=bearer(reader))).status_code == 403
        assert (await c.post(URL, json=ARTICLE, headers=bearer(agent))).status_code == 403
        r = await c.post(URL, json=ARTICLE | {"title": "Late checkout"}, headers=bearer(manager))
        assert r.status_code == 201, r.text

        r = await c.patch(
            f"{URL}/{draft['id']}", json={"status": "published"}, headers=bearer(writer)
        )
        assert r.status_code == 200 and r.json()["published_at"] is not None
        r = await c.get(URL, params={"q": "night"}, headers=bearer(reader))
        assert [a["title"] for a in r.json()] == ["Refunds"]
        r = await c.get(f"{URL}/{draft['id']}", headers=bearer(reader))
        assert r.status_code == 200 and r.json()["body"] == ARTICLE["body"]
        r = await c.get(URL, params={"q": "night"}, headers=bearer(other_program))
        assert r.json() == []  # another program's token sees none of recovery's

        # Bad input: problem+json naming the field.
        for bad in (
            {**ARTICLE, "title": ""},
            {**ARTICLE, "status": "live"},
            {**ARTICLE, "program_id": "nope"},
            {**ARTICLE, "extra": 1},
        ):
            r = await c.post(URL, json=bad, headers=bearer(writer))
            assert r.status_code == 422, (bad, r.text)
            assert r.headers["content-type"] == "application/problem+json"
        r = await c.patch(f"{URL}/999999", json={"title": "x"}, headers=bearer(writer))
        assert r.status_code == 404
        r = await c.get(URL, headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401

        r = await c.patch(f"{URL}/{draft['id']}", json={"status": "draft"}, headers=bearer(writer))
        assert r.status_code == 200
    with Session(engine) as session:
        actions = session.exec(
            select(AuditEntry.action)
            .where(col(AuditEntry.object_kind) == "kb_article")
            .order_by(col(AuditEntry.id))
        ).all()
    assert actions == [AuditAction.PUBLISH, AuditAction.UNPUBLISH]
