"""A program's taxonomy: categories with sub-categories instead of free text, and root causes and
resolution methods required or optional at close — checked at intake, in configuration, on the
case page's rules and in the workflow."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import Engine
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from domain.case import Actor
from domain.program import ProgramIn
from domain.taxonomy import CategoryIn, CategoryRejected, file_under
from domain.vocabulary import ClosingStatus
from tests.api.conftest import bearer
from tests.api.test_cases import BODY
from tests.factories import case_row, running_worker, seed, start_case
from workflows.case import CaseWorkflow
from workflows.messages import CloseCase

CATEGORIES = [
    {"name": "Housekeeping", "subcategories": ["Room cleanliness", "Linen"]},
    {"name": "Billing", "subcategories": []},
]


def test_filed_under_the_programs_own_spelling() -> None:
    cats = [CategoryIn.model_validate(c) for c in CATEGORIES]
    assert file_under(cats, " housekeeping ", "LINEN") == ("Housekeeping", "Linen")
    assert file_under(cats, "Billing") == ("Billing", "")
    assert file_under([], "Anything at all ") == ("Anything at all", "")
    with pytest.raises(CategoryRejected) as unknown:
        file_under(cats, "Parking")
    assert unknown.value.field == "category" and "Housekeeping, Billing" in str(unknown.value)
    with pytest.raises(CategoryRejected) as sub:
        file_under(cats, "Billing", "Minibar")
    assert sub.value.field == "subcategory"
    with pytest.raises(CategoryRejected):
        file_under([], "Free text", "but a sub-category")


def _program(**change: Any) -> dict[str, Any]:
    return {"id": "p", "name": "P", "root_causes": ["staff"], **change}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"categories": [{"name": "A"}, {"name": "a"}]}, "categories.1.name"),
        ({"categories": [{"name": "A", "subcategories": ["x", "X"]}]}, "subcategories"),
        (
            {
                "categories": [{"name": "A"}],
                "questions": [{"id": "q", "text": "Score", "type": "score", "min": 0, "max": 10}],
                "alert_rules": [{"id": "low", "kind": "low_score", "question": "q", "at_most": 3}],
            },
            "alert_rules.0.category",
        ),
        (
            {
                "ownership_model": "blended",
                "categories": [{"name": "A"}],
                "routing_rules": [{"id": "r", "categories": ["B"], "route_to": "field"}],
            },
            "routing_rules.0.categories.0",
        ),
        ({"resolution_methods_required": True}, "resolution_methods"),
    ],
)
def test_a_taxonomy_that_contradicts_itself_is_refused(change: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as refused:
        ProgramIn.model_validate(_program(**change))
    assert where in str(refused.value)


@pytest.fixture
def admin(tokens: dict[str, str]) -> dict[str, str]:
    return bearer(tokens["admin"])


async def _use_categories(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    read = await api.get("/api/v1/config/programs/recovery", headers=admin)
    program = read.json()
    # The program's alert rules file cases under their own categories: those are in it too.
    program["categories"] = [*CATEGORIES, {"name": "Survey concern"}, {"name": "Low survey score"}]
    r = await api.put(
        "/api/v1/config/programs/recovery",
        json=program,
        headers={**admin, "If-Match": read.headers["etag"]},
    )
    assert r.status_code == 200, r.text
    again = (await api.get("/api/v1/config/programs/recovery", headers=admin)).json()
    assert again["categories"][:2] == CATEGORIES


async def test_intake_files_a_case_under_the_programs_categories(
    api: httpx.AsyncClient, admin: dict[str, str], engine: Engine
) -> None:
    await _use_categories(api, admin)
    r = await api.post(
        "/api/v1/cases",
        json={**BODY, "category": "HOUSEKEEPING", "subcategory": "linen", "external_ref": "t-1"},
    )
    assert r.status_code == 201, r.text
    case = r.json()
    assert (case["category"], case["subcategory"]) == ("Housekeeping", "Linen")
    row = case_row(engine, case["id"])
    assert (row.category, row.subcategory) == ("Housekeeping", "Linen")

    for change, field in (
        ({"category": "Parking"}, "category"),
        ({"category": "Billing", "subcategory": "Minibar"}, "subcategory"),
    ):
        r = await api.post("/api/v1/cases", json={**BODY, **change, "external_ref": "t-2"})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["field"] == field


async def test_what_closing_requires_follows_the_program(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    seed(engine, root_causes_required=False, resolution_methods_required=True)
    ole = Actor("ole")
    async with running_worker(ts_env.client, engine, settings):
        h = await start_case(ts_env, engine, settings, "T-taxonomy")
        without_method = CloseCase(ole, ClosingStatus.RESOLVED, [], "Refunded")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await h.execute_update(CaseWorkflow.close, without_method)
        assert "resolution method" in str(refused.value.cause)
        # No root cause is fine here; a resolution method is not optional.
        await h.execute_update(
            CaseWorkflow.close,
            CloseCase(ole, ClosingStatus.UNRESOLVED, [], "Unreachable", ["refund"]),
        )
        closed = (await h.query(CaseWorkflow.state)).view
        assert closed.root_causes == [] and closed.resolution_methods == ["refund"]
