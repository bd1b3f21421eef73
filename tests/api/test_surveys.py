"""Survey returns: each alert rule fires, FYIs make no workflow, replays make nothing new."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from models.case import Case, CaseIntake, Outbox
from models.intake import Fyi, SurveyResponse
from tests.api.test_cases import wait_version
from tests.live import eventually

SURVEY: dict[str, Any] = {
    "program_id": "recovery",
    "unit_id": "4723",
    "response_id": "R-1",
    "customer": {"name": "Kari Nordmann", "email": "kari@example.com"},
    "transaction": {"date": "2026-11-20", "type": "stay"},
    "answers": {},
    "comments": "",
}


def count(engine: Engine, table: Any) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def alerted(engine: Engine, case_id: str) -> bool:
    with Session(engine) as session:
        found = session.exec(
            select(Outbox.id).where(Outbox.case_id == case_id, Outbox.kind == "alert")
        ).first()
        return found is not None


async def submit(api: httpx.AsyncClient, **changes: Any) -> httpx.Response:
    return await api.post("/api/v1/survey-responses", json={**SURVEY, **changes})


async def test_concern_yes_opens_a_case_with_the_explanation(api: httpx.AsyncClient) -> None:
    r = await submit(
        api, answers={"concern": "yes", "concern_text": "The shower was broken", "ltr": 8}
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["outcome"] == "case" and out["case_id"].startswith("C-")
    assert [m["id"] for m in out["matched_rules"]] == ["concern-yes"]
    assert r.headers["location"] == f"/api/v1/cases/{out['case_id']}"
    case = await wait_version(api, out["case_id"], 1)
    assert case["reason"] == "The shower was broken"
    assert case["channel"] == "location_survey" and case["owner_id"] == "ole"
    routing = case["timeline"][0]["data"]["routing"]
    assert "survey response R-1" in routing and "concern-yes" in routing


async def test_low_score_on_a_key_question_names_question_and_score(
    api: httpx.AsyncClient,
) -> None:
    r = await submit(api, answers={"concern": False, "ltr": 3, "clean": 2})
    out = r.json()
    assert out["outcome"] == "case"
    assert [m["id"] for m in out["matched_rules"]] == ["ltr-low", "clean-low"]
    case = (await api.get(f"/api/v1/cases/{out['case_id']}")).json()
    assert "How likely are you to recommend us? (ltr): 3/10" in case["reason"]
    assert "Cleanliness of your room (clean): 2/5" in case["reason"]
    assert case["priority"] == "high"  # the highest of the matched rules


@pytest.mark.parametrize(
    ("answers", "comments", "rule", "fyi_type", "text"),
    [
        ({"ltr": 10}, "Lovely staff, thank you!", "praise", "compliment", "Lovely staff"),
        ({"suggestion": "Open the spa earlier"}, "", "idea", "suggestion", "spa earlier"),
    ],
)
async def test_fyi_is_stored_and_sent_to_the_team_without_a_case(
    api: httpx.AsyncClient,
    engine: Engine,
    answers: dict[str, Any],
    comments: str,
    rule: str,
    fyi_type: str,
    text: str,
) -> None:
    r = await submit(api, answers=answers, comments=comments)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["outcome"] == "fyi" and out["case_id"] is None and out["fyi_id"]
    assert [m["id"] for m in out["matched_rules"]] == [rule]
    assert count(engine, Case) == count(engine, CaseIntake) == 0  # no case, so no workflow
    with Session(engine) as session:
        fyi = session.exec(select(Fyi)).one()
        mail = session.exec(select(Outbox)).one()
    assert fyi.fyi_type == fyi_type and text in fyi.text and fyi.customer_name == "Kari Nordmann"
    assert mail.kind == "fyi" and mail.case_id == f"FYI-{fyi.id:06d}"
    assert mail.to_addrs == ["ole@example.com", "mia@example.com"]
    assert mail.cc_addrs == ["fred@example.com"]
    assert text in mail.body_text


async def test_nothing_matches_gives_none(api: httpx.AsyncClient, engine: Engine) -> None:
    # A good score, no concern, a comment but not a high enough score for a compliment.
    r = await submit(api, answers={"concern": "no", "ltr": 8}, comments="It was ok")
    assert r.status_code == 201
    assert r.json() | {"links": None} == {
        "response_id": "R-1",
        "program_id": "recovery",
        "outcome": "none",
        "case_id": None,
        "fyi_id": None,
        "matched_rules": [],
        "replayed": False,
        "links": None,
    }
    assert count(engine, Case) == count(engine, Fyi) == count(engine, Outbox) == 0
    assert count(engine, SurveyResponse) == 1


@pytest.mark.parametrize(
    "answers", [{"concern": True, "concern_text": "Cold room"}, {"ltr": 10}, {"ltr": 7}]
)
async def test_replayed_response_creates_nothing_new(
    api: httpx.AsyncClient, engine: Engine, answers: dict[str, Any]
) -> None:
    first = await submit(api, answers=answers, comments="Great")
    assert first.status_code == 201
    if case_id := first.json()["case_id"]:
        # The case's workflow writes its alert to the outbox after the answer: let it.
        await eventually(lambda: alerted(engine, case_id), 10, f"{case_id}'s alert")
    tables = (Case, CaseIntake, Fyi, Outbox, SurveyResponse)
    before = [count(engine, t) for t in tables]
    again = await asyncio.gather(
        *(submit(api, answers=answers, comments="Great") for _ in range(5))
    )
    assert {r.status_code for r in again} == {200}
    for r in again:
        assert r.json() == {**first.json(), "replayed": True}
    assert [count(engine, t) for t in tables] == before


async def test_racing_first_submissions_open_one_case(
    api: httpx.AsyncClient, engine: Engine
) -> None:
    answers = {"concern": "yes", "concern_text": "Noisy"}
    results = await asyncio.gather(*(submit(api, answers=answers) for _ in range(10)))
    assert {r.json()["case_id"] for r in results} != {None}
    assert len({r.json()["case_id"] for r in results}) == 1
    assert count(engine, Case) == count(engine, SurveyResponse) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"program_id": "nope"}, "program_id"),
        ({"unit_id": "nope"}, "unit_id"),
        ({"answers": {"weather": "sunny"}}, "answers.weather"),
        ({"answers": {"ltr": 11}}, "answers.ltr"),
        ({"answers": {"concern": "maybe"}}, "answers.concern"),
        ({"answers": {"concern_text": 5}}, "answers.concern_text"),
        ({"response_id": ""}, "response_id"),
    ],
)
async def test_bad_survey_input_is_a_422_naming_the_field(
    api: httpx.AsyncClient, engine: Engine, changes: dict[str, Any], field: str
) -> None:
    r = await submit(api, **changes)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == field
    assert count(engine, SurveyResponse) == 0
