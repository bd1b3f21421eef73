"""Idempotency-Key on intake (IETF httpapi draft): replay, reuse with another body, per client.

Also the fuzz-found 500 (an empty key matched nothing, then broke the unique constraint) and
intake while Temporal is down: 503 with Retry-After, the case kept for the retry to finish.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from temporalio.client import Client

from core.settings import Settings
from core.temporal import PLAIN_DATA_CONVERTER
from models.case import Case, CaseIntake
from models.intake import SurveyResponse
from tests.api.conftest import bearer
from tests.api.test_cases import BODY, wait_version
from tests.api.test_surveys import SURVEY


def count(engine: Engine, table: Any) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def test_same_key_and_body_replays_the_first_answer(api: httpx.AsyncClient) -> None:
    first = await api.post("/api/v1/cases", json=BODY, headers=key("k-1"))
    assert first.status_code == 201, first.text
    await wait_version(api, first.json()["id"], 1)  # the case moves on meanwhile
    # The same body, formatted differently (key order), is the same request.
    again = await api.post("/api/v1/cases", json=dict(reversed(BODY.items())), headers=key("k-1"))
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    # The draft's structured-field form of the same key is the same key.
    quoted = await api.post("/api/v1/cases", json=BODY, headers=key('"k-1"'))
    assert quoted.status_code == 201 and quoted.json() == first.json()
    assert len((await api.get("/api/v1/cases")).json()["items"]) == 1


async def test_same_key_with_another_body_is_refused(
    api: httpx.AsyncClient, engine: Engine
) -> None:
    first = await api.post("/api/v1/cases", json=BODY, headers=key("k-2"))
    assert first.status_code == 201
    other = await api.post(
        "/api/v1/cases", json={**BODY, "verbatim": "Something else"}, headers=key("k-2")
    )
    assert other.status_code == 422, other.text
    assert other.headers["content-type"].startswith("application/problem+json")
    assert other.json()["field"] == "Idempotency-Key"
    assert count(engine, CaseIntake) == 1 and count(engine, Case) == 1


async def test_keys_are_scoped_per_api_client(
    api: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    mine = await api.post("/api/v1/cases", json=BODY, headers=key("shared"))
    theirs = await api.post(
        "/api/v1/cases",
        json={**BODY, "verbatim": "Another guest, another story"},
        headers={**key("shared"), **bearer(tokens["writer"])},
    )
    assert (mine.status_code, theirs.status_code) == (201, 201), theirs.text
    assert mine.json()["id"] != theirs.json()["id"]
    assert theirs.json()["verbatim"] == "Another guest, another story"


async def test_an_empty_key_is_a_422_not_a_500(api: httpx.AsyncClient, engine: Engine) -> None:
    """Fuzz-found: '' was stored, never looked up (falsy), and the second one hit UNIQUE."""
    answers = [
        await api.post("/api/v1/cases", json=BODY, headers=key(value))
        for value in ("", "", '""', "  ")
    ]
    assert [r.status_code for r in answers] == [422] * 4, answers[-1].text
    assert {r.json()["field"] for r in answers} == {"Idempotency-Key"}
    assert count(engine, CaseIntake) == 0


async def test_external_ref_still_returns_the_existing_case(api: httpx.AsyncClient) -> None:
    body = {**BODY, "external_ref": "CC-7"}
    first = await api.post("/api/v1/cases", json=body, headers=key("k-3"))
    # Another key (or none) with the same (channel, external_ref): the existing case, 200.
    for headers in (key("k-4"), {}):
        again = await api.post("/api/v1/cases", json=body, headers=headers)
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]


async def test_temporal_down_answers_503_and_keeps_the_case_for_the_retry(
    api: httpx.AsyncClient, engine: Engine, settings: Settings, tokens: dict[str, str]
) -> None:
    from api import create_app

    down = await Client.connect("127.0.0.1:1", lazy=True, data_converter=PLAIN_DATA_CONVERTER)
    outage = create_app(settings, temporal=down, engine=engine)
    transport = httpx.ASGITransport(app=outage)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=bearer(tokens["rw"])
    ) as during:
        r = await during.post("/api/v1/cases", json=BODY, headers=key("outage-1"))
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert int(r.headers["retry-after"]) > 0
        s = await during.post("/api/v1/survey-responses", json={**SURVEY, "answers": {"ltr": 2}})
        assert s.status_code == 503, s.text
    # Nothing lost, nothing acknowledged: the rows wait, without a workflow.
    with Session(engine) as session:
        pending = session.exec(select(CaseIntake).order_by(CaseIntake.id)).all()  # type: ignore[arg-type]
        assert [p.workflow_started_at for p in pending] == [None, None]
        assert session.exec(select(SurveyResponse)).one().case_id is None
    # Temporal is back: the retries finish the same cases, with running workflows.
    again = await api.post("/api/v1/cases", json=BODY, headers=key("outage-1"))
    assert again.status_code == 201, again.text
    assert again.json()["id"] == pending[0].case_id
    await wait_version(api, pending[0].case_id, 1)
    survey = await api.post("/api/v1/survey-responses", json={**SURVEY, "answers": {"ltr": 2}})
    assert survey.status_code == 200 and survey.json()["case_id"] == pending[1].case_id
    await wait_version(api, pending[1].case_id, 1)
    with Session(engine) as session:
        assert all(p.workflow_started_at for p in session.exec(select(CaseIntake)))
    assert count(engine, Case) == 2


async def test_case_action_keys_are_per_client_and_refuse_another_body(
    api: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    case_id = (await api.post("/api/v1/cases", json=BODY)).json()["id"]
    await wait_version(api, case_id, 1)
    url = f"/api/v1/cases/{case_id}/notes"
    note = {"acting_user": "ole", "text": "Called the guest"}
    first = await api.post(url, json=note, headers=key("n-1"))
    again = await api.post(url, json=note, headers=key("n-1"))
    assert (first.status_code, again.status_code) == (200, 200), again.text
    other = await api.post(url, json={**note, "text": "Something else"}, headers=key("n-1"))
    assert other.status_code == 422, other.text
    assert other.json()["field"] == "Idempotency-Key"
    # Another client's "n-1" is its own request.
    theirs = await api.post(url, json=note, headers={**key("n-1"), **bearer(tokens["writer"])})
    assert theirs.status_code == 200, theirs.text
    timeline = (await api.get(f"/api/v1/cases/{case_id}")).json()["timeline"]
    assert [e["kind"] for e in timeline].count("note") == 2
