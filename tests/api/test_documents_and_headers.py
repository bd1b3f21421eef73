"""API answers are never cached or sniffed; document metadata sent to the API is cleaned."""

from __future__ import annotations

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.settings import Settings
from models.case import Document
from tests.api.test_cases import BODY, wait_version


async def test_api_answers_are_no_store_and_nosniff(api: httpx.AsyncClient) -> None:
    created = await api.post("/api/v1/cases", json=BODY)
    answers = [
        created,
        await api.get("/api/v1/cases"),
        await api.get(f"/api/v1/cases/{created.json()['id']}"),
        await api.get("/api/v1/cases/C-999999"),  # a problem too
        await api.get("/api/v1/cases", headers={"Authorization": "Bearer nope"}),
    ]
    for r in answers:
        assert r.headers.get("cache-control") == "no-store", (r.url, r.headers)
        assert r.headers.get("x-content-type-options") == "nosniff", r.url


async def test_document_metadata_is_cleaned_and_its_type_allow_listed(
    api: httpx.AsyncClient, engine: Engine
) -> None:
    case_id = (await api.post("/api/v1/cases", json=BODY)).json()["id"]
    url = f"/api/v1/cases/{case_id}/documents"
    doc = {"acting_user": "ole", "size": 10}

    for content_type in ("text/html", "image/svg+xml", "application/x-msdownload"):
        r = await api.post(url, json={**doc, "filename": "a.txt", "content_type": content_type})
        assert r.status_code == 422, (content_type, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["field"] == "content_type"
    r = await api.post(url, json={**doc, "filename": "invoice.exe", "content_type": "text/plain"})
    assert r.status_code == 422 and r.json()["field"] == "filename"

    long_name = "a\\b/" + "x" * 247 + ".txt"  # 255 characters; 251 once cleaned
    r = await api.post(url, json={**doc, "filename": long_name, "content_type": "text/plain"})
    assert r.status_code == 200, r.text
    r = await api.post(
        url,
        json={
            **doc,
            "filename": "../../etc/\u202erecei\x07pt.pdf",
            "content_type": "Application/PDF",
        },
    )
    assert r.status_code == 200, r.text
    await wait_version(api, case_id, 3)
    with Session(engine) as session:
        stored = session.exec(select(Document).where(col(Document.case_id) == case_id)).all()
    names = {(d.filename, d.content_type) for d in stored}
    assert ("receipt.pdf", "application/pdf") in names, names
    assert ("x" * 247 + ".txt", "text/plain") in names
    for d in stored:
        assert "/" not in d.filename and "\\" not in d.filename and len(d.filename) <= 255
        assert all(c.isprintable() for c in d.filename), d.filename


async def test_a_case_past_its_document_quota_is_a_413_problem(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    settings.upload_case_quota_bytes = 1000  # the app's own settings object
    case_id = (await api.post("/api/v1/cases", json=BODY)).json()["id"]
    url = f"/api/v1/cases/{case_id}/documents"
    doc = {"acting_user": "ole", "filename": "scan.pdf", "content_type": "application/pdf"}
    r = await api.post(url, json={**doc, "size": 600}, headers={"Idempotency-Key": "scan-1"})
    assert r.status_code == 200, r.text
    # The same request again (a retry) is not counted twice.
    r = await api.post(url, json={**doc, "size": 600}, headers={"Idempotency-Key": "scan-1"})
    assert r.status_code == 200, r.text
    r = await api.post(url, json={**doc, "size": 401})
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["field"] == "size" and problem["limit"] == 1000
    assert "400 bytes is left" in problem["detail"]
    r = await api.post(url, json={**doc, "size": 400})
    assert r.status_code == 200, r.text
