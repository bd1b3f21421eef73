"""Reports for BI tools: the dashboard's figures as JSON (scope `reports:read`)."""

from __future__ import annotations

from fastapi import APIRouter

from models.reports import ReportSummary
from services.reports import EVERYTHING, ReportFilters, summary
from web.api_auth import AUTH_PROBLEMS, ReportsRead
from web.deps import EngineDep
from web.problems import PROBLEM_JSON
from web.report_deps import ApiFilters, query_parameters

router = APIRouter(
    prefix="/reports",
    tags=["reports"],
    responses={
        **AUTH_PROBLEMS,
        422: {"description": "Invalid filter", "content": {PROBLEM_JSON: {}}},
    },
)


@router.get(
    "/summary",
    response_model=ReportSummary,
    response_model_by_alias=True,
    openapi_extra={"parameters": query_parameters(ReportFilters)},
)
def report_summary(_client: ReportsRead, engine: EngineDep, filters: ApiFilters) -> ReportSummary:
    """The customer resolution dashboard's figures for cases created from `from` to `to`.

    `from` and `to` are local dates (inclusive) in `tz` (IANA name, default UTC); without them
    the last 30 days. `cause` may repeat: cases citing every one of them. Every unit is counted
    (an API client is not a person with units). The dashboard takes the same parameters and
    gives the same messages. Definitions: see the `services.reports` package; `null` means there
    was nothing to compute a figure from.
    """
    return summary(engine, filters, EVERYTHING)
