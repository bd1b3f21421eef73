"""Survey returns: the program's alert rules decide case, FYI or nothing."""

from __future__ import annotations

from fastapi import APIRouter, Response

from models.api import MatchedRulePublic, SurveyOutcomePublic, SurveyResponseIn
from services.case_queries import links
from services.intake import IntakeError
from services.surveys import SurveyResult, submit_survey
from services.tokens import sees
from web.api_auth import CasesWrite
from web.deps import EngineDep, SettingsDep, TemporalDep
from web.problems import Problem
from web.routes.api_v1.cases import PROBLEMS

router = APIRouter(prefix="/survey-responses", tags=["surveys"], responses=PROBLEMS)


def to_public(result: SurveyResult, settings: SettingsDep) -> SurveyOutcomePublic:
    return SurveyOutcomePublic(
        response_id=result.response_id,
        program_id=result.program_id,
        outcome=result.outcome,  # type: ignore[arg-type]
        case_id=result.case_id,
        fyi_id=result.fyi_id,
        matched_rules=[MatchedRulePublic(**m.__dict__) for m in result.matched],
        replayed=result.replayed,
        links=links(result.case_id, settings) if result.case_id else {},
    )


@router.post(
    "",
    status_code=201,
    response_model=SurveyOutcomePublic,
    responses={
        200: {
            "description": "This response id was processed before: the first answer",
            "model": SurveyOutcomePublic,
        }
    },
)
async def submit_survey_response(
    body: SurveyResponseIn,
    response: Response,
    client: CasesWrite,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> SurveyOutcomePublic:
    """Submit a survey return: `case` (with its id), `fyi` or `none`, and the rules that matched.

    The same (program, response id) again creates nothing and answers 200 with the first result.
    """
    if not sees(client, body.program_id, body.unit_id):
        raise Problem(
            403,
            "Outside the token's programs and units",
            f"This token may not submit returns for program {body.program_id!r}, "
            f"unit {body.unit_id!r}",
            field="unit_id",
        )
    try:
        result = await submit_survey(engine, temporal, settings, body)
    except IntakeError as exc:
        raise Problem(422, "Invalid request", str(exc), field=exc.field) from exc
    if result.replayed:
        response.status_code = 200
    if result.case_id:
        response.headers["Location"] = f"/api/v1/cases/{result.case_id}"
    return to_public(result, settings)
